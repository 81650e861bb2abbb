"""VectorStore: Milvus in one region, next to the documents it indexes (type ``aiplat:vector_store:VectorStore``).

The stack's ``vector_store`` section (``aiplat.config.VectorStoreConfig``: mode, regions,
storage, collections) says where Milvus runs; ``args_from_config`` resolves it into
``VectorStoreArgs`` for one region. The collections themselves are applied to the running
Milvus by ``aiplat vectors apply`` (``aiplat.tools.vectors``), never by this component.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pulumi

from aiplat.identity import irsa_trust_policy
from aiplat._base import AiplatComponent
from aiplat.kms import gcp_cmek
from aiplat.access_logs import gcs_logging, s3_logging
from aiplat.errors import ConfigError, Problem
from aiplat.refs import (
    CAPACITY_NODE_LABEL,
    MILVUS_PODS,
    MILVUS_POOL,
    MILVUS_TAINT_KEY,
    MILVUS_TAINT_VALUE,
    MILVUS_TOLERATION,
    POOL_NODE_LABEL,
)

if TYPE_CHECKING:
    from aiplat.addons import EbsVolumes, Installers

# zilliztech/milvus-helm chart 4.2.45 = Milvus 2.5.9. Pinned: a chart upgrade changes the
# Milvus version and its on-disk format, which must be a reviewed change, never a rebuild.
MILVUS_CHART = "milvus"
MILVUS_CHART_VERSION = "4.2.45"
MILVUS_CHART_REPO = "https://zilliztech.github.io/milvus-helm/"
MILVUS_PORT = 19530
METRICS_PORT = 9091
RELEASE = "milvus"  # the chart names its Service after the release: milvus.<namespace>.svc
NONCURRENT_VERSION_DAYS = 30


@dataclass(frozen=True)
class MilvusNodes:
    """The node pool the Milvus release runs on (an EKS managed node group / a GKE node pool):
    labelled ``aiplat.io/pool: milvus`` and tainted ``aiplat.io/dedicated=milvus:NoSchedule``,
    so every Milvus pod (components, etcd, Pulsar) selects and tolerates it and nothing else
    lands there. Sized per mode by ``vector_store.nodes`` (``aiplat.config``)."""

    instance_type: str
    min_nodes: int
    max_nodes: int
    zones: list[str]
    """Zones of the pool: standalone the first zone only (one pod and its zonal volume: a
    replacement node can always attach it), cluster mode every zone of the region."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster / GKE cluster the pool joins (its name; the pool waits for it)."""
    node_role_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's node role."""
    subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    """AWS: the private subnets of ``zones``."""
    node_service_account: pulumi.Input[str] | None = None
    """GCP: the cluster's node service account."""
    node_disk_key: pulumi.Input[str] | None = None
    """AWS: the cluster's node-disk KMS key (root volumes, through a launch template)."""


@dataclass(frozen=True)
class VectorStoreArgs:
    """Everything a VectorStore needs, resolved (the platform derives it from VectorStoreConfig)."""

    cloud: Literal["aws", "gcp"]
    region: str
    kube_provider: pulumi.ProviderResource
    bucket_name: str
    """Physical bucket name (deterministic; same region as the cluster)."""
    zones: list[str]
    """The region's zones; cluster mode spreads replicas over them."""
    mode: Literal["standalone", "cluster"] = "standalone"
    """standalone: one Milvus pod (rocksmq); cluster: replicated components, Pulsar, 3 etcd. Default standalone."""
    storage_gb: int = 50
    """Size of each Milvus data volume, GiB. Default 50."""
    client_namespaces: list[str] = field(default_factory=lambda: ["rag"])
    """Namespaces admitted by the NetworkPolicy. Default [rag]."""
    namespace: str = "milvus"
    """Namespace of the release. Default milvus."""
    chart_version: str = MILVUS_CHART_VERSION
    """Milvus Helm chart version. Default 4.2.45 (Milvus 2.5.9)."""
    oidc_provider_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's IAM OIDC provider (IRSA). Required on AWS."""
    oidc_issuer: pulumi.Input[str] | None = None
    """AWS: issuer host/path without scheme. Required on AWS."""
    gcp_project: str | None = None
    """GCP: project of bucket, key and service account. Required on GCP."""
    protect: bool = True
    """Protect bucket and key from deletion. Default true."""
    access_logs_bucket: pulumi.Input[str] | None = None
    """The region's log bucket (``aiplat.access_logs``): the vectors bucket's server access logs go there. Default none: no access logs (the
    access-logs policy refuses that)."""
    access_logs_ready: list[pulumi.Resource] = field(default_factory=list)
    """What logging into it waits for (the log bucket's policy and settings)."""
    installers: Installers | None = None
    """The cluster's add-ons (``ClusterAddons.installers``): the StorageClass waits for its CSI
    driver, the release (its chart renders a ServiceMonitor) for the prometheus-operator CRDs.
    Default none: the cluster already has both."""
    ebs: EbsVolumes | None = None
    """AWS: the cluster's EBS CSI driver (``ClusterAddons.ebs``): its role is let use the vectors
    key, and the StorageClass tags volumes as its policy requires. Default none: the driver's
    permissions are managed elsewhere."""
    nodes: MilvusNodes | None = None
    """The Milvus node pool the component creates and every Milvus pod is pinned to. Default
    none: Milvus schedules wherever the cluster has room (a cluster aiplat did not build)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource (AWS tags, GCP labels)."""

    @property
    def production(self) -> bool:
        return self.mode == "cluster"


def validate_store_args(a: VectorStoreArgs) -> list[Problem]:
    """Every problem with the args, before the first child exists (paths are arg names)."""
    problems = []
    if a.mode not in ("standalone", "cluster"):
        problems.append(Problem("mode", f"{a.mode!r} is not standalone or cluster"))
    if not 10 <= a.storage_gb <= 16384:
        problems.append(Problem("storage_gb", f"{a.storage_gb} is outside 10..16384"))
    if a.mode == "cluster" and len(a.zones) < 2:
        problems.append(Problem("zones", "cluster mode spreads replicas over zones: at least 2 are needed"))
    if not a.client_namespaces:
        problems.append(Problem("client_namespaces", "at least one namespace must be able to reach Milvus"))
    if not 3 <= len(a.bucket_name) <= 63:
        problems.append(Problem("bucket_name", f"{a.bucket_name!r} must be 3..63 characters"))
    if a.cloud == "aws" and (a.oidc_provider_arn is None or a.oidc_issuer is None):
        problems.append(Problem("oidc_provider_arn", "AWS needs the cluster's OIDC provider and issuer (IRSA)"))
    if a.cloud == "gcp" and not a.gcp_project:
        problems.append(Problem("gcp_project", "GCP needs the project (Workload Identity)"))
    if a.nodes is not None:
        if not 1 <= a.nodes.min_nodes <= a.nodes.max_nodes:
            problems.append(Problem("nodes.min_nodes", f"{a.nodes.min_nodes} is outside 1..max_nodes "
                                                       f"({a.nodes.max_nodes})"))
        if not a.nodes.zones or any(z not in a.zones for z in a.nodes.zones):
            problems.append(Problem("nodes.zones", f"{a.nodes.zones} must be zones of the region ({a.zones})"))
        if a.cloud == "aws" and (a.nodes.node_role_arn is None or len(a.nodes.subnet_ids) != len(a.nodes.zones)):
            problems.append(Problem("nodes.subnet_ids", "AWS needs the node role and one subnet per zone"))
    return problems


def _requests(mode: str, component: str) -> dict[str, Any]:
    _, cpu, memory = MILVUS_PODS[mode][component]
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}


def _user_yaml(root_password: str) -> str:
    return json.dumps({"common": {"security": {"authorizationEnabled": True, "defaultRootPassword": root_password}}})


# Pulsar (pulsar chart 3.3.0, the Milvus chart's `pulsarv3`) components Milvus runs, and its
# init Jobs (`pulsar_metadata`: pulsar-init and bookie-init take its nodeSelector/tolerations).
PULSAR_COMPONENTS = ("zookeeper", "bookkeeper", "autorecovery", "broker", "proxy")


def helm_values(a: VectorStoreArgs, storage_class: str, identity_annotation: dict[str, Any],
                root_password: str | pulumi.Output[str]) -> dict[str, Any]:
    """The chart values (pure; tested). Object storage is the region's bucket through the
    pod identity, never MinIO and never static keys.

    ``root_password`` may be an Output (the generated one): then only ``user.yaml`` holds it,
    as a secret, and every other value stays known at preview (a changed value is a diff in
    ``pulumi preview``; the deploy analysis reads the volume claims and the ServiceMonitor)."""
    spread = lambda component: [{  # noqa: E731 - one spread rule per component
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE, "component": component}},
    }]
    # The root password is the only secret: as an Output it stays a secret leaf of the values,
    # so the rest (requests, selectors) is readable in a preview and by the deploy analysis.
    user_yaml = root_password.apply(_user_yaml) if isinstance(root_password, pulumi.Output) \
        else _user_yaml(root_password)
    placement: dict[str, Any] = {}
    if a.nodes is not None:
        placement = {"nodeSelector": {POOL_NODE_LABEL: MILVUS_POOL}, "tolerations": [dict(MILVUS_TOLERATION)]}
    values: dict[str, Any] = {
        "cluster": {"enabled": a.mode == "cluster"},
        "serviceAccount": {"create": True, "name": "milvus", "annotations": identity_annotation},
        # JSON is YAML: user.yaml merges into milvus.yaml (auth on, the generated root password).
        "extraConfigFiles": {"user.yaml": user_yaml},
        "minio": {"enabled": False},
        "externalS3": {
            "enabled": True,
            "host": "s3.amazonaws.com" if a.cloud == "aws" else "storage.googleapis.com",
            "port": "443",
            "useSSL": True,
            "bucketName": a.bucket_name,
            "rootPath": "milvus",
            "useIAM": True,  # IRSA / Workload Identity: no access keys anywhere
            "cloudProvider": a.cloud,
            "region": a.region,
        },
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        "etcd": {
            "replicaCount": MILVUS_PODS[a.mode]["etcd"][0],
            "persistence": {"storageClass": storage_class, "size": "10Gi"},
            # bitnami etcd 6.3.3 requests nothing by default; its values take requests only
            "resources": {"requests": _requests(a.mode, "etcd")["requests"]},
            **placement,
        },
        # Milvus chart 4.2.45: the global nodeSelector/tolerations apply to every Milvus
        # component that sets none of its own (templates/*-deployment.yaml); subcharts
        # (etcd, Pulsar) take their own below.
        **placement,
    }
    pvc = {"storageClass": storage_class, "size": f"{a.storage_gb}Gi"}
    if a.mode == "standalone":
        values["standalone"] = {
            "messageQueue": "rocksmq",
            "persistence": {"persistentVolumeClaim": pvc},
            "resources": _requests("standalone", "standalone"),
        }
        values["pulsarv3"] = {"enabled": False}
        return values
    labels = {"proxy": "proxy", "queryNode": "querynode", "dataNode": "datanode", "indexNode": "indexnode",
              "mixCoordinator": "mixcoord"}
    for key, label in labels.items():
        values[key] = {
            "replicas": MILVUS_PODS["cluster"][key][0],
            "resources": _requests("cluster", key),
            # One replica per zone first: losing a zone leaves the others serving.
            "topologySpreadConstraints": spread(label),
        }
    values["mixCoordinator"]["activeStandby"] = {"enabled": True}  # two coordinators need standby mode
    volume = {"storageClassName": storage_class}
    pulsar: dict[str, Any] = {"enabled": True}
    for component in PULSAR_COMPONENTS:
        replicas, cpu, memory = MILVUS_PODS["cluster"][f"pulsarv3.{component}"]
        # pulsar 3.3.0 values: <component>.replicaCount / resources / nodeSelector / tolerations
        pulsar[component] = {"replicaCount": replicas, "resources": {"requests": {"cpu": cpu, "memory": memory}},
                             **placement}
    pulsar["bookkeeper"]["volumes"] = {"journal": {**volume, "size": "20Gi"},
                                       "ledgers": {**volume, "size": f"{a.storage_gb}Gi"}}
    pulsar["zookeeper"]["volumes"] = {"data": {**volume, "size": "10Gi"}}
    if placement:
        pulsar["pulsar_metadata"] = dict(placement)  # the init Jobs (pulsar-init, bookie-init)
    values["pulsarv3"] = pulsar
    return values


class VectorStore(AiplatComponent):
    """Milvus in one region (type ``aiplat:vector_store:VectorStore``).

    Children: a KMS key and a bucket in the region (versioned, encrypted with that key,
    public access blocked, old versions expired after 30 days, protected from deletion);
    the pod identity that alone may use it (AWS IRSA role / GCP service account with
    Workload Identity); an encrypted StorageClass (``Retain``: deleting a claim never
    deletes vectors); a generated root password (pulumi-random, a secret in state) and
    the Kubernetes Secret holding it for clients; the Milvus Helm release (pinned chart,
    auth on); a NetworkPolicy admitting only the client namespaces (and monitoring to
    the metrics port); with ``nodes``, the Milvus node pool (EKS managed node group / GKE
    node pool, ``aiplat.io/pool: milvus``, tainted ``aiplat.io/dedicated=milvus:NoSchedule``)
    that every pod of the release (Milvus components, etcd, Pulsar and its init Jobs) selects
    and tolerates, and that the release waits for.

    The chart puts the root password into Milvus's config (its ``user.yaml`` ConfigMap):
    Milvus reads its first root password only from configuration. Rotate it with the
    Milvus API after the first deploy if ConfigMaps are readable more widely than Secrets.

    Outputs: ``endpoint`` (``milvus.<ns>.svc.cluster.local:19530``), ``secret_name``
    (Secret with ``username``/``password`` in ``namespace``), ``namespace``, ``bucket``
    (Output[str]), ``mode``, ``chart_version``, ``cloud_identity`` (role ARN / GSA email).
    """

    def __init__(self, name: str, args: VectorStoreArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_store_args(args)
        if problems:
            raise ConfigError(problems, f"VectorStore {name}")
        super().__init__("aiplat:vector_store:VectorStore", name, None, opts)
        self._name, self._in = name, args
        self.namespace = args.namespace
        self.mode = args.mode
        self.chart_version = args.chart_version
        self.endpoint = f"{RELEASE}.{args.namespace}.svc.cluster.local:{MILVUS_PORT}"
        self.secret_name = "milvus-root"
        if args.cloud == "aws":
            bucket_deps, annotation, sc_params, provisioner, volume_deps = self._aws()
        else:
            bucket_deps, annotation, sc_params, provisioner, volume_deps = self._gcp()
        self.node_pool = self._nodes() if args.nodes is not None else None
        self._kubernetes(bucket_deps, annotation, sc_params, provisioner, volume_deps)
        self.register_outputs({
            "endpoint": self.endpoint,
            "secret_name": self.secret_name,
            "namespace": self.namespace,
            "bucket": self.bucket,
            "mode": self.mode,
            "chart_version": self.chart_version,
            "cloud_identity": self.cloud_identity,
        })

    # -- AWS: S3 + KMS + IRSA ---------------------------------------------------------------
    def _aws(self):
        import pulumi_aws as aws

        a, n = self._in, self._name
        key = aws.kms.Key(f"{n}-vectors", description=f"Milvus data of {a.bucket_name} (bucket and volumes)",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=self._tags("vectors-key"),
                          opts=self._opts(protect=a.protect))
        bucket = aws.s3.Bucket(f"{n}-vectors", bucket=a.bucket_name, force_destroy=False,
                               tags=self._tags("vectors"), opts=self._opts(protect=a.protect))
        versioning = aws.s3.BucketVersioning(f"{n}-vectors", bucket=bucket.id,
                                             versioning_configuration={"status": "Enabled"}, opts=self._opts())
        sse = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-vectors", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                    "bucket_key_enabled": True}],
            opts=self._opts())
        pab = aws.s3.BucketPublicAccessBlock(f"{n}-vectors", bucket=bucket.id, block_public_acls=True,
                                             block_public_policy=True, ignore_public_acls=True,
                                             restrict_public_buckets=True, opts=self._opts())
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{n}-vectors", bucket=bucket.id,
            rules=[{
                "id": "expire-old-versions",
                "status": "Enabled",
                "filter": {},
                # Milvus compaction rewrites segments constantly; old versions are only an undo window.
                "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            }],
            opts=self._opts(depends_on=[versioning]))
        s3_logging(self, f"{n}-vectors", bucket, a.bucket_name, a.access_logs_bucket, a.access_logs_ready)
        subject = f"system:serviceaccount:{a.namespace}:milvus"
        trust = irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, a.namespace, "milvus")
        role = aws.iam.Role(f"{n}-milvus", description=f"IRSA role of {subject}: read/write on {a.bucket_name}",
                            assume_role_policy=trust, tags=self._tags("milvus-role"), opts=self._opts())
        aws.iam.RolePolicy(
            f"{n}-milvus-rw", role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(lambda v: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": v[0]},
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                     "Resource": f"{v[0]}/*"},
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": v[1]},
                ],
            })),
            opts=self._opts())
        self.bucket = bucket.bucket
        self.kms_key = key.arn
        self.cloud_identity = role.arn
        volume_deps = []
        if a.ebs is not None:
            from aiplat.addons import ebs_kms_policy

            # The CSI driver creates the volumes, so it must be able to use this key (and only via EC2).
            volume_deps.append(aws.iam.RolePolicy(
                f"{n}-ebs-csi-vectors-key", role=a.ebs.role_name,
                policy=key.arn.apply(lambda arn: json.dumps(ebs_kms_policy(a.region, [arn]))),
                opts=self._opts()))
        tags = dict(a.ebs.parameters) if a.ebs is not None else {}
        sc_params = key.arn.apply(lambda arn: {"type": "gp3", "encrypted": "true", "kmsKeyId": arn, **tags})
        return ([bucket, versioning, sse, pab, lifecycle], {"eks.amazonaws.com/role-arn": role.arn},
                sc_params, "ebs.csi.aws.com", volume_deps)

    # -- GCP: GCS + Cloud KMS + Workload Identity ---------------------------------------------
    def _gcp(self):
        import pulumi_gcp as gcp

        from aiplat.cluster import short_id

        a, n = self._in, self._name
        labels = {k.lower(): v for k, v in a.tags.items()}
        project = gcp.organizations.get_project(project_id=a.gcp_project)
        ring = gcp.kms.KeyRing(f"{n}-vectors", name=f"{n}-vectors", location=a.region, project=a.gcp_project,
                               opts=self._opts())
        # CMEK for the bucket (Cloud Storage agent) and for the PD volumes (Compute Engine agent).
        key, grants = gcp_cmek(self, f"{n}-vectors", ring, project.number, ["gcs", "pd"], labels, a.protect,
                               key_name="vectors")
        bucket = gcp.storage.Bucket(
            f"{n}-vectors", name=a.bucket_name, project=a.gcp_project,
            location=a.region,  # one region: the vectors never leave it
            storage_class="STANDARD", uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": True}, encryption={"default_kms_key_name": key.id}, force_destroy=False,
            lifecycle_rules=[{"action": {"type": "Delete"},
                              "condition": {"days_since_noncurrent_time": NONCURRENT_VERSION_DAYS, "with_state": "ARCHIVED"}}],
            logging=gcs_logging(a.access_logs_bucket, a.bucket_name),
            labels=labels, opts=self._opts(protect=a.protect, depends_on=[grants[0], *a.access_logs_ready]))
        gsa = gcp.serviceaccount.Account(f"{n}-milvus", account_id=short_id(f"{n}-milvus", 30),
                                         display_name=f"Milvus in {a.region} (its vector bucket only)",
                                         project=a.gcp_project, opts=self._opts())
        rw = gcp.storage.BucketIAMMember(f"{n}-milvus-rw", bucket=bucket.name, role="roles/storage.objectAdmin",
                                         member=gsa.email.apply(lambda e: f"serviceAccount:{e}"), opts=self._opts())
        wi = gcp.serviceaccount.IAMMember(f"{n}-milvus-wi", service_account_id=gsa.name,
                                          role="roles/iam.workloadIdentityUser",
                                          member=f"serviceAccount:{a.gcp_project}.svc.id.goog[{a.namespace}/milvus]",
                                          opts=self._opts())
        self.bucket = bucket.name
        self.kms_key = key.id
        self._disk_ready = [grants[1]]
        self.cloud_identity = gsa.email
        sc_params = key.id.apply(lambda k: {"type": "pd-balanced", "disk-encryption-kms-key": k})
        return ([bucket, rw, wi, grants[1]], {"iam.gke.io/gcp-service-account": gsa.email}, sc_params,
                "pd.csi.storage.gke.io", [grants[1]])

    # -- the Milvus node pool -------------------------------------------------------------------
    def _nodes(self) -> pulumi.CustomResource:
        """The EKS managed node group / GKE node pool every Milvus pod is pinned to."""
        a, n, nodes = self._in, self._name, self._in.nodes
        labels = {POOL_NODE_LABEL: MILVUS_POOL, CAPACITY_NODE_LABEL: "on-demand"}
        if a.cloud == "aws":
            import pulumi_aws as aws

            from aiplat.cluster import node_launch_template

            lt = node_launch_template(self, f"{n}-nodes", 20, nodes.node_disk_key, self._tags("milvus-nodes"))
            return aws.eks.NodeGroup(
                f"{n}-nodes",
                cluster_name=nodes.cluster_name,
                node_role_arn=nodes.node_role_arn,
                subnet_ids=list(nodes.subnet_ids),
                ami_type="AL2023_x86_64_STANDARD",
                capacity_type="ON_DEMAND",
                instance_types=[nodes.instance_type],
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version=lt.latest_version.apply(str)),
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=nodes.min_nodes, desired_size=nodes.min_nodes, max_size=nodes.max_nodes),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                labels=labels,
                taints=[aws.eks.NodeGroupTaintArgs(key=MILVUS_TAINT_KEY, value=MILVUS_TAINT_VALUE,
                                                   effect="NO_SCHEDULE")],
                tags=self._tags("milvus-nodes"),
                # the autoscaler (when the cluster runs one) owns the size between min and max
                opts=self._opts(ignore_changes=["scalingConfig.desiredSize"]))
        import pulumi_gcp as gcp

        from aiplat.cluster import short_id

        return gcp.container.NodePool(
            f"{n}-nodes",
            name=short_id(f"{MILVUS_POOL}-{a.region}", 40),
            project=a.gcp_project,
            cluster=nodes.cluster_name,
            location=a.region,
            node_locations=list(nodes.zones),
            initial_node_count=-(-nodes.min_nodes // len(nodes.zones)),  # per zone
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=nodes.min_nodes, total_max_node_count=nodes.max_nodes,
                location_policy="BALANCED"),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=nodes.instance_type,
                service_account=nodes.node_service_account,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                disk_type="pd-balanced",
                disk_size_gb=100,
                # the vectors' CMEK (its Compute Engine agent grant is in _gcp): the nodes cache segments
                boot_disk_kms_key=self.kms_key,
                labels=labels,
                taints=[gcp.container.NodePoolNodeConfigTaintArgs(
                    key=MILVUS_TAINT_KEY, value=MILVUS_TAINT_VALUE, effect="NO_SCHEDULE")],
                resource_labels={k.lower(): v for k, v in a.tags.items()},
            ),
            opts=self._opts(ignore_changes=["initialNodeCount"], depends_on=self._disk_ready))

    # -- Kubernetes ---------------------------------------------------------------------------
    def _kubernetes(self, bucket_deps, annotation, sc_params, provisioner, volume_deps) -> None:
        import pulumi_kubernetes as k8s
        import pulumi_random as random

        a, n, ns = self._in, self._name, self._in.namespace
        # Without the cluster's add-ons (a cluster aiplat did not build) the driver and the CRDs exist.
        driver = a.installers.provisioner(provisioner) if a.installers is not None else []
        crds = a.installers.crd("monitoring.coreos.com/v1") if a.installers is not None else []
        labels = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/managed-by": "aiplat"}
        namespace = k8s.core.v1.Namespace(f"{n}-ns", metadata={"name": ns, "labels": labels}, opts=self._k8s())
        storage_class = f"milvus-encrypted-{a.region}"
        sc = k8s.storage.v1.StorageClass(
            f"{n}-sc", metadata={"name": storage_class, "labels": labels}, provisioner=provisioner,
            parameters=sc_params,
            reclaim_policy="Retain",  # a deleted claim must not delete the vectors with it
            volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True,
            # the provisioner must be installed (and allowed to use the key) before a claim names the class
            opts=self._k8s(depends_on=[*driver, *volume_deps]))
        password = random.RandomPassword(f"{n}-root", length=32, special=False, opts=self._opts())
        self.root_password = password.result  # a secret output: never shown, never in plain config
        secret = k8s.core.v1.Secret(
            f"{n}-root", metadata={"name": self.secret_name, "namespace": ns, "labels": labels},
            type="Opaque", string_data={"username": "root", "password": password.result},
            opts=self._k8s(depends_on=[namespace]))
        # Plain values with two Outputs inside: the identity annotation and the user.yaml holding
        # the root password (a secret leaf, "[secret]" in a preview; nothing else is secret).
        values = helm_values(a, storage_class, annotation, password.result)
        nodes = [self.node_pool] if self.node_pool is not None else []
        release = k8s.helm.v3.Release(
            f"{n}-milvus", name=RELEASE, namespace=ns, chart=MILVUS_CHART, version=a.chart_version,
            repository_opts={"repo": MILVUS_CHART_REPO}, values=values,
            atomic=True, cleanup_on_fail=True, timeout=1200,
            # metrics.serviceMonitor.enabled: the chart renders a ServiceMonitor, which needs its CRD;
            # every pod is pinned to the Milvus nodes, so the atomic install waits for them too
            opts=self._k8s(depends_on=[namespace, sc, secret, *bucket_deps, *crds, *nodes]))
        peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": c}}}
                 for c in a.client_namespaces]
        k8s.networking.v1.NetworkPolicy(
            f"{n}-netpol",
            metadata={"name": "milvus-clients", "namespace": ns, "labels": labels},
            spec={
                "podSelector": {},  # every pod of the namespace: proxy, nodes, etcd, pulsar
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": peers, "ports": [{"protocol": "TCP", "port": MILVUS_PORT}]},
                    # Milvus components, etcd and Pulsar talk to each other inside the namespace.
                    {"from": [{"podSelector": {}}]},
                    {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                     "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
                ],
            },
            opts=self._k8s(depends_on=[namespace]))
        self.release_name = release.name


def args_from_config(config, stack: str, region, cluster, endpoint_namespaces: list[str],
                     installers: Installers | None = None, ebs: EbsVolumes | None = None,
                     subnet_ids: list | None = None) -> VectorStoreArgs:
    """VectorStoreArgs for one region of a stack whose ``vector_store`` is enabled there
    (``installers``, ``ebs``: the cluster's add-ons, ``ClusterAddons``; ``subnet_ids``: AWS, the
    private subnets of the region's zones, in zone order), with its Milvus node pool."""
    from aiplat.triton import bucket_name

    store = config.vector_store
    mode = store.resolved_mode(config.environment)
    itype, low, high, zones = store.resolved_nodes(mode, config.cloud, list(region.zones))
    by_zone = dict(zip(region.zones, subnet_ids or []))
    nodes = MilvusNodes(
        instance_type=itype, min_nodes=low, max_nodes=high, zones=zones, cluster_name=cluster.name,
        node_role_arn=cluster.node_role_arn, subnet_ids=[by_zone[z] for z in zones if z in by_zone],
        node_service_account=cluster.node_service_account,
        node_disk_key=cluster.node_disk_key if config.cloud == "aws" else None)
    return VectorStoreArgs(
        cloud=config.cloud,
        region=region.name,
        kube_provider=cluster.kube_provider,
        bucket_name=bucket_name(f"aiplat-{stack}", region.name, "vectors"),
        zones=list(region.zones),
        mode=mode,
        storage_gb=store.storage_gb,
        client_namespaces=sorted(set(store.client_namespaces) | set(endpoint_namespaces)),
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer,
        gcp_project=config.gcp_project,
        protect=True,
        installers=installers,
        ebs=ebs,
        nodes=nodes,
        tags=config.standard_tags(stack),
    )
