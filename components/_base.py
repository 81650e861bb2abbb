"""What every aiplat component shares: child options and the one tags input.

Subclasses keep their typed args in ``self._in``; ``_in.tags`` is the stack's single tag
set and ``_in.kube_provider`` the cluster's Kubernetes provider (for in-cluster children).
"""

from __future__ import annotations

import pulumi


class AiplatComponent(pulumi.ComponentResource):
    def _opts(self, **kw) -> pulumi.ResourceOptions:
        """Options of a cloud child: owned by this component (providers inherited)."""
        return pulumi.ResourceOptions(parent=self, **kw)

    def _k8s(self, **kw) -> pulumi.ResourceOptions:
        """Options of an in-cluster child: owned by this component, on the cluster's provider."""
        return pulumi.ResourceOptions(parent=self, provider=self._in.kube_provider, **kw)

    def _tags(self, role: str, **specific: str) -> dict[str, str]:
        """``Name`` from the component name, resource-specific tags, then the stack's tags."""
        return {"Name": f"{self._name}-{role}", **specific, **self._in.tags}
