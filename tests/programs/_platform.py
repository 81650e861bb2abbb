"""What every hostile program starts from: the project's platform for the stack, built exactly as
the project's main builds it (``PlatformConfig`` from ``aiplat:platform``, then ``AiPlatform``).

A program in this directory adds raw resources next to it, the way a team's own Pulumi program
that imports ``aiplat`` would, and is run by ``tests/test_policies_raw_programs.py`` through
``aiplat check STACK --program FILE`` (the recording engine, then the pack in the SDK's analyzer).
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from aiplat import AiPlatform, PlatformConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def platform() -> AiPlatform:
    raw = pulumi.Config("aiplat").require_object("platform")
    # The stack's relative paths are the project main's (its directory is the project root); a
    # program in tests/programs/ runs from there, so it reads them as absolute paths.
    serving = raw.get("serving") or {}
    if serving.get("model_repository") and not Path(serving["model_repository"]).is_absolute():
        serving["model_repository"] = str(PROJECT_ROOT / serving["model_repository"])
    config = PlatformConfig.from_raw(raw)
    return AiPlatform(pulumi.get_stack(), config)
