"""Triton on an existing cluster: the aiplat TritonEndpoint without the rest of AiPlatform.

For a team that already runs EKS (with an IAM OIDC provider for IRSA) or GKE (with
Workload Identity) and a GPU node group: this program creates the model bucket, publishes
the served model versions into it from a repository built by ``aiplat models build``
(digests checked against the files before anything is created), the read-only workload
identity, and Triton with its Service, PDB, ServiceMonitor and KEDA ScaledObject in that
cluster, each Deployment waiting for the objects it loads. The cluster is reached through
the kubeconfig in config (a secret); the GPU pool is described by the labels/taints its
nodes already carry. KEDA, the prometheus-operator CRDs and the NVIDIA device plugin must
be installed.

Config (project namespace ``triton-on-existing-cluster``):
  kubeconfig (secret)      the cluster's kubeconfig
  cloud                    aws | gcp
  region                   the cluster's region (the bucket is created there)
  endpoint                 endpoint name (namespace triton-<endpoint>)
  bucketName               globally unique model bucket name
  oidcProviderArn, oidcIssuer   AWS: the cluster's IRSA OIDC provider and issuer (no scheme)
  gcpProject               GCP: the project (Workload Identity pool <project>.svc.id.goog)
  pool                     {name, nodeSelector, tolerations, gpusPerNode, maxGpus}
  models                   [{name, version, digest, canary: {version, digest, weight}}]
  modelRepository          a directory built by `aiplat models build`, relative to this program's
                           directory (Pulumi's working directory for it), or an existing
                           s3:// / gs:// prefix of <model>/v<version>/ repositories
  acceptUnverifiedDigests  true to deploy an existing prefix's digests unchecked (default false)
  minReplicas, maxReplicas, gpusPerReplica, queueTimeTargetMs   optional, defaults as TritonEndpointArgs
  tags                     {owner, team, cost-center, ...} on every taggable cloud resource
"""

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from aiplat.triton import TritonEndpoint, TritonEndpointArgs, TritonModel

config = pulumi.Config()
cloud = config.require("cloud")
region = config.require("region")
pool = config.require_object("pool")
defaults = TritonEndpointArgs.__dataclass_fields__

kube = k8s.Provider(
    "cluster",
    kubeconfig=config.require_secret("kubeconfig"),
    enable_server_side_apply=True,  # KEDA owns replicas; server-side apply leaves them alone
)
cloud_provider = (
    aws.Provider("cloud", region=region)
    if cloud == "aws"
    else gcp.Provider("cloud", project=config.require("gcpProject"), region=region)
)

models = [
    TritonModel(
        name=m["name"],
        version=int(m["version"]),
        digest=m["digest"],
        canary_version=int(m["canary"]["version"]) if m.get("canary") else None,
        canary_digest=m["canary"]["digest"] if m.get("canary") else None,
        canary_weight=int(m["canary"]["weight"]) if m.get("canary") else 0,
    )
    for m in config.require_object("models")
]

endpoint = TritonEndpoint(
    config.require("endpoint"),
    TritonEndpointArgs(
        cloud=cloud,
        region=region,
        endpoint=config.require("endpoint"),
        models=models,
        kube_provider=kube,
        bucket_name=config.require("bucketName"),
        model_repository=config.require("modelRepository"),
        accept_unverified_digests=config.get_bool("acceptUnverifiedDigests") or False,
        pool_name=pool["name"],
        node_selector=pool["nodeSelector"],
        tolerations=pool.get("tolerations", []),
        gpus_per_node=int(pool["gpusPerNode"]),
        max_gpus=int(pool["maxGpus"]),
        min_replicas=config.get_int("minReplicas") or defaults["min_replicas"].default,
        max_replicas=config.get_int("maxReplicas") or defaults["max_replicas"].default,
        gpus_per_replica=config.get_int("gpusPerReplica") or defaults["gpus_per_replica"].default,
        queue_time_target_ms=config.get_float("queueTimeTargetMs") or defaults["queue_time_target_ms"].default,
        oidc_provider_arn=config.get("oidcProviderArn"),
        oidc_issuer=config.get("oidcIssuer"),
        gcp_project=config.get("gcpProject"),
        tags=config.require_object("tags"),
    ),
    pulumi.ResourceOptions(provider=cloud_provider),
)

pulumi.export("namespace", endpoint.namespace)
pulumi.export("service", endpoint.service_name)
pulumi.export("deployments", endpoint.deployments)
pulumi.export("bucket_uri", endpoint.bucket_uri)
pulumi.export("models", endpoint.models)
pulumi.export("published", endpoint.published)
