"""access-logs: every bucket and every load balancer writes access logs, into a bucket in its own region.

Who read a model or an embedding, and who called the inference path, must be answerable after
the fact. A stack policy (the log configuration of an S3 bucket or a load balancer names
another resource, followed through property dependencies or known names):

- S3 buckets (``aws:s3/bucket:Bucket``, ``aws:s3/bucketV2:BucketV2``): server access logging,
  inline (``logging`` / ``loggings``) or by an ``aws:s3/bucketLogging*`` resource, into a bucket
  of the program in the same region (the provider's region);
- GCS buckets: ``logging.logBucket`` naming a bucket of the program in the same location;
- load balancers (``aws:lb``/``aws:alb``/``aws:elb`` ``LoadBalancer``): ``accessLogs.enabled``
  with a bucket of the program in the same region; GCP backend services (global and regional):
  ``logConfig.enable`` (Cloud Logging, so no bucket region); API Gateway stages:
  ``accessLogSettings.destinationArn``; CloudFront distributions: ``loggingConfig.bucket``;
- Kubernetes Services of type LoadBalancer and Ingresses, whose load balancer the AWS Load
  Balancer Controller creates: its ``access_logs.s3.enabled=true`` and ``access_logs.s3.bucket``
  attributes (``service.beta.kubernetes.io/aws-load-balancer-attributes``,
  ``alb.ingress.kubernetes.io/load-balancer-attributes``, read at controller v3.5.0, the pin in
  components/addons/charts.py). Other controllers' settings are not read: a violation.

A bucket that receives logs is tagged/labelled ``aiplat-log-target: "true"`` and needs no log
of its own (logging into itself would loop), but it must receive logs from something in the
program and hold no objects of it. Types that hold objects or balance traffic and are not read
here (other bucket or load balancer types, Helm releases, unknown custom kinds) are "cannot
judge".
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy

from aiplat.policies import _kinds
from aiplat.policies._graph import StackGraph
from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, Coverage, report_unjudged
from aiplat.policies._props import UNKNOWN, elements, get, items, truthy
from aiplat.policies._schema import schema

NAME = "access-logs"
LOG_TARGET = "aiplat-log-target"
S3_BUCKETS = ("aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket")
S3_LOGGING = ("aws:s3/bucketLoggingV2:BucketLoggingV2", "aws:s3/bucketLogging:BucketLogging")
S3_OBJECTS = ("aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject")
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_OBJECTS = ("gcp:storage/bucketObject:BucketObject",)
AWS_LBS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer", "aws:elb/loadBalancer:LoadBalancer")
GCP_BACKENDS = ("gcp:compute/backendService:BackendService", "gcp:compute/regionBackendService:RegionBackendService")
STAGES = ("aws:apigatewayv2/stage:Stage", "aws:apigateway/stage:Stage")
K8S_SERVICE = "kubernetes:core/v1:Service"
K8S_INGRESSES = ("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:networking.k8s.io/v1beta1:Ingress",
                 "kubernetes:extensions/v1beta1:Ingress")
SERVICE_ATTRS = "service.beta.kubernetes.io/aws-load-balancer-attributes"
INGRESS_ATTRS = "alb.ingress.kubernetes.io/load-balancer-attributes"
CLOUDFRONT = "aws:cloudfront/distribution:Distribution"
JUDGED = (*S3_BUCKETS, GCS_BUCKET, *AWS_LBS, *GCP_BACKENDS, *STAGES, CLOUDFRONT, K8S_SERVICE, *K8S_INGRESSES)
# Type names (the token's last part) of things that hold objects or take traffic from clients.
LOGGED_KINDS = ("bucket", "loadbalancer", "lb", "backendservice", "distribution", "accelerator")


def coverage(resource_type: str) -> Coverage:
    if (why := _kinds.trivial(resource_type)) is not None:
        return Coverage.not_applicable(why)
    if resource_type in JUDGED:
        return Coverage.judged()
    if resource_type in _kinds.HELM_TYPES:
        return Coverage.judged()  # by its pin and whether its values expose a load balancer
    if resource_type in _kinds.KNOWN_CUSTOM:
        return Coverage.not_applicable(f"{_kinds.KNOWN_CUSTOM[resource_type]}: holds no objects, balances no traffic")
    if schema(resource_type) is None:
        return Coverage.cannot_judge("no provider schema is known for the type: it may hold objects or balance "
                                     "traffic")
    kind = resource_type.rsplit(":", 1)[-1].lower()
    if kind.endswith(LOGGED_KINDS):
        return Coverage.cannot_judge("it holds objects or balances traffic, and its access-log settings are not "
                                     "read by this policy")
    return Coverage.not_applicable("neither a bucket nor a load balancer")


def _tags(r: PolicyResource) -> dict:
    out = {}
    for key in ("tags", "labels"):
        value = get(r.props, key)
        if value is not None and value is not UNKNOWN:
            out.update(dict(items(value)))
    return out


def is_log_target(r: PolicyResource) -> bool:
    return str(_tags(r).get(LOG_TARGET, "")).lower() == "true"


def _annotation_attrs(value: Any) -> dict[str, str]:
    out = {}
    if isinstance(value, str):
        for part in value.split(","):
            k, _, v = part.strip().partition("=")
            out[k.strip()] = v.strip()
    return out


class _Checks:
    def __init__(self, graph: StackGraph, config, report):
        self.g = graph
        self.allowed = list(config.get(ALLOWED_TYPES, []))
        self._report = report
        self.received: set[str] = set()  # urns of buckets something logs into

    def report(self, r: PolicyResource, message: str) -> None:
        self._report(f"{r.resource_type} {r.name}: {message}", r.urn)

    def region(self, r: PolicyResource) -> Any:
        if r.resource_type == GCS_BUCKET:
            loc = get(r.props, "location")
            return loc.lower() if isinstance(loc, str) else loc
        return self.g.provider_region(r)

    def bucket_for(self, r: PolicyResource, key: str, value: Any, types) -> PolicyResource | None:
        """The bucket of the program ``r.key`` names (a property dependency, or its name)."""
        for dep in self.g.property_deps(r, key):
            if dep.resource_type in types:
                return dep
        if isinstance(value, str):
            for b in self.g.of_type(*types):
                if value in (get(b.props, "bucket"), get(b.props, "name"), b.name):
                    return b
        return None

    def into(self, source: PolicyResource, key: str, value: Any, types, what: str) -> None:
        """``source`` logs into the bucket ``value``: it must be a bucket of the program in ``source``'s region."""
        if value is UNKNOWN and not self.g.property_deps(source, key):
            report_unjudged(NAME, source.resource_type, source.name, f"{what} bucket is unknown at preview",
                            self.allowed, self._report, source.urn)
            return
        target = self.bucket_for(source, key, value, types)
        if target is None:
            self.report(source, f"{what} go to {value!r}, which is not a bucket of this program: its region cannot "
                                "be checked; log into a bucket the program creates in the same region")
            return
        self.received.add(target.urn)
        src, dst = self.region(source), self.region(target)
        if UNKNOWN in (src, dst) or src is None or dst is None:
            report_unjudged(NAME, source.resource_type, source.name,
                            f"the region of it or of its log bucket {target.name} is not known", self.allowed,
                            self._report, source.urn)
        elif src != dst:
            self.report(source, f"{what} leave the region: {target.name} is in {dst}, the source in {src}; log into "
                                "a bucket in the same region")
        if not is_log_target(target):
            self.report(target, f"receives {what} of {source.name} but is not tagged {LOG_TARGET}=true")

    # -- buckets -----------------------------------------------------------------------------
    def s3(self) -> None:
        loggings = self.g.of_type(*S3_LOGGING)
        for b in self.g.of_type(*S3_BUCKETS):
            sources = []
            for key in ("logging", "loggings"):
                for entry in [get(b.props, key)] if key == "logging" else list(elements(get(b.props, key) or [])):
                    if entry is not None and entry is not UNKNOWN and get(entry, "targetBucket") is not None:
                        sources.append((b, key, get(entry, "targetBucket")))
            for lg in loggings:
                if self.g.references(lg, "bucket", b):
                    sources.append((lg, "targetBucket", get(lg.props, "targetBucket")))
            if not sources and not is_log_target(b):
                self.report(b, "no server access logging; add an aws.s3.BucketLogging with a targetBucket of this "
                               "program in the same region")
            for src, key, value in sources:
                self._s3_into(b, src, key, value)

    def _s3_into(self, bucket: PolicyResource, src: PolicyResource, key: str, value: Any) -> None:
        # The logging resource has no region of its own worth trusting more than the bucket's.
        target = self.bucket_for(src, key, value, S3_BUCKETS)
        if target is not None and target.urn == bucket.urn:
            self.report(bucket, "logs into itself: every log write would log again; use a separate log bucket")
            return
        if target is None and value is UNKNOWN and not self.g.property_deps(src, key):
            report_unjudged(NAME, bucket.resource_type, bucket.name, "its log bucket is unknown at preview",
                            self.allowed, self._report, bucket.urn)
            return
        self.into(bucket if src is bucket else _Alias(src, bucket), key, value, S3_BUCKETS, "server access logs")

    def gcs(self) -> None:
        for b in self.g.of_type(GCS_BUCKET):
            value = get(b.props, "logging", "logBucket")
            if value is None:
                if not is_log_target(b):
                    self.report(b, "no usage logs; set logging.logBucket to a bucket of this program in the same "
                                   "location")
                continue
            if value in (get(b.props, "name"), b.name):
                self.report(b, "logs into itself; use a separate log bucket")
                continue
            self.into(b, "logging", value, (GCS_BUCKET,), "usage logs")

    # -- load balancers ----------------------------------------------------------------------
    def load_balancers(self) -> None:
        for lb in self.g.of_type(*AWS_LBS):
            logs = get(lb.props, "accessLogs")
            if logs is UNKNOWN:
                report_unjudged(NAME, lb.resource_type, lb.name, "accessLogs is unknown at preview", self.allowed,
                                self._report, lb.urn)
                continue
            enabled = get(logs, "enabled", default=lb.resource_type.startswith("aws:elb/"))
            if logs is None or not truthy(enabled) or get(logs, "bucket") is None:
                self.report(lb, "no access logs; set accessLogs {enabled: true, bucket: <a log bucket of this program "
                                "in the same region>}")
                continue
            self.into(lb, "accessLogs", get(logs, "bucket"), S3_BUCKETS, "access logs")
        for be in self.g.of_type(*GCP_BACKENDS):
            if get(be.props, "logConfig", "enable") is not True:
                self.report(be, "no request logs; set logConfig.enable=true")
        for cf in self.g.of_type(CLOUDFRONT):
            target = get(cf.props, "loggingConfig", "bucket")
            if target is None:
                self.report(cf, "no standard logs; set loggingConfig.bucket (the distribution is global: any log "
                                "bucket of the program)")
                continue
            logs = self.bucket_for(cf, "loggingConfig", target.split(".s3")[0] if isinstance(target, str) else target,
                                   S3_BUCKETS)
            if logs is not None:
                self.received.add(logs.urn)
        for st in self.g.of_type(*STAGES):
            if get(st.props, "accessLogSettings", "destinationArn") is None:
                self.report(st, "no access logs; set accessLogSettings.destinationArn (a log group in the region)")

    def kubernetes(self) -> None:
        for svc in self.g.of_type(K8S_SERVICE):
            if get(svc.props, "spec", "type") != "LoadBalancer":
                continue
            self._controller_logs(svc, SERVICE_ATTRS)
        for ing in self.g.of_type(*K8S_INGRESSES):
            self._controller_logs(ing, INGRESS_ATTRS)

    def _controller_logs(self, r: PolicyResource, annotation: str) -> None:
        value = get(r.props, "metadata", "annotations", annotation)
        if value is UNKNOWN:
            report_unjudged(NAME, r.resource_type, r.name, f"annotation {annotation} is unknown at preview",
                            self.allowed, self._report, r.urn)
            return
        attrs = _annotation_attrs(value)
        if attrs.get("access_logs.s3.enabled") != "true" or not attrs.get("access_logs.s3.bucket"):
            self.report(r, f"its load balancer writes no access logs; annotate {annotation}: "
                           "access_logs.s3.enabled=true,access_logs.s3.bucket=<a log bucket in the region>")
            return
        name = attrs["access_logs.s3.bucket"]
        target = next((b for b in self.g.of_type(*S3_BUCKETS) if name in (get(b.props, "bucket"), b.name)), None)
        if target is None:
            self.report(r, f"access logs go to {name!r}, which is not a bucket of this program: its region cannot be "
                           "checked")
            return
        self.received.add(target.urn)

    def targets(self) -> None:
        """A bucket tagged as a log target is one: something logs into it, and it holds no objects."""
        for b in self.g.of_type(*S3_BUCKETS, GCS_BUCKET):
            if not is_log_target(b):
                continue
            if b.urn not in self.received:
                self.report(b, f"tagged {LOG_TARGET}=true but nothing in the program logs into it; remove the tag "
                               "and give it access logs")
            objects = S3_OBJECTS if b.resource_type in S3_BUCKETS else GCS_OBJECTS
            for o in self.g.of_type(*objects):
                if self.g.references(o, "bucket", b):
                    self.report(b, f"tagged {LOG_TARGET}=true but holds {o.name}: a log bucket holds logs only")
                    break


class _Alias:
    """A logging resource judged as its bucket: the bucket's region and name, the resource's links."""

    def __init__(self, src: PolicyResource, bucket: PolicyResource):
        self._src, self._bucket = src, bucket
        self.resource_type, self.name, self.urn = bucket.resource_type, bucket.name, bucket.urn
        self.props, self.provider = bucket.props, bucket.provider
        self.property_dependencies = src.property_dependencies
        self.dependencies = src.dependencies


def log_buckets(graph: StackGraph) -> set[str]:
    """URNs of the program's log buckets: tagged as log targets, something logs into them, and they
    hold no objects (what this policy accepts as a log bucket). The security baseline lets these,
    and only these, use SSE-S3: S3 server access logs and ELB access logs are delivered only to
    buckets encrypted with S3-managed keys."""
    silent = _Checks(graph, {}, lambda message, urn=None: None)
    for check in (silent.s3, silent.gcs, silent.load_balancers, silent.kubernetes):
        check()
    out = set()
    for b in graph.of_type(*S3_BUCKETS, GCS_BUCKET):
        objects = S3_OBJECTS if b.resource_type in S3_BUCKETS else GCS_OBJECTS
        if is_log_target(b) and b.urn in silent.received and \
                not any(graph.references(o, "bucket", b) for o in graph.of_type(*objects)):
            out.add(b.urn)
    return out


def validate(args, report_violation) -> None:
    config = args.get_config()
    checks = _Checks(StackGraph(args.resources), config, report_violation)
    _kinds.report_undecided(NAME, coverage, args.resources, checks.allowed, report_violation)
    for check in (checks.s3, checks.gcs, checks.load_balancers, checks.kubernetes, checks.targets):
        check()


POLICY = StackValidationPolicy(
    name=NAME,
    description="Buckets and load balancers write access logs into a log bucket in their own region.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(properties={ALLOWED_TYPES: ALLOWED_TYPES_SCHEMA}),
)
