"""The GCP half of a TritonEndpoint: the model bucket on GCS, the Workload Identity that reads it, the models.

``model_store`` creates a Cloud KMS key ring and a rotating key (CMEK, with the Cloud
Storage service agent allowed to use it), the protected single-region bucket with uniform
bucket-level access, enforced public access prevention, versioning and that key, then a
Google service account with ``roles/storage.objectViewer`` on the bucket that the
endpoint's Kubernetes ServiceAccount may impersonate (``roles/iam.workloadIdentityUser``);
when the models come from an existing ``gs://`` prefix, the same role on that bucket
(GCS grants per bucket; a non-authoritative member, so the bucket's other grants stay).

``model_object`` puts one file of a served model version into the bucket: a
``gcp.storage.BucketObject``, its bytes a ``FileAsset`` (a changed file is a diff in
``pulumi preview``), encrypted with the bucket's Cloud KMS key, its SHA-256 and model
version in the object's metadata.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from aiplat._base import AiplatComponent
from aiplat.kms import gcp_cmek
from aiplat.access_logs import gcs_logging
from aiplat.refs import model_store_prefix, split_store_uri
from aiplat.triton._models import ModelStore
from aiplat.triton.args import TritonEndpointArgs


def model_store(comp: AiplatComponent, a: TritonEndpointArgs, service_account: str) -> ModelStore:
    """GCS bucket, Cloud KMS key and Google service account of one endpoint in one region, owned by ``comp``."""
    from aiplat.cluster import short_id

    n = comp._name
    labels = {k.lower(): v for k, v in a.tags.items()}
    project = gcp.organizations.get_project(project_id=a.gcp_project)
    ring = gcp.kms.KeyRing(f"{n}-models", name=f"{n}-models", location=a.region, project=a.gcp_project,
                           opts=comp._opts())
    # CMEK: Cloud Storage's service agent encrypts/decrypts; readers need no KMS grant.
    key, (grant,) = gcp_cmek(comp, f"{n}-models", ring, project.number, ["gcs"], labels, a.protect,
                             key_name="models")
    bucket = gcp.storage.Bucket(
        f"{n}-models",
        name=a.bucket_name,
        project=a.gcp_project,
        location=a.region,  # a single region: models never leave it (GCS reports it upper-cased)
        storage_class="STANDARD",
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning={"enabled": True},
        encryption={"default_kms_key_name": key.id},
        force_destroy=False,
        logging=gcs_logging(a.access_logs_bucket, a.bucket_name),
        labels=labels,
        opts=comp._opts(protect=a.protect, depends_on=[grant, *a.access_logs_ready]),
    )
    gsa = gcp.serviceaccount.Account(
        f"{n}-triton",
        account_id=short_id(f"{n}-triton", 30),
        display_name=f"Triton {a.endpoint} in {a.region} (read-only models)",
        project=a.gcp_project,
        opts=comp._opts(),
    )
    reader = gcp.storage.BucketIAMMember(
        f"{n}-triton-read",
        bucket=bucket.name,
        role="roles/storage.objectViewer",
        member=gsa.email.apply(lambda e: f"serviceAccount:{e}"),
        opts=comp._opts(),
    )
    wi = gcp.serviceaccount.IAMMember(
        f"{n}-triton-wi",
        service_account_id=gsa.name,
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{a.gcp_project}.svc.id.goog[{a.namespace}/{service_account}]",
        opts=comp._opts(),
    )
    ready = [bucket, reader, wi]
    if a.model_repository is not None and not a.publishes:
        _, source_bucket, _ = split_store_uri(model_store_prefix(a.model_repository, a.region))
        ready.append(gcp.storage.BucketIAMMember(
            f"{n}-triton-read-source",
            bucket=source_bucket,
            role="roles/storage.objectViewer",
            member=gsa.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=comp._opts(),
        ))
    return ModelStore(bucket=bucket.name, kms_key=key.id, identity=gsa.email, ready=ready, settings=[bucket])


def model_object(comp: AiplatComponent, a: TritonEndpointArgs, store: ModelStore, name: str, key: str,
                 **common) -> pulumi.Resource:
    """One file of a published model version in the endpoint's bucket (module docstring); ``common``
    holds what every cloud's object takes (source, metadata, opts)."""
    # The bucket's default CMEK would apply anyway; stated per object so the preview shows the
    # key every model file is under.
    return gcp.storage.BucketObject(name, bucket=store.bucket, name=key, kms_key_name=store.kms_key, **common)
