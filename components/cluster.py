"""Cluster: a production Kubernetes control plane per region, EKS or GKE, same outputs.

AWS (EKS): secrets envelope-encrypted with a rotating KMS key; all control-plane log
types to a log group we own (so retention is ours, not "never expire"); private API
endpoint, public only when config allows and then behind a CIDR allow-list; an IAM OIDC
provider for IRSA (pods assume roles, no static keys); access entries (API auth mode);
a small on-demand system node group for add-ons; core add-ons with network policy
enforcement turned on in the VPC CNI.

GCP (GKE): a private regional cluster (nodes without public IPs, private endpoint unless
allowed), Workload Identity, a release channel, Dataplane V2 (enforces NetworkPolicy),
application-layer secrets encryption with a rotating Cloud KMS key, and a system node
pool on a least-privilege node service account with GKE metadata server.

Both: ``kube_provider`` is a ``pulumi_kubernetes.Provider`` for the cluster, which every
in-cluster component (GPU pools' add-ons, Triton, Milvus, monitoring) uses.

Reachability (config ``deployer``): a public endpoint is limited to ``public_access_cidrs``
(which hold the deployer's addresses); a private one is reached from the runner network
(``deployer_cidr``): EKS gets an ingress rule for TCP 443 from it on the cluster security group
(``vpcConfig.clusterSecurityGroupId``, the group EKS attaches to the control-plane ENIs; the
program passes no additional ``securityGroupIds``), GKE lists it in the master authorized
networks. The Kubernetes provider waits for that path (``deployer_path``: the network's peering
and routes, and the rule), so no Kubernetes object is sent before the API can be reached.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from aiplat._base import AiplatComponent
from aiplat.kms import gcp_cmek
from aiplat.refs import CAPACITY_NODE_LABEL, POOL_NODE_LABEL
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
EKS_ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
GKE_NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
)


def short_id(value: str, limit: int) -> str:
    """Deterministic identifier within a length limit (GCP account ids, GKE names)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:6]
    return f"{value[: limit - 7].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class ClusterArgs:
    cloud: Literal["aws", "gcp"]
    region: str
    cluster_name: str
    """Physical cluster name (EKS <= 100, GKE <= 40 characters)."""
    kubernetes_version: str
    zones: list[str]
    extended_support: bool = False
    """EKS: stay in (paid) extended support after standard support ends. Default false: the
    cluster's upgrade policy is STANDARD, so EKS upgrades it instead of billing extended support."""
    subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    """AWS: private subnets for the control plane ENIs and the system nodes."""
    network: pulumi.Input[str] | None = None
    """GCP: the VPC and subnetwork, with the secondary range names for pods and services."""
    subnetwork: pulumi.Input[str] | None = None
    pods_range: str | None = None
    services_range: str | None = None
    master_cidr: str | None = None
    """GCP: /28 for the private control plane."""
    gcp_project: str | None = None
    release_channel: str = "REGULAR"
    endpoint_public_access: bool = False
    public_access_cidrs: list[str] = field(default_factory=list)
    deployer_cidr: str | None = None
    """Private endpoint: the runner network's CIDR the API is opened to (config deployer.network.cidr)."""
    deployer_path: list[pulumi.Resource] = field(default_factory=list)
    """What makes the runner network's path real (the Network's peering and routes): the Kubernetes
    provider waits for it."""
    system_instance_type: str = "m6i.large"
    system_min_nodes: int = 2
    system_max_nodes: int = 4
    log_retention_days: int = 30
    deletion_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Cluster(AiplatComponent):
    """A regional Kubernetes cluster.

    Outputs: ``name``, ``endpoint``, ``kube_provider``; AWS: ``oidc_provider_arn``,
    ``oidc_issuer`` (host/path, no scheme), ``node_role_arn``, ``cluster_security_group_id``;
    GCP: ``workload_pool``, ``node_service_account``. Both: ``system_nodes`` (the system node
    group / pool: what cluster add-ons that are cloud resources, not Helm releases, wait for),
    ``node_disk_key`` (the customer-managed key of the nodes' root / boot disks: a KMS key ARN on
    AWS, a Cloud KMS key id on GCP) and ``node_disk_ready`` (what a pool using it waits for).
    """

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kube_provider: k8s.Provider
    oidc_provider_arn: pulumi.Output[str] | None = None
    oidc_issuer: pulumi.Output[str] | None = None
    node_role_arn: pulumi.Output[str] | None = None
    cluster_security_group_id: pulumi.Output[str] | None = None
    workload_pool: str | None = None
    node_service_account: pulumi.Output[str] | None = None
    node_disk_key: pulumi.Output[str] | None = None
    node_disk_ready: tuple[pulumi.Resource, ...] = ()
    system_nodes: pulumi.CustomResource

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:cluster:Cluster", name, None, opts)
        self._name, self._in = name, args
        if args.cloud == "aws":
            self._aws()
        else:
            self._gcp()
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "oidc_provider_arn": self.oidc_provider_arn,
                "workload_pool": self.workload_pool,
            }
        )

    # -- AWS -----------------------------------------------------------------------
    def _aws(self) -> None:
        a, n = self._in, self._name
        key = aws.kms.Key(
            f"{n}-secrets",
            description=f"EKS secrets envelope encryption for {a.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self._tags("secrets"),
            opts=self._opts(protect=a.deletion_protection),
        )
        aws.kms.Alias(
            f"{n}-secrets", name=f"alias/{a.cluster_name}-secrets", target_key_id=key.key_id, opts=self._opts()
        )
        role = aws.iam.Role(
            f"{n}-cluster",
            assume_role_policy=_assume_role("eks.amazonaws.com"),
            tags=self._tags("cluster-role"),
            opts=self._opts(),
        )
        attach = aws.iam.RolePolicyAttachment(
            f"{n}-cluster",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=self._opts(),
        )
        # EKS would create this group itself with no retention; owning it sets retention and its key.
        log_name = f"/aws/eks/{a.cluster_name}/cluster"
        logs_key = log_group_key(self, f"{n}-controlplane-logs", a.region, log_name,
                                 self._tags("controlplane-logs-key"), protect=a.deletion_protection)
        logs = aws.cloudwatch.LogGroup(
            f"{n}-controlplane",
            name=log_name,
            retention_in_days=a.log_retention_days,
            kms_key_id=logs_key.arn,
            tags=self._tags("controlplane-logs"),
            opts=self._opts(),
        )
        cluster = aws.eks.Cluster(
            f"{n}-eks",
            name=a.cluster_name,
            version=a.kubernetes_version,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="EXTENDED" if a.extended_support else "STANDARD"),
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=a.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=a.endpoint_public_access,
                public_access_cidrs=a.public_access_cidrs if a.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=EKS_LOG_TYPES,
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            deletion_protection=a.deletion_protection,
            tags=self._tags("eks"),
            opts=self._opts(depends_on=[attach, logs]),
        )
        self.name, self.endpoint = cluster.name, cluster.endpoint
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        issuer_url = cluster.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"] if ids else "")
        oidc = aws.iam.OpenIdConnectProvider(
            f"{n}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            tags=self._tags("oidc"),
            opts=self._opts(),
        )
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer_url.apply(lambda u: u.removeprefix("https://"))

        node_role = aws.iam.Role(
            f"{n}-nodes", assume_role_policy=_assume_role("ec2.amazonaws.com"), tags=self._tags("node-role"),
            opts=self._opts(),
        )
        node_attach = [
            aws.iam.RolePolicyAttachment(
                f"{n}-nodes-{arn.rsplit('/', 1)[-1]}", role=node_role.name, policy_arn=arn, opts=self._opts()
            )
            for arn in NODE_POLICIES
        ]
        self.node_role_arn = node_role.arn
        self.node_disk_key = node_volume_key(self, f"{n}-node-disks", a.cluster_name, self._tags("node-disks-key"),
                                           protect=a.deletion_protection).arn
        system_lt = node_launch_template(self, f"{n}-system", 20, self.node_disk_key, self._tags("system-nodes"))
        system = aws.eks.NodeGroup(
            f"{n}-system",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=a.subnet_ids,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=[a.system_instance_type],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=system_lt.id,
                                                                version=system_lt.latest_version.apply(str)),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=a.system_min_nodes, desired_size=a.system_min_nodes, max_size=a.system_max_nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={POOL_NODE_LABEL: "system", CAPACITY_NODE_LABEL: "on-demand"},
            tags=self._tags("system-nodes"),
            opts=self._opts(depends_on=node_attach),
        )
        self.system_nodes = system
        for addon in EKS_ADDONS:
            config = {"enableNetworkPolicy": "true"} if addon == "vpc-cni" else None
            aws.eks.Addon(
                f"{n}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                configuration_values=json.dumps(config) if config else None,
                resolve_conflicts_on_update="OVERWRITE",
                tags=self._tags(addon),
                # coredns needs nodes to schedule on, or the add-on never turns healthy
                opts=self._opts(depends_on=[system] if addon == "coredns" else []),
            )
        path = list(a.deployer_path)
        if a.deployer_cidr:
            path.append(aws.vpc.SecurityGroupIngressRule(
                f"{n}-deployer-https",
                security_group_id=self.cluster_security_group_id,
                cidr_ipv4=a.deployer_cidr,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="Kubernetes API from the deployer's runner network",
                tags=self._tags("deployer-https"),
                opts=self._opts(),
            ))
        kubeconfig = pulumi.Output.all(cluster.endpoint, cluster.certificate_authority, cluster.name).apply(
            lambda v: _eks_kubeconfig(v[0], (v[1] or {}).get("data", ""), v[2], a.region)
        )
        self.kube_provider = k8s.Provider(
            f"{n}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True,
            opts=self._opts(depends_on=[system, *path]),
        )

    # -- GCP -----------------------------------------------------------------------
    def _gcp(self) -> None:
        a, n = self._in, self._name
        labels = {k.lower(): v for k, v in a.tags.items()}
        project = gcp.organizations.get_project(project_id=a.gcp_project)
        ring = gcp.kms.KeyRing(f"{n}-keys", location=a.region, project=a.gcp_project, opts=self._opts())
        # GKE's service agent must be able to use the key for application-layer encryption.
        key, (grant,) = gcp_cmek(self, f"{n}-secrets", ring, project.number, ["gke"], labels,
                                 a.deletion_protection)
        # Node boot disks: a CMEK the Compute Engine service agent may use (it encrypts the disks GKE creates).
        disk_key, (disk_grant,) = gcp_cmek(self, f"{n}-node-disks", ring, project.number, ["compute"], labels,
                                           a.deletion_protection)
        self.node_disk_key = disk_key.id
        self.node_disk_ready = (disk_grant,)
        node_sa = gcp.serviceaccount.Account(
            f"{n}-nodes",
            account_id=short_id(f"{a.cluster_name}-nodes", 30),
            display_name=f"GKE nodes of {a.cluster_name}",
            project=a.gcp_project,
            opts=self._opts(),
        )
        for role in GKE_NODE_ROLES:
            gcp.projects.IAMMember(
                f"{n}-nodes-{role.split('/')[-1]}",
                project=a.gcp_project,
                role=role,
                member=node_sa.email.apply(lambda e: f"serviceAccount:{e}"),
                opts=self._opts(),
            )
        self.workload_pool = f"{a.gcp_project}.svc.id.goog"
        authorized = [(f"allow-{i}", c) for i, c in enumerate(a.public_access_cidrs if a.endpoint_public_access else [])]
        if a.deployer_cidr:
            authorized.append(("deployer-network", a.deployer_cidr))
        cluster = gcp.container.Cluster(
            f"{n}-gke",
            name=a.cluster_name,
            project=a.gcp_project,
            location=a.region,  # regional: control plane replicated across zones
            node_locations=a.zones,
            network=a.network,
            subnetwork=a.subnetwork,
            remove_default_node_pool=True,
            initial_node_count=1,
            min_master_version=a.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=a.release_channel),
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=a.pods_range, services_secondary_range_name=a.services_range
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=not a.endpoint_public_access,
                master_ipv4_cidr_block=a.master_cidr,
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=c, display_name=label)
                    for label, c in authorized
                ]
            ),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=self.workload_pool
            ),
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2 enforces NetworkPolicy
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name=key.id),
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "APISERVER", "WORKLOADS"]
            ),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=False),
            ),
            resource_labels=labels,
            deletion_protection=a.deletion_protection,
            opts=self._opts(depends_on=[grant]),
        )
        self.name, self.endpoint = cluster.name, cluster.endpoint
        self.node_service_account = node_sa.email
        system = gcp.container.NodePool(
            f"{n}-system",
            cluster=cluster.id,
            location=a.region,
            node_locations=a.zones,
            initial_node_count=1,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=a.system_min_nodes,
                total_max_node_count=a.system_max_nodes,
                location_policy="BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=a.system_instance_type,
                service_account=node_sa.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                disk_type="pd-balanced",
                disk_size_gb=100,
                boot_disk_kms_key=disk_key.id,
                labels={POOL_NODE_LABEL: "system", CAPACITY_NODE_LABEL: "on-demand"},
                resource_labels=labels,
            ),
            opts=self._opts(depends_on=[disk_grant]),
        )
        self.system_nodes = system
        kubeconfig = pulumi.Output.all(cluster.endpoint, cluster.master_auth, cluster.name).apply(
            lambda v: _gke_kubeconfig(v[0], (v[1] or {}).get("cluster_ca_certificate", ""), v[2])
        )
        self.kube_provider = k8s.Provider(
            f"{n}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True,
            opts=self._opts(depends_on=[system, *a.deployer_path]),
        )


def log_group_key(owner: AiplatComponent, name: str, region: str, log_group: str, tags: dict[str, str],
                  protect: bool = False, opts: pulumi.ResourceOptions | None = None) -> aws.kms.Key:
    """A customer-managed key for one CloudWatch log group. The account administers it;
    CloudWatch Logs of ``region`` may use it only for that group (the encryption-context
    condition AWS documents for log group keys), since the default key policy does not let
    the logs service use a key at all."""
    base = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=owner), opts) if opts else \
        pulumi.ResourceOptions(parent=owner)
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=owner, provider=base.provider))
    policy = account.account_id.apply(lambda acct: json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudWatchLogs", "Effect": "Allow", "Principal": {"Service": f"logs.{region}.amazonaws.com"},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn":
                                         f"arn:aws:logs:{region}:{acct}:log-group:{log_group}"}}},
        ],
    }))
    return aws.kms.Key(
        name,
        description=f"CloudWatch Logs encryption of {log_group}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        tags=tags,
        opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(protect=protect)),
    )


def node_launch_template(owner: AiplatComponent, name: str, disk_size_gb: int, key_arn: pulumi.Input[str],
                         tags: dict[str, str]) -> aws.ec2.LaunchTemplate:
    """The launch template of a managed node group that needs no other settings: the root volume
    (gp3, ``disk_size_gb``: 20 is the size EKS gives groups without a template) encrypted with the cluster's node-disk key (a group without a launch
    template gets the account's default EBS key, or none); IMDSv2 only, with the hop limit of 2
    EKS gives groups without a template (add-on pods on these nodes read instance metadata)."""
    return aws.ec2.LaunchTemplate(
        name,
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
        ),
        block_device_mappings=encrypted_root_volume(disk_size_gb, key_arn),
        update_default_version=True,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=owner),
    )


def encrypted_root_volume(size_gb: pulumi.Input[int], key_arn: pulumi.Input[str]) -> list:
    """A node's root volume (``/dev/xvda``, the device of the EKS AMIs): gp3 of ``size_gb``, encrypted
    with the cluster's node-disk key, deleted with the instance."""
    return [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name="/dev/xvda",
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=size_gb, volume_type="gp3", encrypted="true", delete_on_termination="true",
            kms_key_id=key_arn,
        ),
    )]


def node_volume_key(owner: AiplatComponent, name: str, cluster_name: str, tags: dict[str, str],
                  protect: bool = False) -> aws.kms.Key:
    """A customer-managed key for the nodes' EBS root volumes. Managed node groups launch through
    EC2 Auto Scaling, whose service-linked role must use the key and create grants on it for the
    volumes it attaches (the key policy AWS documents for encrypted volumes of Auto Scaling groups)."""
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=owner))

    def policy(acct: str) -> str:
        asg = f"arn:aws:iam::{acct}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        return json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AutoScalingUse", "Effect": "Allow", "Principal": {"AWS": asg},
                 "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                 "Resource": "*"},
                {"Sid": "AutoScalingGrants", "Effect": "Allow", "Principal": {"AWS": asg},
                 "Action": "kms:CreateGrant", "Resource": "*",
                 "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
            ],
        })

    return aws.kms.Key(
        name,
        description=f"EBS root volumes of the nodes of {cluster_name}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=account.account_id.apply(policy),
        tags=tags,
        opts=pulumi.ResourceOptions(parent=owner, protect=protect),
    )


def _assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _kubeconfig(name: str, endpoint: str, ca: str, exec_: dict) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", **exec_}}}],
        }
    )


def _eks_kubeconfig(endpoint: str, ca: str, name: str, region: str) -> str:
    # Short-lived tokens from the caller's AWS identity; nothing long-lived in state.
    return _kubeconfig(
        name, endpoint, ca, {"command": "aws", "args": ["eks", "get-token", "--cluster-name", name, "--region", region]}
    )


def _gke_kubeconfig(endpoint: str, ca: str, name: str) -> str:
    return _kubeconfig(
        name, f"https://{endpoint}", ca, {"command": "gke-gcloud-auth-plugin", "provideClusterInfo": True}
    )
