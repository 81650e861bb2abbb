"""AccessLogs: the region's log bucket, where its buckets' and load balancers' access logs go.

One per region (type ``aiplat:access_logs:AccessLogs``), built right after the network, so the
model buckets, the vector-store bucket and the gateway's load balancer of the region log into
it, in-region (the access-logs policy, ``policies/audit.py``, checks both).

AWS: an S3 bucket tagged/labelled ``aiplat-log-target: "true"`` (the policies' mark of a log
bucket) with all four public-access-block flags, bucket-owner-enforced ownership (ACLs off,
so delivery is granted by bucket policy), default encryption **SSE-S3 (AES256)**: the only
default encryption S3 server access logging and Elastic Load Balancing access logs deliver
to (both refuse a bucket whose default is SSE-KMS), a TLS-only bucket policy that lets S3
log delivery (``logging.s3.amazonaws.com``) write under ``s3/`` and Elastic Load Balancing
under ``alb/`` (the region's ELB account for regions opened before August 2022, the
``logdelivery.elasticloadbalancing.amazonaws.com`` principal otherwise), and expiry of logs
after ``RETENTION_DAYS``.

GCP: a GCS bucket in the region (uniform access, public access prevention, CMEK with its own
key like every bucket of the platform) that Cloud Storage usage logs are written to
(``cloud-storage-analytics@google.com`` may create objects). Load balancer logs on GCP go to
Cloud Logging (``logConfig`` on the backend service), not to a bucket.

Outputs: ``bucket`` (the bucket's name, an Output carrying the dependency) and ``ready``
(the resources a log source must wait for: ELB checks its write access when logging is set).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi

from aiplat._base import AiplatComponent
from aiplat.kms import gcp_cmek

LOG_TARGET_TAG = "aiplat-log-target"
RETENTION_DAYS = 400  # a year of audit plus a quarter to investigate
S3_PREFIX, ALB_PREFIX = "s3", "alb"
# Elastic Load Balancing's account per region opened before August 2022 (AWS "Enable access logs
# for your Application Load Balancer", step "Attach a policy to your S3 bucket"); later regions
# take the service principal.
ELB_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-west-3": "009996457667",
    "eu-north-1": "897822967062", "eu-south-1": "635631232127", "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887", "ap-northeast-3": "383597477331", "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266", "ap-south-1": "718504428378", "sa-east-1": "507241528517",
}
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
GCS_ANALYTICS = "group:cloud-storage-analytics@google.com"


@dataclass(frozen=True)
class AccessLogsArgs:
    cloud: str
    region: str
    bucket_name: str
    gcp_project: str | None = None
    protect: bool = True
    tags: dict[str, str] = field(default_factory=dict)


class AccessLogs(AiplatComponent):
    def __init__(self, name: str, args: AccessLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:access_logs:AccessLogs", name, None, opts)
        self._name, self._in = name, args
        self.ready: list[pulumi.Resource] = []
        if args.cloud == "aws":
            self.bucket = self._aws()
        else:
            self.bucket = self._gcp()
        self.register_outputs({"bucket": self.bucket})

    def _aws(self) -> pulumi.Output[str]:
        import pulumi_aws as aws

        a, n = self._in, self._name
        bucket = aws.s3.Bucket(f"{n}-logs", bucket=a.bucket_name, force_destroy=False,
                               tags=self._tags("access-logs", **{LOG_TARGET_TAG: "true"}),
                               opts=self._opts(protect=a.protect))
        sse = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-logs", bucket=bucket.id,
            # SSE-S3: the one default encryption log delivery writes to (module docstring).
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=self._opts())
        pab = aws.s3.BucketPublicAccessBlock(f"{n}-logs", bucket=bucket.id, block_public_acls=True,
                                             block_public_policy=True, ignore_public_acls=True,
                                             restrict_public_buckets=True, opts=self._opts())
        ownership = aws.s3.BucketOwnershipControls(f"{n}-logs", bucket=bucket.id,
                                                   rule={"object_ownership": "BucketOwnerEnforced"},
                                                   opts=self._opts())
        aws.s3.BucketLifecycleConfiguration(
            f"{n}-logs", bucket=bucket.id,
            rules=[{"id": "expire-logs", "status": "Enabled", "filter": {},
                    "expiration": {"days": RETENTION_DAYS}}],
            opts=self._opts())
        elb = ({"AWS": f"arn:aws:iam::{ELB_ACCOUNTS[a.region]}:root"} if a.region in ELB_ACCOUNTS
               else {"Service": ELB_LOG_DELIVERY})
        policy = aws.s3.BucketPolicy(
            f"{n}-logs", bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                     "Action": "s3:PutObject", "Resource": f"{arn}/{S3_PREFIX}/*"},
                    {"Sid": "ElbAccessLogs", "Effect": "Allow", "Principal": elb,
                     "Action": "s3:PutObject", "Resource": f"{arn}/{ALB_PREFIX}/*"},
                    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                     "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                ],
            })),
            opts=self._opts(depends_on=[pab]))
        self.ready = [bucket, sse, pab, ownership, policy]
        return bucket.bucket

    def _gcp(self) -> pulumi.Output[str]:
        import pulumi_gcp as gcp

        a, n = self._in, self._name
        labels = {k.lower(): v for k, v in a.tags.items()}
        project = gcp.organizations.get_project(project_id=a.gcp_project)
        ring = gcp.kms.KeyRing(f"{n}-logs", name=f"{n}-logs", location=a.region, project=a.gcp_project,
                               opts=self._opts())
        key, (grant,) = gcp_cmek(self, f"{n}-logs", ring, project.number, ["gcs"], labels, a.protect,
                                 key_name="access-logs")
        bucket = gcp.storage.Bucket(
            f"{n}-logs", name=a.bucket_name, project=a.gcp_project, location=a.region, storage_class="STANDARD",
            uniform_bucket_level_access=True, public_access_prevention="enforced",
            encryption={"default_kms_key_name": key.id}, force_destroy=False,
            lifecycle_rules=[{"action": {"type": "Delete"}, "condition": {"age": RETENTION_DAYS}}],
            labels={**labels, LOG_TARGET_TAG: "true"}, opts=self._opts(protect=a.protect, depends_on=[grant]))
        writer = gcp.storage.BucketIAMMember(f"{n}-logs-analytics", bucket=bucket.name,
                                             role="roles/storage.objectCreator", member=GCS_ANALYTICS,
                                             opts=self._opts())
        self.ready = [bucket, writer]
        return bucket.name


def s3_logging(comp: AiplatComponent, name: str, bucket: pulumi.Resource, bucket_name: str,
               log_bucket: pulumi.Input[str] | None, ready: list[pulumi.Resource]) -> pulumi.Resource | None:
    """Server access logging of ``bucket`` into the region's log bucket, under ``s3/<bucket>/``."""
    import pulumi_aws as aws

    if log_bucket is None:
        return None
    return aws.s3.BucketLogging(name, bucket=bucket.id, target_bucket=log_bucket,
                                target_prefix=f"{S3_PREFIX}/{bucket_name}/", opts=comp._opts(depends_on=ready))


def gcs_logging(log_bucket: pulumi.Input[str] | None, bucket_name: str) -> dict | None:
    """The ``logging`` input of a GCS bucket whose usage logs go to the region's log bucket."""
    return None if log_bucket is None else {"log_bucket": log_bucket, "log_object_prefix": bucket_name}
