"""aiplat: Pulumi component resources for a production GPU inference platform.

Other Pulumi programs import these::

    from aiplat import AiPlatform, PlatformConfig

    config = PlatformConfig.from_raw(pulumi.Config("aiplat").require_object("platform"))
    platform = AiPlatform(pulumi.get_stack(), config)

``AiPlatform`` composes the components for one stack from a validated ``PlatformConfig``;
each component (``Network``, ``Cluster``, ``ClusterAddons``, ``GpuPool``, ``TritonEndpoint``, ``VectorStore``,
``ApiGateway``, ``Monitoring``, ...) can also be used on its own with its typed ``*Args``.
The public names are imported on first use (PEP 562), so ``import aiplat.cli`` or
``aiplat.catalog`` does not load every cloud SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it (one home each).
_EXPORTS = {
    "AiPlatform": "aiplat.platform",
    "Region": "aiplat.platform",
    "PlatformConfig": "aiplat.config",
    "ConfigError": "aiplat.errors",
    "UsageError": "aiplat.errors",
    "Problem": "aiplat.errors",
    "Network": "aiplat.network",
    "NetworkArgs": "aiplat.network",
    "Cluster": "aiplat.cluster",
    "ClusterArgs": "aiplat.cluster",
    "ClusterAddons": "aiplat.addons",
    "ClusterAddonsArgs": "aiplat.addons",
    "Installers": "aiplat.addons",
    "GpuPool": "aiplat.gpu_pool",
    "GpuPoolArgs": "aiplat.gpu_pool",
    "GpuAddons": "aiplat.gpu_pool",
    "GpuAddonsArgs": "aiplat.gpu_pool",
    "TritonEndpoint": "aiplat.triton",
    "TritonEndpointArgs": "aiplat.triton",
    "TritonModel": "aiplat.triton",
    "VectorStore": "aiplat.vector_store",
    "VectorStoreArgs": "aiplat.vector_store",
    "ApiGateway": "aiplat.gateway",
    "ApiGatewayArgs": "aiplat.gateway",
    "GlobalRouting": "aiplat.gateway",
    "GlobalRoutingArgs": "aiplat.gateway",
    "Monitoring": "aiplat.monitoring",
    "MonitoringArgs": "aiplat.monitoring",
    "StackMonitoring": "aiplat.monitoring",
    "StackMonitoringArgs": "aiplat.monitoring",
    "ProjectApis": "aiplat.project_apis",
    "ProjectApisArgs": "aiplat.project_apis",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aiplat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from aiplat.addons import ClusterAddons, ClusterAddonsArgs, Installers
    from aiplat.cluster import Cluster, ClusterArgs
    from aiplat.config import PlatformConfig
    from aiplat.errors import ConfigError, Problem, UsageError
    from aiplat.gateway import ApiGateway, ApiGatewayArgs, GlobalRouting, GlobalRoutingArgs
    from aiplat.gpu_pool import GpuAddons, GpuAddonsArgs, GpuPool, GpuPoolArgs
    from aiplat.monitoring import Monitoring, MonitoringArgs, StackMonitoring, StackMonitoringArgs
    from aiplat.network import Network, NetworkArgs
    from aiplat.platform import AiPlatform, Region
    from aiplat.triton import TritonEndpoint, TritonEndpointArgs, TritonModel
    from aiplat.vector_store import VectorStore, VectorStoreArgs
