"""The GCP half of a TritonEndpoint: the model bucket on GCS and the Workload Identity that reads it.

``model_store`` creates a Cloud KMS key ring and a rotating key (CMEK, with the Cloud
Storage service agent allowed to use it), the protected single-region bucket with uniform
bucket-level access, enforced public access prevention, versioning and that key, then a
Google service account with ``roles/storage.objectViewer`` on the bucket that the
endpoint's Kubernetes ServiceAccount may impersonate (``roles/iam.workloadIdentityUser``).
"""

from __future__ import annotations

import pulumi_gcp as gcp

from aiplat._base import AiplatComponent
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
    key = gcp.kms.CryptoKey(
        f"{n}-models",
        name="models",
        key_ring=ring.id,
        purpose="ENCRYPT_DECRYPT",
        rotation_period="7776000s",  # 90 days
        labels=labels,
        opts=comp._opts(protect=a.protect),
    )
    # CMEK: Cloud Storage's service agent encrypts/decrypts; readers need no KMS grant.
    grant = gcp.kms.CryptoKeyIAMMember(
        f"{n}-models-gcs",
        crypto_key_id=key.id,
        role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
        member=f"serviceAccount:service-{project.number}@gs-project-accounts.iam.gserviceaccount.com",
        opts=comp._opts(),
    )
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
        labels=labels,
        opts=comp._opts(protect=a.protect, depends_on=[grant]),
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
    return ModelStore(bucket=bucket.name, kms_key=key.id, identity=gsa.email, ready=[bucket, reader, wi])
