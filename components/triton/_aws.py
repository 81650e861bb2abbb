"""The AWS half of a TritonEndpoint: the model bucket on S3, the IRSA role that reads it, the models in it.

``model_store`` creates a rotating KMS key (and its alias), the protected S3 bucket with
versioning, SSE-KMS with S3 Bucket Keys, all four public-access-block flags,
bucket-owner-enforced ownership and a TLS-only bucket policy, then an IAM role trusted by
the cluster's OIDC provider for the endpoint's ServiceAccount only, allowed to list and
read the bucket and decrypt with its key (and, when the models come from an existing
``s3://`` prefix, to list and read that prefix). No static keys anywhere.

``model_object`` puts one file of a served model version into the bucket: an
``aws.s3.BucketObjectv2``, its bytes a ``FileAsset`` (the engine hashes it, so a
changed file is a diff in ``pulumi preview``), encrypted with SSE-KMS under the bucket's key
with S3 Bucket Keys, its SHA-256 and model version in user metadata, written after the
bucket's encryption, access block, ownership and policy exist.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from aiplat._base import AiplatComponent
from aiplat.access_logs import s3_logging
from aiplat.identity import irsa_trust_policy
from aiplat.refs import model_store_prefix, split_store_uri
from aiplat.triton._models import ModelStore
from aiplat.triton.args import TritonEndpointArgs


def model_store(comp: AiplatComponent, a: TritonEndpointArgs, service_account: str) -> ModelStore:
    """S3 bucket, KMS key and IRSA role of one endpoint in one region, owned by ``comp``."""
    n = comp._name
    key = aws.kms.Key(
        f"{n}-models",
        description=f"SSE-KMS for Triton model bucket {a.bucket_name}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags=comp._tags("models-key"),
        opts=comp._opts(protect=a.protect),
    )
    aws.kms.Alias(f"{n}-models", name=f"alias/{a.bucket_name}", target_key_id=key.key_id, opts=comp._opts())
    bucket = aws.s3.Bucket(
        f"{n}-models",
        bucket=a.bucket_name,
        force_destroy=False,
        tags=comp._tags("models"),
        opts=comp._opts(protect=a.protect),
    )
    versioning = aws.s3.BucketVersioning(
        f"{n}-models",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=comp._opts(),
    )
    sse = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{n}-models",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                # S3 Bucket Keys cut KMS requests (and cost) when Triton pulls many files.
                "bucket_key_enabled": True,
            }
        ],
        opts=comp._opts(),
    )
    pab = aws.s3.BucketPublicAccessBlock(
        f"{n}-models",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=comp._opts(),
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{n}-models",
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},  # ACLs off: access is IAM only
        opts=comp._opts(),
    )
    tls_only = aws.s3.BucketPolicy(
        f"{n}-models",
        bucket=bucket.id,
        policy=bucket.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [arn, f"{arn}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            )
        ),
        # The public access block must exist first, or this policy could briefly be
        # evaluated against a bucket without it.
        opts=comp._opts(depends_on=[pab]),
    )
    subject = f"system:serviceaccount:{a.namespace}:{service_account}"
    trust = irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, a.namespace, service_account)
    role = aws.iam.Role(
        f"{n}-triton",
        description=f"IRSA role of {subject}: read-only on {a.bucket_name}",
        assume_role_policy=trust,
        tags=comp._tags("triton-role"),
        opts=comp._opts(),
    )
    source = [] if a.publishes or a.model_repository is None else _source_statements(a)
    aws.iam.RolePolicy(
        f"{n}-triton-read",
        role=role.id,
        policy=pulumi.Output.all(bucket.arn, key.arn).apply(
            lambda v: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": v[0]},
                        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{v[0]}/*"},
                        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": v[1]},
                        *source,
                    ],
                }
            )
        ),
        opts=comp._opts(),
    )
    logging = s3_logging(comp, f"{n}-models", bucket, a.bucket_name, a.access_logs_bucket, a.access_logs_ready)
    settings = [versioning, sse, pab, ownership, tls_only, *([logging] if logging else [])]
    return ModelStore(
        bucket=bucket.bucket,
        kms_key=key.arn,
        identity=role.arn,
        ready=[bucket, *settings],
        settings=settings,
    )


def _source_statements(a: TritonEndpointArgs) -> list[dict]:
    """Read-only on an existing ``s3://`` model prefix: list under it, get below it. Objects
    there encrypted with another account's or key's KMS key also need ``kms:Decrypt`` on that
    key, which its owner grants (the key is not known here)."""
    _, bucket, prefix = split_store_uri(model_store_prefix(a.model_repository, a.region))
    arn = f"arn:aws:s3:::{bucket}"
    listing = {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": arn}
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
    objects = f"{arn}/{prefix}/*" if prefix else f"{arn}/*"
    return [listing, {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": objects}]


def model_object(comp: AiplatComponent, a: TritonEndpointArgs, store: ModelStore, name: str, key: str,
                 **common) -> pulumi.Resource:
    """One file of a published model version in the endpoint's bucket (module docstring); ``common``
    holds what every cloud's object takes (source, metadata, opts)."""
    return aws.s3.BucketObjectv2(
        name,
        bucket=store.bucket,
        key=key,
        # The bucket's default encryption would apply anyway; stated per object so the preview
        # (and the security baseline) shows the key every model file is under.
        server_side_encryption="aws:kms",
        kms_key_id=store.kms_key,
        bucket_key_enabled=True,
        tags=dict(a.tags),
        **common,
    )
