"""The aiplat Pulumi program: stack config -> PlatformConfig -> AiPlatform -> outputs."""

import pulumi

from aiplat import AiPlatform, PlatformConfig

config = PlatformConfig.from_raw(pulumi.Config("aiplat").require_object("platform"))
platform = AiPlatform(pulumi.get_stack(), config)

pulumi.export("cloud", config.cloud)
pulumi.export("regions", {name: region.outputs for name, region in platform.regions.items()})
