"""security-baseline: encrypted storage, nothing public, authenticated routes, private
control planes in production, workload identity instead of static keys, protected state.

A stack policy: on AWS a bucket's encryption and public-access block are separate
resources that point at it, and an EKS cluster's workload identity is an OIDC provider
built from its issuer, so the checks need the whole graph. Links are followed through
property dependencies (ids are unknown during preview), else through known names.

Checks (each violation names the resource and the input to change):
- S3 buckets: an SSE configuration (KMS when ``requireCustomerManagedKeys``), a public
  access block with all four flags, no public ACL; GCS buckets: uniform access, public
  access prevention enforced, CMEK when required; no IAM binding to allUsers.
- EBS volumes and launch-template block devices encrypted; EKS secrets envelope
  encryption; EBS CSI storage classes with ``encrypted: "true"``.
- API Gateway routes/methods with an authorizer (``publicRoutes`` lists deliberate
  exceptions); GCP API Gateway OpenAPI operations with ``security``.
- In production, no cluster endpoint reachable from 0.0.0.0/0 (EKS public endpoint
  without CIDRs or with 0.0.0.0/0; GKE without private endpoint and authorized networks).
- No ``aws:iam/accessKey:AccessKey`` or GCP service-account keys; every EKS cluster has an
  IAM OIDC provider (IRSA) or the Pod Identity agent; GKE has Workload Identity.
- Stateful resources are ``protect``ed and not ``forceDestroy``; databases keep
  deletion protection.
"""

from __future__ import annotations

import base64
import ipaddress

import yaml
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy

from aiplat.policies._graph import StackGraph
from aiplat.policies._props import UNKNOWN, elements, get, truthy

NAME = "security-baseline"

S3_BUCKETS = ("aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket")
S3_SSE = ("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
          "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
S3_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ACL = ("aws:s3/bucketAclV2:BucketAclV2", "aws:s3/bucketAcl:BucketAcl")
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# GCP key rings are absent on purpose: GCP never deletes them (destroy only forgets them).
DEFAULT_STATEFUL = [
    "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:ebs/volume:Volume",
    "aws:efs/fileSystem:FileSystem", "aws:dynamodb/table:Table", "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster", "gcp:storage/bucket:Bucket", "gcp:kms/cryptoKey:CryptoKey",
    "gcp:compute/disk:Disk", "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:filestore/instance:Instance",
]
PRODUCTION = {"prod"}
def _open(cidrs: list) -> bool:
    """Whether an allow-list admits every address: 0.0.0.0/0 or ::/0 themselves, or ranges that
    together cover all of IPv4 (0.0.0.0/1 + 128.0.0.0/1, host bits set: 0.0.0.0/0 "equivalents")."""
    nets = []
    for c in cidrs:
        if not isinstance(c, str):
            continue
        try:
            net = ipaddress.ip_network(c.strip(), strict=False)
        except ValueError:
            continue
        if net.prefixlen == 0:
            return True
        if net.version == 4:
            nets.append(net)
    return ipaddress.IPv4Network("0.0.0.0/0") in list(ipaddress.collapse_addresses(nets))


class _Checks:
    def __init__(self, graph: StackGraph, config, report):
        self.g = graph
        self.cfg = config
        self._report = report
        self.require_cmk = bool(config.get("requireCustomerManagedKeys", True))
        self.production = config.get("environment", "prod") in PRODUCTION
        self.public_routes = set(config.get("publicRoutes", []))
        self.stateful = set(config.get("statefulTypes", DEFAULT_STATEFUL))

    def report(self, r: PolicyResource, message: str) -> None:
        self._report(f"{r.resource_type} {r.name}: {message}", r.urn)

    def pointing_at(self, target: PolicyResource, types, key: str = "bucket") -> list[PolicyResource]:
        return [r for r in self.g.of_type(*types) if self.g.references(r, key, target)]

    # -- storage ---------------------------------------------------------------------------
    def s3(self) -> None:
        for b in self.g.of_type(*S3_BUCKETS):
            inline = get(b.props, "serverSideEncryptionConfiguration", "rule",
                         "applyServerSideEncryptionByDefault", "sseAlgorithm")
            algos = [inline] if isinstance(inline, str) else []
            for sse in self.pointing_at(b, S3_SSE):
                for rule in elements(get(sse.props, "rules", default=[])):
                    algo = get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                    algos.append(algo)
            if not algos:
                self.report(b, "no server-side encryption configuration; add a "
                               "BucketServerSideEncryptionConfigurationV2 with sseAlgorithm aws:kms")
            elif self.require_cmk and not any(a is UNKNOWN or (isinstance(a, str) and a.startswith("aws:kms"))
                                              for a in algos):
                self.report(b, f"encrypted with {algos[0]!r}; use sseAlgorithm aws:kms with a customer-managed "
                               "KMS key (requireCustomerManagedKeys)")
            blocks = self.pointing_at(b, (S3_PAB,))
            if not blocks:
                self.report(b, "no BucketPublicAccessBlock; add one with " + ", ".join(f"{f}=true" for f in PAB_FLAGS))
            for pab in blocks:
                off = [f for f in PAB_FLAGS if get(pab.props, f) is not True]
                if off:
                    self.report(pab, f"public access not fully blocked; set {', '.join(f'{f}=true' for f in off)}")
            acl = get(b.props, "acl")
            if isinstance(acl, str) and acl in PUBLIC_ACLS:
                self.report(b, f"acl {acl!r} makes the bucket public; use 'private'")
        for a in self.g.of_type(*S3_ACL):
            acl = get(a.props, "acl")
            if isinstance(acl, str) and acl in PUBLIC_ACLS:
                self.report(a, f"acl {acl!r} makes the bucket public; use 'private'")

    def gcs(self) -> None:
        for b in self.g.of_type("gcp:storage/bucket:Bucket"):
            if get(b.props, "uniformBucketLevelAccess") is not True:
                self.report(b, "set uniformBucketLevelAccess=true (no per-object ACLs)")
            if get(b.props, "publicAccessPrevention") != "enforced":
                self.report(b, "set publicAccessPrevention='enforced'")
            if self.require_cmk and get(b.props, "encryption", "defaultKmsKeyName") is None:
                self.report(b, "no CMEK; set encryption.defaultKmsKeyName (requireCustomerManagedKeys)")
        for t in ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding"):
            for m in self.g.of_type(t):
                members = [get(m.props, "member")] + list(elements(get(m.props, "members", default=[])))
                public = [x for x in members if x in PUBLIC_MEMBERS]
                if public:
                    self.report(m, f"grants {public[0]} access: the bucket becomes public; grant a service account")

    def disks(self) -> None:
        for v in self.g.of_type("aws:ebs/volume:Volume"):
            if not truthy(get(v.props, "encrypted")):
                self.report(v, "set encrypted=true")
        for lt in self.g.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
            for i, bdm in enumerate(elements(get(lt.props, "blockDeviceMappings", default=[]))):
                ebs = get(bdm, "ebs")
                if ebs is not None and ebs is not UNKNOWN and not truthy(get(ebs, "encrypted")):
                    self.report(lt, f"blockDeviceMappings[{i}].ebs.encrypted is not true; set encrypted='true'")
        for sc in self.g.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
            if get(sc.props, "provisioner") == "ebs.csi.aws.com" and \
                    not truthy(get(sc.props, "parameters", "encrypted")):
                self.report(sc, "EBS volumes of this storage class are unencrypted; set parameters.encrypted='true'")
        for c in self.g.of_type("aws:eks/cluster:Cluster"):
            if get(c.props, "encryptionConfig") is None:
                self.report(c, "no envelope encryption of Kubernetes secrets; set encryptionConfig with a KMS key "
                               "and resources ['secrets']")

    # -- routes ----------------------------------------------------------------------------
    def routes(self) -> None:
        for r in self.g.of_type("aws:apigatewayv2/route:Route"):
            key = get(r.props, "routeKey")
            auth = get(r.props, "authorizationType", default="NONE")
            if auth == "NONE" and key not in self.public_routes:
                self.report(r, f"route {key!r} has no authorizer; set authorizationType JWT with an authorizerId")
        for m in self.g.of_type("aws:apigateway/method:Method"):
            if get(m.props, "authorization", default="NONE") == "NONE":
                self.report(m, "method has authorization NONE; use COGNITO_USER_POOLS, CUSTOM or AWS_IAM")
        for c in self.g.of_type("gcp:apigateway/apiConfig:ApiConfig"):
            for doc in elements(get(c.props, "openapiDocuments", default=[])):
                contents = get(doc, "document", "contents")
                path = get(doc, "document", "path", default="openapi")
                if not isinstance(contents, str):
                    continue
                try:
                    spec = yaml.safe_load(base64.b64decode(contents))
                except (ValueError, yaml.YAMLError):
                    self.report(c, f"{path} is not a base64 OpenAPI document; its routes cannot be checked")
                    continue
                global_sec = bool((spec or {}).get("security"))
                for route, ops in ((spec or {}).get("paths") or {}).items():
                    for verb, op in (ops or {}).items():
                        if isinstance(op, dict) and not (op.get("security") or global_sec) and \
                                f"{verb.upper()} {route}" not in self.public_routes:
                            self.report(c, f"{verb.upper()} {route} in {path} has no security requirement; add "
                                           "a JWT securityDefinition to it")

    # -- control planes --------------------------------------------------------------------
    def endpoints(self) -> None:
        if not self.production:
            return
        for c in self.g.of_type("aws:eks/cluster:Cluster"):
            public = get(c.props, "vpcConfig", "endpointPublicAccess", default=True)  # AWS default: public
            cidrs = list(elements(get(c.props, "vpcConfig", "publicAccessCidrs", default=[])))
            if public is True and (not cidrs or _open(cidrs)):
                self.report(c, "API endpoint open to 0.0.0.0/0 in production; set vpcConfig.endpointPublicAccess="
                               "false or list publicAccessCidrs")
        for c in self.g.of_type("gcp:container/cluster:Cluster"):
            private = get(c.props, "privateClusterConfig", "enablePrivateEndpoint") is True
            cidrs = [get(b, "cidrBlock") for b in elements(
                get(c.props, "masterAuthorizedNetworksConfig", "cidrBlocks", default=[]))]
            if not private and (not cidrs or _open(cidrs)):
                self.report(c, "control plane reachable from 0.0.0.0/0 in production; set privateClusterConfig."
                               "enablePrivateEndpoint=true or masterAuthorizedNetworksConfig.cidrBlocks")

    # -- identity --------------------------------------------------------------------------
    def identity(self) -> None:
        for k in self.g.of_type("aws:iam/accessKey:AccessKey"):
            self.report(k, "static IAM access key; use IRSA / EKS Pod Identity roles instead")
        for k in self.g.of_type("gcp:serviceaccount/key:Key"):
            self.report(k, "service-account key; use GKE Workload Identity instead")
        for c in self.g.of_type("aws:eks/cluster:Cluster"):
            oidc = self.g.dependents_of(c.urn, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
            agent = [a for a in self.g.dependents_of(c.urn, "aws:eks/addon:Addon")
                     if get(a.props, "addonName") == "eks-pod-identity-agent"]
            if not oidc and not agent:
                self.report(c, "no workload identity: add an IAM OIDC provider for the cluster issuer (IRSA) or the "
                               "eks-pod-identity-agent add-on")
        for c in self.g.of_type("gcp:container/cluster:Cluster"):
            if not get(c.props, "workloadIdentityConfig", "workloadPool"):
                self.report(c, "Workload Identity off; set workloadIdentityConfig.workloadPool "
                               "'<project>.svc.id.goog'")

    # -- state -----------------------------------------------------------------------------
    def state(self) -> None:
        for r in self.g.resources:
            if r.resource_type not in self.stateful:
                continue
            if not r.opts.protect:
                self.report(r, "stateful but not protected; register it with protect=True")
            if get(r.props, "forceDestroy") is True:
                self.report(r, "forceDestroy=true deletes its data with the resource; remove it")
            if r.resource_type in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster",
                                   "gcp:sql/databaseInstance:DatabaseInstance") and \
                    get(r.props, "deletionProtection") is not True:
                self.report(r, "set deletionProtection=true")


def validate(args, report_violation) -> None:
    checks = _Checks(StackGraph(args.resources), args.get_config(), report_violation)
    for check in (checks.s3, checks.gcs, checks.disks, checks.routes, checks.endpoints, checks.identity,
                  checks.state):
        check()


POLICY = StackValidationPolicy(
    name=NAME,
    description="Storage encrypted and private, routes authenticated, private control planes, no static keys, "
                "stateful resources protected.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "environment": {
                "type": "string",
                "enum": ["dev", "test", "staging", "prod"],
                "default": "prod",
                "description": "The stack's environment; prod forbids control planes open to 0.0.0.0/0. Default prod.",
            },
            "requireCustomerManagedKeys": {
                "type": "boolean",
                "default": True,
                "description": "Buckets must use KMS/CMEK keys, not provider-managed keys. Default true.",
            },
            "publicRoutes": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Route keys ('GET /health') deliberately served without auth. Default none.",
            },
            "statefulTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_STATEFUL,
                "description": "Types that hold data and must be protected. Default: buckets, keys, disks, databases.",
            },
        },
    ),
)
