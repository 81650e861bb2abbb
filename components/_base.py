"""What every aiplat component shares: child options, the one tags input, pinned Helm releases.

Subclasses keep their typed args in ``self._in``; ``_in.tags`` is the stack's single tag
set and ``_in.kube_provider`` the cluster's Kubernetes provider (for in-cluster children).
"""

from __future__ import annotations

from typing import Any

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

    def _pinned_release(self, key: str, chart: dict[str, str], namespace: str, values: Any,
                        create_namespace: bool = False, release_name: str | None = None,
                        timeout: int | None = None, **opts) -> pulumi.CustomResource:
        """The pinned ``chart`` (repo, chart, version) as child ``<name>-<key>``, release
        ``release_name`` (default ``key``); ``timeout`` in seconds (default Helm's 300).

        Atomic: a failed install or upgrade rolls back instead of leaving half a release.
        """
        import pulumi_kubernetes as k8s

        return k8s.helm.v3.Release(
            f"{self._name}-{key}",
            name=release_name or key,
            chart=chart["chart"],
            version=chart["version"],
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart["repo"]),
            namespace=namespace,
            # only when asked: an explicit false would be a new input on existing releases
            create_namespace=create_namespace or None,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            max_history=5,
            timeout=timeout,
            opts=self._k8s(**opts),
        )
