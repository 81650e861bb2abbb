"""The aiplat Pulumi program: stack config -> PlatformConfig -> AiPlatform -> outputs."""

import pulumi

from aiplat import AiPlatform, PlatformConfig
from aiplat.errors import AiplatError

try:
    config = PlatformConfig.from_raw(pulumi.Config("aiplat").require_object("platform"))
    platform = AiPlatform(pulumi.get_stack(), config)
except AiplatError as exc:
    # Under `pulumi preview/up` a RunError is reported as its message alone (no traceback):
    # every problem with its key path, as `aiplat check` prints them.
    raise pulumi.RunError(str(exc)) from exc

pulumi.export("cloud", config.cloud)
pulumi.export("regions", {name: region.outputs for name, region in platform.regions.items()})
