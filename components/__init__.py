"""aiplat components: Pulumi component resources for a production GPU inference platform.

Other Pulumi programs import these; ``AiPlatform`` composes them for one stack from a
validated ``PlatformConfig``.
"""
