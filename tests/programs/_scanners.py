"""Shared pieces of the scanners_* programs: a hardened container and pod spec (what
workload-hardening accepts), so each program changes only what it is about."""

DIGEST = "sha256:" + "5" * 64
ESP = "gcr.io/endpoints-release/endpoints-runtime"


def container(name: str, image: str, **overrides) -> dict:
    c = {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    c.update(overrides)
    return c


def pod(*containers: dict, **overrides) -> dict:
    spec = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": list(containers)}
    spec.update(overrides)
    return spec
