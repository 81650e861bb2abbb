"""``volume-provisioner``: every StorageClass's provisioner runs, every volume claim gets a class.

* A StorageClass whose CSI provisioner nothing installs in its cluster (an EKS add-on, a Helm
  release the catalog knows) and the managed cluster does not run itself (GKE runs
  ``pd.csi.storage.gke.io``; EKS runs none): its claims stay Pending forever. One that does not
  wait for its driver is a warning (claims made before the driver runs wait for it).
* A volume claim (a PersistentVolumeClaim, a StatefulSet's volumeClaimTemplates, a claim a
  release's chart renders: the catalog's ``volumes`` of that chart, e.g. Prometheus's
  storageSpec) that names no class, on a cluster with no default StorageClass in the graph and
  none built in (EKS clusters created on 1.30 and later have none: catalog); or that names a
  class that is neither in the graph (same cluster) nor built into the cluster; or a built-in
  class whose provisioner is not installed (EKS's gp2 needs the EBS CSI driver). The release
  reports success while its pods stay Pending. A claim that does not wait for the class it
  names is a warning.

``aiplat:platform.deploy.prerequisites.provisioners`` declares CSI drivers a cluster the
program does not create already runs. Fails closed: a provisioner or class not known at
preview, a cluster the graph does not create (its default class and drivers unknown), a
release the catalog cannot read, each is a blocker.
"""

from __future__ import annotations

from typing import Any, Iterable

from aiplat.tools.deploy import Context, Finding
from aiplat.tools.deploy import _installers
from aiplat.tools.deploy._graph import Graph, Node, get, unreadable

RULE = "volume-provisioner"
STORAGE_CLASS_TYPES = ("kubernetes:storage.k8s.io/v1:StorageClass", "kubernetes:storage.k8s.io/v1beta1:StorageClass")
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
STATEFUL_SET_TYPE = "kubernetes:apps/v1:StatefulSet"
PREREQUISITE_KEY = "aiplat:platform.deploy.prerequisites.provisioners"
# What the DefaultStorageClass admission plugin reads (the beta key is still honoured).
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
EKS_NO_DEFAULT = "EKS clusters created on Kubernetes 1.30 and later have no default StorageClass"


def check(graph: Graph, ctx: Context) -> Iterable[Finding]:
    inst = _installers.of(graph)
    classes = _classes(graph)
    for sc in graph.of_type(*STORAGE_CLASS_TYPES):
        yield from _storage_class(graph, inst, ctx, sc)
    for node, claim, class_name in _claims(graph, inst):
        yield from _claim(graph, inst, ctx, classes, node, claim, class_name)
    for r in inst.unreadable_releases:
        yield Finding(r.node.urn, RULE, f"cannot judge release {r.node.name} (chart {r.label}): {r.problem}; "
                                        f"the volume claims it renders are unknown",
                      "make the release readable to the catalog (see crd-installed for the same release)")


def _classes(graph: Graph) -> dict[str, dict[str, Node]]:
    """cluster key -> StorageClass name -> node (readable names only)."""
    out: dict[str, dict[str, Node]] = {}
    for sc in graph.of_type(*STORAGE_CLASS_TYPES):
        name = get(sc.inputs, "metadata", "name")
        if isinstance(name, str) and not unreadable(name):
            out.setdefault(graph.cluster_key(sc), {})[name] = sc
    return out


def _provisioner_installed(graph: Graph, inst: _installers.Installers, ctx: Context, node: Node,
                           provisioner: str) -> tuple[bool, list[Node], str]:
    """(ok, installers to wait for, why not) for a provisioner in ``node``'s cluster."""
    managed = inst.managed_of(node)
    name = managed.provisioner(provisioner) if managed else provisioner
    if managed is not None and name in managed.provisioners:
        return True, [], ""
    installers = inst.of(node).provisioners.get(name, [])
    if installers:
        return True, installers, ""
    if name in ctx.prerequisites("provisioners"):
        return True, [], ""
    alias = f" ({provisioner} is {name} on this cluster)" if name != provisioner else ""
    if managed is None:
        return False, [], (f"nothing in the graph installs the CSI provisioner {name}{alias}, and its cluster is not "
                           f"created by this program, so what it runs is unknown")
    kind = graph.cluster_of(node).type.split(":")[0].upper()  # type: ignore[union-attr]
    return False, [], f"nothing in the graph installs the CSI provisioner {name}{alias}, and {kind} does not run it itself"


def _storage_class(graph: Graph, inst: _installers.Installers, ctx: Context, sc: Node) -> Iterable[Finding]:
    provisioner = sc.inputs.get("provisioner")
    label = f"StorageClass {sc.display()}"
    if not isinstance(provisioner, str) or unreadable(provisioner):
        yield Finding(sc.urn, RULE, f"cannot read the provisioner of {label} (not known at preview)",
                      "give the StorageClass a provisioner known at preview")
        return
    ok, installers, why = _provisioner_installed(graph, inst, ctx, sc, provisioner)
    if not ok:
        yield Finding(sc.urn, RULE, f"{label}: {why}; its volumes never provision",
                      _driver_change(provisioner, sc))
    elif installers and not any(graph.waits_for(sc, i) for i in installers):
        yield Finding(sc.urn, RULE, f"{label} does not wait for {installers[0].name}, which installs {provisioner}",
                      f"add depends_on=[{installers[0].name}] to {sc.name}", severity="warning")


def _driver_change(provisioner: str, node: Node) -> str:
    if provisioner in ("ebs.csi.aws.com", "kubernetes.io/aws-ebs"):
        return (f"install the EBS CSI driver: an aws.eks.Addon 'aws-ebs-csi-driver' on the cluster (with its IRSA role), "
                f"and make {node.name} depend on it")
    return (f"install the driver of {provisioner} in the cluster (an EKS add-on or a Helm release known to "
            f"components/catalog/installers.yaml) and make {node.name} depend on it, or declare it in {PREREQUISITE_KEY}")


def _claims(graph: Graph, inst: _installers.Installers) -> Iterable[tuple[Node, str, Any]]:
    """(resource, what the claim is, its class: a name, None for none, or an unreadable value)."""
    for pvc in graph.of_type(PVC_TYPE):
        yield pvc, f"PersistentVolumeClaim {pvc.display()}", get(pvc.inputs, "spec", "storageClassName")
    for sts in graph.of_type(STATEFUL_SET_TYPE):
        templates = get(sts.inputs, "spec", "volumeClaimTemplates", default=[])
        if unreadable(templates):
            yield sts, f"the volumeClaimTemplates of StatefulSet {sts.display()}", templates
            continue
        for t in templates or []:
            name = get(t, "metadata", "name", default="?")
            yield sts, f"volumeClaimTemplate {name} of StatefulSet {sts.display()}", get(t, "spec", "storageClassName")
    for r in inst.releases:
        if r.problem or r.entry is None:
            continue
        for claim, path, value in r.entry.volumes(r.values):
            yield r.node, f"the {claim} volume of release {r.node.name} (chart {r.label}, values {path})", value


def _claim(graph: Graph, inst: _installers.Installers, ctx: Context, classes: dict[str, dict[str, Node]],
           node: Node, claim: str, class_name: Any) -> Iterable[Finding]:
    if unreadable(class_name) or not (class_name is None or isinstance(class_name, str)):
        yield Finding(node.urn, RULE, f"cannot read the StorageClass of {claim} (not known at preview)",
                      "give the claim a storage class known at preview")
        return
    if class_name in ("", "-"):
        return  # explicitly no dynamic provisioning: binds a volume made by hand
    in_graph = classes.get(graph.cluster_key(node), {})
    managed = inst.managed_of(node)
    if class_name is None:
        defaults = [sc for sc in in_graph.values()
                    if "true" in (get(sc.inputs, "metadata", "annotations", a) for a in
                                  (DEFAULT_CLASS_ANNOTATION, BETA_DEFAULT_CLASS_ANNOTATION))]
        if defaults:
            if not any(graph.waits_for(node, sc) for sc in defaults):
                yield Finding(node.urn, RULE, f"{claim} names no StorageClass and does not wait for the default class "
                                              f"{defaults[0].display()}", f"add depends_on=[{defaults[0].name}] to "
                                                                          f"{node.name}", severity="warning")
            return
        if managed is not None and managed.default_class:
            class_name = managed.default_class  # judged below like a named built-in class
        else:
            why = (EKS_NO_DEFAULT if managed is not None and graph.cluster_of(node).type.startswith("aws:")  # type: ignore[union-attr]
                   else "its cluster has no default StorageClass in the graph and none built in"
                   if managed is not None else
                   "its cluster is not created by this program, so whether it has a default StorageClass is unknown")
            yield Finding(node.urn, RULE, f"{claim} names no StorageClass and no StorageClass in the graph is the "
                                          f"cluster's default ({why}); the claim stays Pending",
                          f"name a StorageClass the graph creates in that cluster (or create one annotated "
                          f"{DEFAULT_CLASS_ANNOTATION}: \"true\", depending on its CSI driver)")
            return
    sc = in_graph.get(class_name)
    if sc is not None:
        if not graph.waits_for(node, sc):
            yield Finding(node.urn, RULE, f"{claim} does not wait for StorageClass {class_name}, which it names",
                          f"add depends_on=[{sc.name}] to {node.name}", severity="warning")
        return
    if managed is not None and class_name in managed.classes:
        ok, _, why = _provisioner_installed(graph, inst, ctx, node, managed.classes[class_name])
        if not ok:
            yield Finding(node.urn, RULE, f"{claim} uses the built-in StorageClass {class_name}, but {why}; the claim "
                                          f"stays Pending", _driver_change(managed.classes[class_name], node))
        return
    where = "not built into its cluster" if managed is not None else "its cluster is not created by this program"
    yield Finding(node.urn, RULE, f"{claim} names StorageClass {class_name}, which is not in the graph ({where}); "
                                  f"the claim stays Pending",
                  f"create StorageClass {class_name} in that cluster before it, or name one the graph creates "
                  f"({', '.join(sorted(in_graph)) or 'none'})")
