"""``triton-models``: every Triton Deployment starts on a repository that holds its models.

A Triton container (image ``…/tritonserver:<tag>``, as ``aiplat.refs.TRITON_IMAGE`` names it,
or command ``tritonserver``) of a Deployment or StatefulSet loads each ``--model-repository``
(``s3://bucket/prefix``, ``s3://host:port/bucket/prefix``, ``gs://bucket/prefix``). On the first
``up`` a bucket the same program creates holds only the objects the graph puts there
(``aws:s3/bucketObjectv2``, ``aws:s3/bucketObject``, ``gcp:storage/bucketObject``):

* no object under a prefix (or, with ``--model-control-mode=explicit``, under
  ``<prefix>/<model>/`` for a ``--load-model``): Triton starts on an empty repository and,
  with ``--exit-on-error``, crash-loops until the Deployment's await runs out;
* objects there the Deployment does not wait for: it may start before they are written.

A prefix in a bucket the graph does not create is a warning: the objects may exist, the
graph cannot show it. Fails closed: args or object keys not known at preview, a repository
that is not an object store (a path in the container), a Triton container with no
``--model-repository``, each is a blocker.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Iterable

from aiplat.tools.deploy import Context, Finding
from aiplat.tools.deploy._graph import Graph, Node, get, unreadable

RULE = "triton-models"
WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
OBJECT_TYPES = {
    "aws:s3/bucketObjectv2:BucketObjectv2": ("s3", "key"),
    "aws:s3/bucketObject:BucketObject": ("s3", "key"),
    "gcp:storage/bucketObject:BucketObject": ("gs", "name"),
}
BUCKET_TYPES = {
    "aws:s3/bucket:Bucket": ("s3", "bucket"),
    "aws:s3/bucketV2:BucketV2": ("s3", "bucket"),
    "gcp:storage/bucket:Bucket": ("gs", "name"),
}
_TRITON_IMAGE = re.compile(r"^(?:[^/]+/)*tritonserver(?::[^@/]+)?(?:@sha256:[0-9a-f]{64})?$")
MAX_NAMED = 3


@dataclass(frozen=True)
class Repository:
    scheme: str
    bucket: str
    prefix: str  # without leading/trailing "/"

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}" if self.prefix else f"{self.scheme}://{self.bucket}"


def parse_repository(uri: str) -> Repository | None:
    """An object-store model repository, per Triton's docs (s3 may name host:port first)."""
    m = re.match(r"^(s3|gs)://(.+)$", uri)
    if not m:
        return None
    scheme, rest = m.groups()
    parts = [p for p in rest.split("/") if p]
    if scheme == "s3" and parts and ":" in parts[0]:  # s3://host:port/bucket/path
        parts = parts[1:]
    if not parts:
        return None
    return Repository(scheme, parts[0], "/".join(parts[1:]))


def flags(args: list[str], name: str) -> list[str]:
    """Values of ``--name=value`` and ``--name value``."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a.startswith(f"--{name}="):
            out.append(a.split("=", 1)[1])
        elif a == f"--{name}" and i + 1 < len(args):
            out.append(args[i + 1])
            i += 1
        i += 1
    return out


def is_triton(container: dict[str, Any]) -> bool:
    image = container.get("image")
    command = container.get("command") or []
    if isinstance(image, str) and _TRITON_IMAGE.match(image):
        return True
    return isinstance(command, list) and bool(command) and str(command[0]).rsplit("/", 1)[-1] == "tritonserver"


def _argv(container: dict[str, Any]) -> list[str]:
    """command + args as tritonserver sees them (a shell ``-c`` script split into words)."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash") and argv[1] == "-c":
        try:
            return shlex.split(argv[2])
        except ValueError:
            return argv
    return argv


def _relative(repo: Repository, key: str) -> str:
    return key[len(repo.prefix) + 1:] if repo.prefix else key


def check(graph: Graph, ctx: Context) -> Iterable[Finding]:
    objects: dict[tuple[str, str], list[tuple[str, Node]]] = {}
    unreadable_objects: list[Node] = []
    for node in graph.nodes:
        spec = OBJECT_TYPES.get(node.type)
        if spec is None:
            continue
        bucket, key = node.inputs.get("bucket"), node.inputs.get(spec[1])
        if not isinstance(bucket, str) or not isinstance(key, str) or unreadable(bucket) or unreadable(key):
            unreadable_objects.append(node)
            continue
        bucket = bucket.removeprefix("arn:aws:s3:::")
        objects.setdefault((spec[0], bucket), []).append((key.lstrip("/"), node))
    buckets = {(scheme, node.inputs.get(field)) for node in graph.nodes
               for t, (scheme, field) in BUCKET_TYPES.items() if node.type == t}
    for node in graph.of_type(*WORKLOAD_TYPES):
        containers = get(node.inputs, "spec", "template", "spec", "containers", default=[])
        if unreadable(containers) and not isinstance(containers, list):
            continue  # not even the image is readable: nothing says it is Triton
        for c in containers or []:
            if isinstance(c, dict) and not unreadable(c.get("image")) and is_triton(c):
                yield from _judge(graph, node, c, objects, unreadable_objects, buckets)


def _judge(graph: Graph, node: Node, container: dict[str, Any], objects, unreadable_objects,
           buckets) -> Iterable[Finding]:
    what = f"Triton container {container.get('name', '?')} of {node.kind} {node.display()}"
    command = (container.get("command") or []) + (container.get("args") or [])
    if unreadable(command):
        yield Finding(node.urn, RULE, f"cannot read the arguments of {what} (not known at preview), so the models it "
                                      f"loads are unknown", "give the container arguments known at preview")
        return
    argv = _argv(container)
    uris = flags(argv, "model-repository") + flags(argv, "model-store")
    if not uris:
        yield Finding(node.urn, RULE, f"{what} has no --model-repository: tritonserver refuses to start",
                      "pass --model-repository=<s3:// or gs:// prefix holding the models>")
        return
    explicit = "explicit" in flags(argv, "model-control-mode")
    load = [m for m in flags(argv, "load-model") if m != "*"] if explicit else []
    repos: list[Repository] = []
    for uri in uris:
        repo = parse_repository(uri)
        if repo is None:
            yield Finding(node.urn, RULE, f"{what} loads models from {uri}, not an s3:// or gs:// prefix, so whether "
                                          f"the models are there on the first up is unknown",
                          "load the models from an object-store prefix whose objects the program creates")
            continue
        repos.append(repo)
    found: list[tuple[Repository, str, Node]] = []
    for repo in repos:
        under = [(k, o) for k, o in objects.get((repo.scheme, repo.bucket), [])
                 if not repo.prefix or k.startswith(repo.prefix + "/")]
        if under:
            found += [(repo, k, o) for k, o in under]
            continue
        if (repo.scheme, repo.bucket) not in buckets:
            yield Finding(node.urn, RULE, f"{what} loads models from {repo.uri}, in a bucket this program does not "
                                          f"create: the graph cannot show that the models are there",
                          f"publish the models into {repo.uri} from the program (bucket objects the Deployment "
                          f"depends on), or check the prefix before the first up", severity="warning")
            continue
        hidden = f" ({len(unreadable_objects)} bucket object(s) with a bucket or key not known at preview)" \
            if unreadable_objects else ""
        yield Finding(node.urn, RULE, f"{what} loads models from {repo.uri}, but no object in the graph is under that "
                                      f"prefix{hidden}: the bucket is created empty by the same up, so Triton starts on "
                                      f"an empty repository",
                      f"publish the models into {repo.uri} as bucket objects (aws.s3.BucketObjectv2 / "
                      f"gcp.storage.BucketObject) and make {node.name} depend on them")
    if not found:
        return
    for model in load:
        if not any(_relative(r, k).startswith(model + "/") for r, k, _ in found):
            yield Finding(node.urn, RULE, f"{what} loads model {model} (--load-model), but no object in the graph is "
                                          f"under <repository>/{model}/ of {', '.join(r.uri for r in repos)}",
                          f"publish {model} (its config.pbtxt and version directories) into the repository")
    late = [o for _, _, o in found if not graph.waits_for(node, o)]
    if late:
        names = ", ".join(o.name for o in late[:MAX_NAMED]) + (f" and {len(late) - MAX_NAMED} more" if len(late) > MAX_NAMED else "")
        yield Finding(node.urn, RULE, f"{what} does not wait for {len(late)} of the {len(found)} model object(s) under "
                                      f"its repositories ({names}): it may start before they are written",
                      f"add depends_on=[<the model objects>] to {node.name}")
