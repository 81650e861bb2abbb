"""Offline graph tests for any Pulumi program that uses aiplat, no CLI and no cloud needed.

The recording engine runs a real Pulumi program in-process under the SDK's mocks and keeps
every registration as the engine would see it (type, name, parent, provider, protect,
dependencies, camelCase inputs, secrets and unknowns), with deterministic cloud answers.
``aiplat check`` uses it; use it in your own tests::

    from aiplat.testing import run_program, run_stack

    rec = run_stack("dev", {"aiplat:platform": {...}}, "path/to/__main__.py", project="myproj")
    [cluster] = rec.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["version"] == "1.32"
    doc = rec.preview_json()        # the shape of `pulumi preview --json`

    rec = run_program(lambda: MyComponent("x", MyArgs(...)), "test", config={})

Mock state is process-global; each run resets it before and after, so runs do not leak.
"""

from aiplat.testing.engine import Recording, RecordingMonitor, Registration, run_program, run_stack

__all__ = ["Recording", "RecordingMonitor", "Registration", "run_program", "run_stack"]
