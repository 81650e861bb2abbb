"""Customer-managed keys on GCP: one Cloud KMS key and the grants of the Google service agents
that encrypt with it.

A CMEK works only once the service agent that does the encryption may use the key (Cloud
Storage for buckets, Compute Engine for disks, GKE for application-layer secrets), so a key
and its grants are always made together, and the resources that use the key wait for the
grants. Keys rotate every 90 days.
"""

from __future__ import annotations

from typing import Any, Iterable

ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# The service agent of each Google service, by the suffix its grant's resource name carries.
AGENTS = {
    "gcs": "gs-project-accounts.iam.gserviceaccount.com",  # Cloud Storage
    "pd": "compute-system.iam.gserviceaccount.com",  # Compute Engine: persistent disks
    "compute": "compute-system.iam.gserviceaccount.com",  # Compute Engine: node boot disks
    "gke": "container-engine-robot.iam.gserviceaccount.com",  # GKE: secrets encryption
}


def gcp_cmek(comp: Any, name: str, key_ring: Any, project_number: Any, agents: Iterable[str], labels: dict,
             protect: bool, key_name: str | None = None) -> tuple[Any, list[Any]]:
    """The key ``name`` in ``key_ring`` and, per agent suffix, the grant ``<name>-<suffix>`` letting
    that service agent of the project encrypt and decrypt with it; (key, grants)."""
    import pulumi_gcp as gcp

    key = gcp.kms.CryptoKey(name, name=key_name, key_ring=key_ring.id, purpose="ENCRYPT_DECRYPT",
                            rotation_period=ROTATION, labels=labels, opts=comp._opts(protect=protect))
    grants = [gcp.kms.CryptoKeyIAMMember(f"{name}-{suffix}", crypto_key_id=key.id, role=ENCRYPTER,
                                         member=f"serviceAccount:service-{project_number}@{AGENTS[suffix]}",
                                         opts=comp._opts())
              for suffix in agents]
    return key, grants
