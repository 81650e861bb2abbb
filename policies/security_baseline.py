"""security-baseline: encrypted storage, nothing public, authenticated routes, private
control planes in production, workload identity instead of static keys, protected state.

A stack policy: on AWS a bucket's encryption and public-access block are separate
resources that point at it, and an EKS cluster's workload identity is an OIDC provider
built from its issuer, so the checks need the whole graph. Links are followed through
property dependencies (ids are unknown during preview), else through known names.

Checks (each violation names the resource and the input to change):
- S3 buckets: an SSE configuration (KMS with a customer key when ``requireCustomerManagedKeys``;
  SSE-S3 only on the program's log buckets, ``audit.log_buckets``, because S3 server access
  logs and ELB access logs are delivered to nothing else), a public
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
import json
import re
from collections.abc import Sequence

import yaml
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy

from aiplat.policies import _judge, _schema, audit
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
PRODUCTION = {"prod", "staging"}  # staging enforces like prod
# Address space that is not the public Internet (RFC 1918, CGNAT, loopback, link-local,
# documentation, benchmarking; IPv6 ULA, link-local, loopback, documentation).
NON_PUBLIC = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15",
    "fc00::/7", "fe80::/10", "::1/128", "2001:db8::/32")]
KMS_KEY_TYPES = ("aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey", "aws:kms/externalKey:ExternalKey",
                 "aws:kms/alias:Alias", "gcp:kms/cryptoKey:CryptoKey")
# Input names that carry a customer key (read from every type's schema, not a list of types).
KEY_INPUTS = frozenset({"kmskeyid", "kmskeyarn", "kmskeyname", "kmskey", "kmsmasterkeyid", "kmskeyselflink",
                        "defaultkmskeyname", "keyarn", "bootdiskkmskey", "kmskeyidentifier", "kmsencryptionkey",
                        "kmskeyversionname", "encryptionkeyarn", "encryptionkeyname", "cryptokeyname"})
# Objects inherit their bucket's default encryption, which is judged on the bucket.
INHERITS_ENCRYPTION = {"aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject",
                       "gcp:storage/bucketObject:BucketObject"}
# Inputs that carry an allow-list or a public exposure a policy must read.
EXPOSURE_INPUTS = frozenset({"cidrblocks", "ipv6cidrblocks", "cidripv4", "cidripv6", "sourceranges",
                             "publicaccesscidrs", "srcipranges", "publiclyaccessible", "associatepublicipaddress",
                             "authorizationtype", "authorization", "allowexternaltraffic", "acl",
                             "mapPublicIpOnLaunch".lower()})
ARN_KMS = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$")
GCP_KMS = re.compile(r"^(//cloudkms\.googleapis\.com/)?projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+")
RESTRICTING_CONDITIONS = {"aws:sourcearn", "aws:sourceaccount", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceip",
                          "aws:principalorgid", "aws:principalaccount", "aws:principalarn", "aws:sourceorgid",
                          "aws:userid", "aws:principalorgpaths"}
INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
}
INTERNAL_INGRESS_ANNOTATIONS = {"alb.ingress.kubernetes.io/scheme": "internal",
                                "kubernetes.io/ingress.class": "gce-internal"}
# Kubernetes custom resources that carry no storage, allow-list or exposure of their own.
K8S_NOT_APPLICABLE_GROUPS = {"monitoring.coreos.com": "Prometheus scrape and rule objects",
                             "keda.sh": "autoscaling objects",
                             "elbv2.k8s.aws": "target group bindings attach pods to a load balancer judged itself",
                             "policy": "disruption budgets", "autoscaling": "autoscalers",
                             "rbac.authorization.k8s.io": "RBAC objects", "scheduling.k8s.io": "priority classes",
                             "apiextensions.k8s.io": "CRD definitions", "coordination.k8s.io": "leases"}


def _public_part(cidr: str, trusted: list) -> str | None:
    """The first public (Internet) range an allow-list entry admits beyond ``trusted``; None if none.
    Raises ValueError for a value that is not a CIDR."""
    net = ipaddress.ip_network(cidr.strip(), strict=False)
    safe = [n for n in NON_PUBLIC + trusted if n.version == net.version]
    pending = [net]
    while pending:
        cur = pending.pop()
        if any(cur.subnet_of(s) for s in safe):
            continue
        overlapping = [s for s in safe if s.subnet_of(cur)]
        if not overlapping:
            return str(cur)
        # split around the safe ranges inside it and look at what is left
        s = overlapping[0]
        pending.extend(cur.address_exclude(s))
    return None


def _open(cidrs: list) -> bool:
    """Whether an allow-list admits every address (kept for callers reading the union)."""
    nets = []
    for c in cidrs:
        try:
            nets.append(ipaddress.ip_network(str(c).strip(), strict=False))
        except ValueError:
            continue
    for version, everything in ((4, ipaddress.ip_network("0.0.0.0/0")), (6, ipaddress.ip_network("::/0"))):
        if everything in list(ipaddress.collapse_addresses([n for n in nets if n.version == version])):
            return True
    return False


def _policy_public(doc) -> list[str]:
    """Sids (or indexes) of Allow statements open to Principal "*" without a restricting condition."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    out = []
    for i, st in enumerate(statements):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        star = principal == "*" or (isinstance(principal, dict) and any(
            v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values()))
        if not star:
            continue
        keys = {k.lower() for cond in (st.get("Condition") or {}).values() if isinstance(cond, dict) for k in cond}
        if not keys & RESTRICTING_CONDITIONS:
            out.append(str(st.get("Sid") or f"Statement[{i}]"))
    return out


def key_paths(resource_type: str) -> list[tuple[str, ...]]:
    sc = _schema.schema(resource_type)
    if sc is None:
        return []
    return sc.matching(lambda n: n.lower() in KEY_INPUTS or (n == "keyName" and False))


def _key_paths_with_parent(resource_type: str) -> list[tuple[str, ...]]:
    sc = _schema.schema(resource_type)
    if sc is None:
        return []
    return sorted(p for p in sc.paths if p[-1].lower() in KEY_INPUTS or
                  (p[-1] == "keyName" and len(p) > 1 and "ncryption" in p[-2]))


def coverage(resource_type: str) -> _judge.Coverage:
    if resource_type in JUDGED:
        return _judge.Coverage.judged()
    parts = resource_type.split(":")
    if resource_type.startswith("pulumi:") or (len(parts) == 3 and "/" not in parts[1] and
                                                parts[0] not in _schema.PACKAGES):
        return _judge.Coverage.not_applicable("a component or provider: its children are judged, not it")
    if resource_type.startswith("kubernetes:"):
        group = parts[1].rpartition("/")[0] if len(parts) == 3 else ""
        if group in ("core", "") or group in ("apps", "batch", "storage.k8s.io") or group in K8S_NOT_APPLICABLE_GROUPS:
            if group == "networking.k8s.io":
                return _judge.Coverage.judged()
            return _judge.Coverage.not_applicable("holds no cloud storage, allow-list or public exposure itself "
                                                  "(Services and Ingresses are judged; workloads by the workload "
                                                  "policy)")
        if group == "networking.k8s.io":
            return _judge.Coverage.judged()
        return _judge.Coverage.cannot_judge(f"a Kubernetes {group or 'core'} object whose exposure (a load balancer, "
                                            "a gateway, rendered objects) the policy cannot read")
    sc = _schema.schema(resource_type)
    if sc is None:
        if parts[0] in ("random", "tls"):
            return _judge.Coverage.not_applicable("a value generated in the program, nothing in a cloud")
        return _judge.Coverage.cannot_judge("no provider schema is known for the type")
    if resource_type in INHERITS_ENCRYPTION or _key_paths_with_parent(resource_type):
        return _judge.Coverage.judged()  # the generic customer-key check
    hits = sc.matching(lambda n: n.lower() in EXPOSURE_INPUTS)
    if hits:
        return _judge.Coverage.cannot_judge(f"it carries an allow-list or public exposure "
                                            f"({', '.join('.'.join(h) for h in hits[:3])}) the policy does not read")
    return _judge.Coverage.not_applicable("its schema has no customer-key, allow-list or public-exposure input")


JUDGED = frozenset({
    *S3_BUCKETS, *S3_SSE, S3_PAB, *S3_ACL, "aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
    "gcp:storage/bucket:Bucket", "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding", "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
    "aws:ebs/volume:Volume", "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance",
    "aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster",
    "aws:ec2/securityGroup:SecurityGroup", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule", "aws:ec2/networkAcl:NetworkAcl",
    "aws:ec2/networkAclRule:NetworkAclRule", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
    "aws:wafv2/ipSet:IpSet", "gcp:compute/firewall:Firewall",
    "aws:apigatewayv2/route:Route", "aws:apigateway/method:Method", "gcp:apigateway/apiConfig:ApiConfig",
    "gcp:endpoints/service:Service", "aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer",
    "aws:iam/accessKey:AccessKey", "gcp:serviceaccount/key:Key",
    "kubernetes:core/v1:Service", "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:storage.k8s.io/v1:StorageClass", "aws:ec2/subnet:Subnet",
    # Cloud Armor only narrows the load balancer it is attached to: its allow rules cannot widen exposure.
    "gcp:compute/securityPolicy:SecurityPolicy",
})


class _Checks:
    def __init__(self, graph: StackGraph, config, report):
        self.g = graph
        self.cfg = config
        self._report = report
        self.require_cmk = bool(config.get("requireCustomerManagedKeys", True))
        self.environment = config["environment"]
        self.production = self.environment in PRODUCTION
        self.public_routes = {(i["api"], i["route"]) for i in config.get("publicRoutes", [])}
        self.trusted = [ipaddress.ip_network(c, strict=False) for c in config.get("trustedCidrs", [])]
        self.provider_keys = set(config.get("providerManagedKeyTypes", []))
        self.stateful = set(config.get("statefulTypes", DEFAULT_STATEFUL))
        self.allowed = list(config.get(_judge.ALLOWED_TYPES, []))
        self.log_buckets = audit.log_buckets(graph)  # may use SSE-S3: log delivery supports nothing else

    def report(self, r: PolicyResource, message: str) -> None:
        self._report(f"{r.resource_type} {r.name}: {message}", r.urn)

    def unjudged(self, r: PolicyResource, reason: str) -> None:
        _judge.report_unjudged(NAME, r.resource_type, r.name, reason, self.allowed, self._report, r.urn)

    def pointing_at(self, target: PolicyResource, types, key: str = "bucket") -> list[PolicyResource]:
        return [r for r in self.g.of_type(*types) if self.g.references(r, key, target)]

    # -- coverage --------------------------------------------------------------------------
    def coverage(self) -> None:
        for r in self.g.resources:
            cov = coverage(r.resource_type)
            if cov.kind == "cannot-judge":
                self.unjudged(r, cov.reason)

    # -- customer keys ---------------------------------------------------------------------
    def customer_key(self, r: PolicyResource, key: str, value) -> str | None:
        """None when ``value`` (input ``key``) names a customer-managed key, else why not."""
        deps = self.g.property_deps(r, key)
        if any(d.resource_type in KMS_KEY_TYPES for d in deps):
            return None
        if value is UNKNOWN:
            return f"{key} is unknown at preview and points at no KMS key resource of the program"
        if isinstance(value, str) and (ARN_KMS.match(value) or GCP_KMS.match(value)):
            if "alias/aws/" in value:
                return f"{key} names an AWS-managed key ({value}), not a customer-managed one"
            return None
        if value in (None, ""):
            return f"{key} is not set"
        return f"{key} {value!r} is not a KMS key (no key resource, no key ARN/resource name)"

    def keys(self) -> None:
        """Every type whose schema carries a customer-key input holds data at rest: one of its key
        inputs must name a customer-managed key (unless the config lets the type use the provider's)."""
        if not self.require_cmk:
            return
        # An EKS node group has no key input of its own: its root volumes take the launch template's key,
        # and without a launch template the account's default EBS key (or none).
        if "aws:eks/nodeGroup:NodeGroup" not in self.provider_keys:
            for r in self.g.of_type("aws:eks/nodeGroup:NodeGroup"):
                if get(r.props, "launchTemplate") is None:
                    self.report(r, "root volumes not encrypted with a customer-managed key (no launchTemplate: EKS "
                                   "uses the account's default EBS key); set launchTemplate to a launch template whose "
                                   "blockDeviceMappings[].ebs.kmsKeyId is a KMS key of the program (or list the type "
                                   "in providerManagedKeyTypes on purpose)")
        for r in self.g.resources:
            paths = _key_paths_with_parent(r.resource_type)
            if not paths or r.resource_type in self.provider_keys or r.resource_type in INHERITS_ENCRYPTION:
                continue
            if r.resource_type in S3_BUCKETS or r.resource_type in S3_SSE or r.resource_type in (
                    "aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster", "gcp:storage/bucket:Bucket"):
                continue  # judged by their own checks below (separate resources, required sub-settings)
            values = []
            for path in paths:
                for _p, v in walk_path(r.props, path):
                    values.append((path, v))
            why = [self.customer_key(r, path[0], v) for path, v in values]
            if not values or all(w is not None for w in why):
                reasons = "; ".join(w for w in why if w) or "no key input is set"
                names = ", ".join(".".join(p) for p in paths[:3])
                if any(v is UNKNOWN for _p, v in values) and not any(
                        d.resource_type in KMS_KEY_TYPES for p in paths for d in self.g.property_deps(r, p[0])):
                    self.unjudged(r, f"its customer key is unknown at preview ({names})")
                    continue
                self.report(r, f"not encrypted with a customer-managed key ({reasons}); set {names} to a KMS key "
                               "of the program (or list the type in providerManagedKeyTypes on purpose)")

    # -- storage ---------------------------------------------------------------------------
    def s3(self) -> None:
        account_pab = [a for a in self.g.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
                       if all(get(a.props, f) is True for f in PAB_FLAGS)]
        for b in self.g.of_type(*S3_BUCKETS):
            rules = []
            inline = get(b.props, "serverSideEncryptionConfiguration", "rule")
            if isinstance(inline, dict):
                rules.append((b, inline))
            for sse in self.pointing_at(b, S3_SSE):
                for rule in list(elements(get(sse.props, "rules", default=[]))) + \
                        ([get(sse.props, "rule")] if get(sse.props, "rule") else []):
                    rules.append((sse, rule))
            if not rules:
                self.report(b, "no server-side encryption configuration; add a "
                               "BucketServerSideEncryptionConfigurationV2 with sseAlgorithm aws:kms and a "
                               "customer-managed KMS key")
            elif self.require_cmk:
                problems = []
                for owner, rule in rules:
                    algo = get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                    key = get(rule, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
                    if algo is UNKNOWN:
                        problems.append("sseAlgorithm unknown at preview")
                    elif not (isinstance(algo, str) and algo.startswith("aws:kms")):
                        problems.append(f"encrypted with {algo!r}; use sseAlgorithm aws:kms")
                    else:
                        key_dep = "rules" if owner is not b else "serverSideEncryptionConfiguration"
                        why = self.customer_key(owner, key_dep, key)
                        if why is not None:
                            problems.append(f"aws:kms without a customer-managed key (kmsMasterKeyId: "
                                            f"{why.split(' ', 1)[1] if why else ''})")
                if len(problems) == len(rules) and not (b.urn in self.log_buckets and all(
                        get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") == "AES256"
                        for _owner, rule in rules)):
                    self.report(b, f"{problems[0]} with a customer-managed KMS key of the program "
                                   "(requireCustomerManagedKeys)")
            blocks = self.pointing_at(b, (S3_PAB,))
            if not blocks and not account_pab:
                self.report(b, "no BucketPublicAccessBlock; add one with " + ", ".join(f"{f}=true" for f in PAB_FLAGS))
            acl = get(b.props, "acl")
            if isinstance(acl, str) and acl in PUBLIC_ACLS:
                self.report(b, f"acl {acl!r} makes the bucket public; use 'private'")
            policy = get(b.props, "policy")
            if isinstance(policy, str) and policy:
                self.public_policy(b, policy, "policy")
        for pab in self.g.of_type(S3_PAB):
            off = [f for f in PAB_FLAGS if get(pab.props, f) is not True]
            if off:
                self.report(pab, f"public access not fully blocked; set {', '.join(f'{f}=true' for f in off)}")
        for a in self.g.of_type(*S3_ACL):
            acl = get(a.props, "acl")
            grants = get(a.props, "accessControlPolicy", "grants", default=[])
            public_grant = any("AllUsers" in str(get(gr, "grantee", "uri", default="")) or
                               "AuthenticatedUsers" in str(get(gr, "grantee", "uri", default=""))
                               for gr in elements(grants))
            if (isinstance(acl, str) and acl in PUBLIC_ACLS) or public_grant:
                self.report(a, f"acl {acl or 'grant'!r} makes the bucket public; use 'private'")

    def public_policy(self, r: PolicyResource, policy, key: str) -> None:
        if policy is UNKNOWN:
            self.unjudged(r, f"{key} is unknown at preview")
            return
        try:
            public = _policy_public(policy)
        except (ValueError, AttributeError, TypeError):
            self.report(r, f"{key} is not a JSON policy document; it cannot be checked for Principal \"*\"")
            return
        if public:
            self.report(r, f"{key} allows Principal \"*\" without a restricting condition ({', '.join(public)}): "
                           "the resource is public; name the principals or add an aws:SourceVpce/"
                           "aws:PrincipalOrgID condition")

    def policies(self) -> None:
        """Any resource with a JSON ``policy`` input (bucket, topic, queue, key, endpoint policies)."""
        for r in self.g.resources:
            if r.resource_type.startswith(("aws:iam/", "pulumi:")) or not r.resource_type.startswith("aws:"):
                continue
            if r.resource_type in S3_BUCKETS:
                continue
            if "policy" in r.props:
                value = get(r.props, "policy")
                if value is not None:
                    self.public_policy(r, value, "policy")

    def gcs(self) -> None:
        for b in self.g.of_type("gcp:storage/bucket:Bucket"):
            if get(b.props, "uniformBucketLevelAccess") is not True:
                self.report(b, "set uniformBucketLevelAccess=true (no per-object ACLs)")
            if get(b.props, "publicAccessPrevention") != "enforced":
                self.report(b, "set publicAccessPrevention='enforced'")
            if self.require_cmk:
                why = self.customer_key(b, "encryption", get(b.props, "encryption", "defaultKmsKeyName"))
                if why is not None:
                    self.report(b, f"no CMEK ({why.replace('encryption', 'encryption.defaultKmsKeyName', 1)}); set "
                                   "encryption.defaultKmsKeyName to a KMS key of the program "
                                   "(requireCustomerManagedKeys)")
        for t in ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding"):
            for m in self.g.of_type(t):
                members = [get(m.props, "member")] + list(elements(get(m.props, "members", default=[])))
                public = [x for x in members if x in PUBLIC_MEMBERS]
                if public:
                    self.report(m, f"grants {public[0]} access: the bucket becomes public; grant a service account")
        for m in self.g.of_type("gcp:storage/bucketIAMPolicy:BucketIAMPolicy"):
            data = get(m.props, "policyData")
            if isinstance(data, str) and any(x in data for x in PUBLIC_MEMBERS):
                self.report(m, "policyData grants allUsers/allAuthenticatedUsers: the bucket becomes public")

    def disks(self) -> None:
        for v in self.g.of_type("aws:ebs/volume:Volume"):
            if not truthy(get(v.props, "encrypted")):
                self.report(v, "set encrypted=true")
        for lt in self.g.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
            for i, bdm in enumerate(elements(get(lt.props, "blockDeviceMappings", default=[]))):
                ebs = get(bdm, "ebs")
                if ebs is not None and ebs is not UNKNOWN and not truthy(get(ebs, "encrypted")):
                    self.report(lt, f"blockDeviceMappings[{i}].ebs.encrypted is not true; set encrypted='true'")
        for inst in self.g.of_type("aws:ec2/instance:Instance"):
            devices = [("rootBlockDevice", get(inst.props, "rootBlockDevice", default={}))] + [
                (f"ebsBlockDevices[{i}]", d) for i, d in enumerate(elements(get(inst.props, "ebsBlockDevices", default=[])))]
            for where, dev in devices:
                if get(dev, "encrypted") is not True:
                    self.report(inst, f"{where}.encrypted is not true; set encrypted=true with a kmsKeyId")
            if get(inst.props, "associatePublicIpAddress") is True and self.production:
                self.report(inst, "associatePublicIpAddress=true puts the instance on the Internet in production")
        for sc in self.g.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
            if get(sc.props, "provisioner") == "ebs.csi.aws.com" and \
                    not truthy(get(sc.props, "parameters", "encrypted")):
                self.report(sc, "EBS volumes of this storage class are unencrypted; set parameters.encrypted='true'")
        for c in self.g.of_type("aws:eks/cluster:Cluster"):
            configs = [x for x in elements(get(c.props, "encryptionConfig", default=[]))] \
                if isinstance(get(c.props, "encryptionConfig"), list) else [get(c.props, "encryptionConfig")]
            configs = [x for x in configs if x]
            ok = any("secrets" in list(elements(get(x, "resources", default=[]))) and
                     self.customer_key(c, "encryptionConfig", get(x, "provider", "keyArn")) is None for x in configs)
            if not ok:
                self.report(c, "no envelope encryption of Kubernetes secrets with a customer-managed key; set "
                               "encryptionConfig with provider.keyArn a KMS key and resources ['secrets']")
        for c in self.g.of_type("gcp:container/cluster:Cluster"):
            state = get(c.props, "databaseEncryption", "state")
            why = self.customer_key(c, "databaseEncryption", get(c.props, "databaseEncryption", "keyName"))
            if state != "ENCRYPTED" or why is not None:
                self.report(c, "Kubernetes secrets not encrypted with a customer-managed key; set databaseEncryption "
                               "state ENCRYPTED with keyName a KMS key of the program")

    # -- allow-lists -----------------------------------------------------------------------
    def allow_list(self, r: PolicyResource, where: str, cidrs) -> None:
        """In production, refuse an allow-list that admits any Internet address outside trustedCidrs."""
        if cidrs is UNKNOWN:
            self.unjudged(r, f"{where} is unknown at preview")
            return
        for c in cidrs:
            if c is UNKNOWN:
                self.unjudged(r, f"a CIDR of {where} is unknown at preview")
                continue
            if not isinstance(c, str):
                continue
            try:
                public = _public_part(c, self.trusted)
            except ValueError:
                self.report(r, f"{where} {c!r} is not a CIDR")
                continue
            if public is not None and self.production:
                self.report(r, f"{where} {c} admits the public Internet ({public}) in production; allow private "
                               "ranges or list the trusted source in trustedCidrs")

    def networks(self) -> None:
        for sg in self.g.of_type("aws:ec2/securityGroup:SecurityGroup"):
            for i, rule in enumerate(elements(get(sg.props, "ingress", default=[]))):
                if rule is UNKNOWN:
                    self.unjudged(sg, f"ingress[{i}] is unknown at preview")
                    continue
                for key in ("cidrBlocks", "ipv6CidrBlocks"):
                    self.allow_list(sg, f"ingress[{i}].{key}", _items(get(rule, key, default=[])))
        for rule in self.g.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
            for key in ("cidrIpv4", "cidrIpv6"):
                value = get(rule, key) if False else get(rule.props, key)
                if value is not None:
                    self.allow_list(rule, key, [value])
        for rule in self.g.of_type("aws:ec2/securityGroupRule:SecurityGroupRule"):
            if get(rule.props, "type") == "ingress":
                for key in ("cidrBlocks", "ipv6CidrBlocks"):
                    self.allow_list(rule, key, _items(get(rule.props, key, default=[])))
        for acl in self.g.of_type("aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"):
            for i, rule in enumerate(elements(get(acl.props, "ingress", default=[]))):
                if get(rule, "action") == "allow":
                    for key in ("cidrBlock", "ipv6CidrBlock"):
                        if get(rule, key):
                            self.allow_list(acl, f"ingress[{i}].{key}", [get(rule, key)])
        for rule in self.g.of_type("aws:ec2/networkAclRule:NetworkAclRule"):
            if get(rule.props, "egress") is not True and get(rule.props, "ruleAction") == "allow":
                for key in ("cidrBlock", "ipv6CidrBlock"):
                    if get(rule.props, key):
                        self.allow_list(rule, key, [get(rule.props, key)])
        for ipset in self.g.of_type("aws:wafv2/ipSet:IpSet"):
            addrs = get(ipset.props, "addresses", default=[])
            if addrs is UNKNOWN:
                self.unjudged(ipset, "addresses unknown at preview")
            elif _open(list(elements(addrs))):
                self.report(ipset, "addresses cover every address (0.0.0.0/0 or ::/0): an allow rule on it admits the "
                                   "whole Internet")
        for sn in self.g.of_type("aws:ec2/subnet:Subnet"):
            public_ip = get(sn.props, "mapPublicIpOnLaunch")
            if public_ip is UNKNOWN:
                self.unjudged(sn, "mapPublicIpOnLaunch unknown at preview")
            elif public_ip is True and self.production:
                self.report(sn, "mapPublicIpOnLaunch=true gives every instance launched here a public IP in "
                                "production; set it false (NAT gateways use Elastic IPs)")
        for fw in self.g.of_type("gcp:compute/firewall:Firewall"):
            if get(fw.props, "direction", default="INGRESS") != "INGRESS" or get(fw.props, "disabled") is True:
                continue
            if not list(elements(get(fw.props, "allows", default=[]))):
                continue
            ranges = get(fw.props, "sourceRanges")
            if ranges is None and not get(fw.props, "sourceTags") and not get(fw.props, "sourceServiceAccounts"):
                ranges = ["0.0.0.0/0"]  # GCP's default source for an ingress rule without sources
            self.allow_list(fw, "sourceRanges", _items(ranges) if ranges is not UNKNOWN else UNKNOWN)

    # -- routes and exposure ---------------------------------------------------------------
    def api_name(self, r: PolicyResource) -> str | None:
        for d in self.g.property_deps(r, "apiId"):
            return get(d.props, "name") or d.name
        value = get(r.props, "apiId")
        for api in self.g.of_type("aws:apigatewayv2/api:Api"):
            if value in (api.name, get(api.props, "name"), get(api.props, "id")):
                return get(api.props, "name") or api.name
        return value if isinstance(value, str) else None

    def routes(self) -> None:
        for r in self.g.of_type("aws:apigatewayv2/route:Route"):
            key = get(r.props, "routeKey")
            auth = get(r.props, "authorizationType", default="NONE")
            if auth is UNKNOWN or key is UNKNOWN:
                self.unjudged(r, "authorizationType or routeKey unknown at preview")
                continue
            if auth == "NONE" and (self.api_name(r), key) not in self.public_routes:
                self.report(r, f"route {key!r} of API {self.api_name(r)!r} has no authorizer; set authorizationType "
                               "JWT with an authorizerId (or list {api, route} in publicRoutes on purpose)")
        for m in self.g.of_type("aws:apigateway/method:Method"):
            auth = get(m.props, "authorization", default="NONE")
            if auth in ("NONE", UNKNOWN) and get(m.props, "httpMethod") != "OPTIONS":
                self.report(m, "method has authorization NONE; use COGNITO_USER_POOLS, CUSTOM or AWS_IAM")
        for c in self.g.of_type("gcp:apigateway/apiConfig:ApiConfig"):
            for doc in elements(get(c.props, "openapiDocuments", default=[])):
                contents = get(doc, "document", "contents")
                path = get(doc, "document", "path", default="openapi")
                if not isinstance(contents, str):
                    self.unjudged(c, f"{path} contents unknown at preview")
                    continue
                try:
                    spec = yaml.safe_load(base64.b64decode(contents))
                except (ValueError, yaml.YAMLError):
                    self.report(c, f"{path} is not a base64 OpenAPI document; its routes cannot be checked")
                    continue
                self.openapi(c, spec, path)
        for s in self.g.of_type("gcp:endpoints/service:Service"):
            text = get(s.props, "openapiConfig")
            if text is UNKNOWN:
                self.unjudged(s, "openapiConfig unknown at preview")
                continue
            if not isinstance(text, str):
                if get(s.props, "grpcConfig") is not None:
                    self.unjudged(s, "gRPC service configs are not read")
                continue
            try:
                spec = yaml.safe_load(text)
            except yaml.YAMLError:
                self.report(s, "openapiConfig is not YAML/JSON; its operations cannot be checked")
                continue
            self.openapi(s, spec, "openapiConfig")

    def openapi(self, r: PolicyResource, spec, path: str) -> None:
        spec = spec if isinstance(spec, dict) else {}
        global_sec = bool(spec.get("security"))
        api = spec.get("host") or (spec.get("info") or {}).get("title") or r.name
        for route, ops in (spec.get("paths") or {}).items():
            for verb, op in (ops or {}).items():
                if verb.lower() not in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                    continue
                sec = op.get("security") if isinstance(op, dict) else None
                secured = bool(sec) if sec is not None else global_sec
                if not secured and (api, f"{verb.upper()} {route}") not in self.public_routes and \
                        (r.name, f"{verb.upper()} {route}") not in self.public_routes:
                    self.report(r, f"{verb.upper()} {route} in {path} of API {api!r} has no security requirement; "
                                   "add a JWT securityDefinition to it (or list {api, route} in publicRoutes)")

    def exposure(self) -> None:
        for svc in self.g.of_type("kubernetes:core/v1:Service"):
            kind = get(svc.props, "spec", "type")
            if kind is UNKNOWN:
                self.unjudged(svc, "spec.type unknown at preview")
                continue
            annotations = get(svc.props, "metadata", "annotations", default={})
            if kind == "LoadBalancer" and not _annotated(annotations, INTERNAL_LB_ANNOTATIONS):
                self.report(svc, "type LoadBalancer without an internal-scheme annotation gets a public load balancer "
                                 "in front of the pods, bypassing the authenticated gateway; use ClusterIP behind the "
                                 "gateway or annotate it internal")
            if kind == "NodePort" and self.production:
                self.report(svc, "type NodePort opens the port on every node; use ClusterIP behind the gateway")
        for ing in self.g.of_type("kubernetes:networking.k8s.io/v1:Ingress"):
            annotations = get(ing.props, "metadata", "annotations", default={})
            cls = get(ing.props, "spec", "ingressClassName")
            internal = _annotated(annotations, INTERNAL_INGRESS_ANNOTATIONS) or cls == "gce-internal"
            if not internal:
                self.report(ing, "an Ingress gets an Internet-facing load balancer in front of the pods, bypassing "
                                 "the authenticated gateway; route through the gateway or make it internal")
        for lb in self.g.of_type("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"):
            internal = get(lb.props, "internal")
            if internal is UNKNOWN:
                self.unjudged(lb, "internal unknown at preview")
            elif internal is not True:
                self.report(lb, "internet-facing load balancer (internal is not true): it exposes its targets "
                                "without the gateway's authentication; set internal=true behind the API gateway")

    # -- control planes --------------------------------------------------------------------
    def endpoints(self) -> None:
        for c in self.g.of_type("aws:eks/cluster:Cluster"):
            public = get(c.props, "vpcConfig", "endpointPublicAccess", default=True)  # AWS default: public
            if public is UNKNOWN:
                self.unjudged(c, "vpcConfig.endpointPublicAccess unknown at preview")
            elif public is True:
                cidrs = get(c.props, "vpcConfig", "publicAccessCidrs", default=[])
                cidrs = _items(cidrs) if cidrs is not UNKNOWN else UNKNOWN
                self.allow_list(c, "vpcConfig.publicAccessCidrs", cidrs if cidrs == UNKNOWN or cidrs
                                else ["0.0.0.0/0"])  # an empty list means 0.0.0.0/0
        for c in self.g.of_type("gcp:container/cluster:Cluster"):
            private = get(c.props, "privateClusterConfig", "enablePrivateEndpoint") is True
            if not private:
                man = get(c.props, "masterAuthorizedNetworksConfig")
                if man is None:
                    self.allow_list(c, "masterAuthorizedNetworksConfig", ["0.0.0.0/0"])
                elif man is UNKNOWN:
                    self.unjudged(c, "masterAuthorizedNetworksConfig unknown at preview")
                else:
                    blocks = get(man, "cidrBlocks", default=[])
                    cidrs = UNKNOWN if blocks is UNKNOWN else [get(b, "cidrBlock") for b in elements(blocks)]
                    self.allow_list(c, "masterAuthorizedNetworksConfig.cidrBlocks", cidrs)
                    if get(man, "gcpPublicCidrsAccessEnabled") is True and self.production:
                        self.report(c, "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled admits every "
                                       "Google Cloud public IP in production; turn it off")
            dns = get(c.props, "controlPlaneEndpointsConfig", "dnsEndpointConfig", "allowExternalTraffic")
            if dns is UNKNOWN:
                self.unjudged(c, "controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic unknown at preview")
            elif dns is True and self.production:
                self.report(c, "the control plane's DNS endpoint allows external traffic in production; set "
                               "controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic=false")

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
            if self.environment in ("prod", "staging") and not r.opts.protect:  # dev is rebuilt on purpose
                self.report(r, "stateful but not protected; register it with protect=True")
            if get(r.props, "forceDestroy") is True:
                self.report(r, "forceDestroy=true deletes its data with the resource; remove it")
            if r.resource_type in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster",
                                   "gcp:sql/databaseInstance:DatabaseInstance") and \
                    get(r.props, "deletionProtection") is not True:
                self.report(r, "set deletionProtection=true")


def _items(value) -> list:
    return list(elements(value)) if value is not UNKNOWN else UNKNOWN


def _annotated(annotations, wanted: dict[str, str]) -> bool:
    return any(str(get(annotations, k, default="")).lower() == v for k, v in wanted.items())


def walk_path(props, path: tuple[str, ...], prefix: tuple = ()):
    """(path, value) of every value at a schema path, through lists; absent branches yield nothing."""
    if not path:
        yield prefix, props
        return
    if props is UNKNOWN:
        yield prefix, UNKNOWN
        return
    if isinstance(props, Sequence) and not isinstance(props, (str, bytes)):
        for i, item in enumerate(elements(props)):
            yield from walk_path(item, path, prefix + (i,))
        return
    value = get(props, path[0])
    if value is None:
        return
    yield from walk_path(value, path[1:], prefix + (path[0],))


def validate(args, report_violation) -> None:
    checks = _Checks(StackGraph(args.resources), args.get_config(), report_violation)
    for check in (checks.coverage, checks.s3, checks.policies, checks.gcs, checks.disks, checks.keys,
                  checks.networks, checks.routes, checks.exposure, checks.endpoints, checks.identity, checks.state):
        check()


POLICY = StackValidationPolicy(
    name=NAME,
    description="Storage encrypted with customer keys and private, allow-lists closed to the Internet in "
                "production, every route authenticated, nothing exposed around the gateway, private control "
                "planes, no static keys, stateful resources protected; what cannot be judged is refused.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "environment": {
                "type": "string",
                "enum": ["dev", "test", "staging", "prod"],
                "description": "The stack's environment; prod and staging refuse allow-lists that admit the "
                               "public Internet. Required.",
            },
            "requireCustomerManagedKeys": {
                "type": "boolean",
                "default": True,
                "description": "Storage must use customer-managed KMS/CMEK keys, not provider-managed keys. "
                               "Default true.",
            },
            "publicRoutes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["api", "route"],
                    "properties": {
                        "api": {"type": "string", "minLength": 1,
                                "description": "The API's name (aws:apigatewayv2 Api name, OpenAPI host/title)"},
                        "route": {"type": "string", "minLength": 1, "description": "'GET /health'"},
                    },
                },
                "default": [],
                "description": "Routes deliberately served without auth, each naming its API. Default none.",
            },
            "trustedCidrs": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
                "description": "Public source ranges allow-lists may admit in production (e.g. Google's front "
                               "ends). Default none.",
            },
            "providerManagedKeyTypes": {
                "type": "array",
                "items": {"type": "string", "pattern": _judge.TYPE_TOKEN.pattern},
                "uniqueItems": True,
                "default": [],
                "description": "Types that may keep the provider's default encryption instead of a customer key, "
                               "each a deliberate exception. Default none.",
            },
            "statefulTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_STATEFUL,
                "description": "Types that hold data and must be protected. Default: buckets, keys, disks, databases.",
            },
            _judge.ALLOWED_TYPES: _judge.ALLOWED_TYPES_SCHEMA,
        },
        required=["environment"],
    ),
)
