"""aiplat.config: the typed contract of a stack (pydantic v2), one module per section.

``PlatformConfig.from_raw(raw)`` validates the ``aiplat:platform`` value of a stack file
and raises one ``ConfigError`` naming every offending key path. The sections:

- ``tags`` (``Tags``), ``regions`` (``RegionConfig`` with its ``GpuPoolConfig``s),
  ``network``, ``cluster``, ``deployer`` (how ``up`` reaches each cluster API), ``serving`` (Triton endpoints and their models), ``gateway``,
  ``monitoring`` (SLOs, channels, budgets), ``vector_store`` (Milvus and its collections),
  ``deploy`` (what the clusters have before the first up);
- ``platform`` composes them (``PlatformConfig``) and judges what reads several sections.

The package imports no component and no cloud SDK (tests/test_config_layout.py), so
tools and policies can read a stack's contract without loading Pulumi providers.
"""

from __future__ import annotations

from aiplat.config._base import CLOUD_NAMES, DNS_LABEL, LABEL_VALUE, LOG_RETENTION_DAYS, DnsLabel
from aiplat.config.cluster import ClusterConfig, SystemNodesConfig
from aiplat.config.deploy import DeployConfig, PrerequisitesConfig
from aiplat.config.deployer import DeployerConfig, DeployerNetworkConfig
from aiplat.config.gateway import (
    ACM_ARN,
    HEALTH_PATH,
    HOSTNAME,
    HTTP_METHODS,
    ROUTE_PATH,
    GatewayAuthConfig,
    GatewayConfig,
    GatewayRouteConfig,
    ThrottleConfig,
)
from aiplat.config.monitoring import (
    SEVERITIES,
    ChannelsConfig,
    EmailChannel,
    MonitoringConfig,
    PagerDutyChannel,
    Severity,
    SlackChannel,
    SloConfig,
    SmtpConfig,
    duration_seconds,
)
from aiplat.config.network import NetworkConfig
from aiplat.config.platform import Cloud, DataClassification, Environment, PlatformConfig, ResidencyZone
from aiplat.config.regions import GpuPoolConfig, RegionConfig
from aiplat.config.serving import (
    MODEL_DIGEST,
    MODEL_NAME,
    CanaryConfig,
    EndpointConfig,
    ServedModelConfig,
    ServingConfig,
)
from aiplat.config.tags import Tags
from aiplat.config.vector_store import (
    INDEX_PARAMS,
    MAX_ARRAY_CAPACITY,
    MAX_DIMENSION,
    MAX_FIELDS,
    MAX_NAME_LENGTH,
    MAX_VARCHAR_LENGTH,
    MILVUS_LITE_INDEX_TYPES,
    MILVUS_NAME,
    CollectionSpec,
    ElementType,
    IndexSpec,
    IndexType,
    Metric,
    PrimaryKey,
    ScalarField,
    ScalarType,
    VectorStoreConfig,
)
from aiplat.errors import ConfigError, Problem
from aiplat.refs import PROMETHEUS_URL, TRITON_IMAGE, TRITON_IMAGE_RE

__all__ = [
    # the contract
    "PlatformConfig",
    "Tags",
    "DeployConfig",
    "PrerequisitesConfig",
    "RegionConfig",
    "GpuPoolConfig",
    "NetworkConfig",
    "ClusterConfig",
    "SystemNodesConfig",
    "DeployerConfig",
    "DeployerNetworkConfig",
    "ServingConfig",
    "EndpointConfig",
    "ServedModelConfig",
    "CanaryConfig",
    "GatewayConfig",
    "GatewayRouteConfig",
    "GatewayAuthConfig",
    "ThrottleConfig",
    "MonitoringConfig",
    "SloConfig",
    "ChannelsConfig",
    "EmailChannel",
    "SlackChannel",
    "PagerDutyChannel",
    "SmtpConfig",
    "VectorStoreConfig",
    "CollectionSpec",
    "IndexSpec",
    "PrimaryKey",
    "ScalarField",
    # value types
    "Cloud",
    "Environment",
    "DataClassification",
    "ResidencyZone",
    "DnsLabel",
    "Severity",
    "Metric",
    "ScalarType",
    "ElementType",
    "IndexType",
    # constants and patterns
    "CLOUD_NAMES",
    "DNS_LABEL",
    "LABEL_VALUE",
    "LOG_RETENTION_DAYS",
    "HTTP_METHODS",
    "HEALTH_PATH",
    "ROUTE_PATH",
    "HOSTNAME",
    "ACM_ARN",
    "TRITON_IMAGE",
    "TRITON_IMAGE_RE",
    "MODEL_DIGEST",
    "PROMETHEUS_URL",
    "MODEL_NAME",
    "SEVERITIES",
    "MILVUS_NAME",
    "MAX_NAME_LENGTH",
    "MAX_DIMENSION",
    "MAX_FIELDS",
    "MAX_VARCHAR_LENGTH",
    "MAX_ARRAY_CAPACITY",
    "INDEX_PARAMS",
    "MILVUS_LITE_INDEX_TYPES",
    # helpers and errors
    "duration_seconds",
    "ConfigError",
    "Problem",
]
