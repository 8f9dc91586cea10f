"""References a cloud resolves by value, not by a Pulumi Output: the referent must be created first
(be among the resource's transitive dependencies), or be declared pre-existing on purpose.

Kubernetes resolves names when it admits or schedules: a pod whose Secret, ConfigMap, ServiceAccount
or PVC does not exist yet is not started (the kubelet retries, but the provider's await may time out
first), an object in a missing namespace is refused, a custom resource of a kind with no CRD is
refused ("no matches for kind"). A name written as a plain string creates no dependency.

Deliberately pre-existing referents: `PREEXISTING` below (what the clusters create themselves), or an
annotation on the referring object, `rollout.dev/created-elsewhere: "Secret/name: reason; ..."`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from infra.rehearsal.model import Resource
from infra.rehearsal.order import engine_order, provider_urn
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

CREATED_ELSEWHERE = "rollout.dev/created-elsewhere"
K8S_NAMES = "https://kubernetes.io/docs/concepts/configuration/secret/#restriction-secret-must-exist"

T_NAMESPACE = "kubernetes:core/v1:Namespace"
T_SECRET = "kubernetes:core/v1:Secret"
T_CONFIGMAP = "kubernetes:core/v1:ConfigMap"
T_SA = "kubernetes:core/v1:ServiceAccount"
T_PVC = "kubernetes:core/v1:PersistentVolumeClaim"
T_SC = "kubernetes:storage.k8s.io/v1:StorageClass"
T_SERVICE = "kubernetes:core/v1:Service"
T_RELEASE = "kubernetes:helm.sh/v3:Release"
T_CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
KIND = {T_NAMESPACE: "Namespace", T_SECRET: "Secret", T_CONFIGMAP: "ConfigMap", T_SA: "ServiceAccount",
        T_PVC: "PersistentVolumeClaim", T_SC: "StorageClass", T_SERVICE: "Service"}
CLUSTER_SCOPED = {T_NAMESPACE, T_SC, T_CRD, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"}

# What every cluster has before Pulumi creates anything in it (kind, name; "*" = any namespace).
PREEXISTING: Mapping[tuple[str, str], str] = {
    ("Namespace", "default"): "created by the API server",
    ("Namespace", "kube-system"): "created by the API server",
    ("Namespace", "kube-public"): "created by the API server",
    ("Namespace", "kube-node-lease"): "created by the API server",
    ("ServiceAccount", "default"): "created in every namespace by the ServiceAccount controller",
    # https://cloud.google.com/kubernetes-engine/docs/concepts/persistent-volumes#storageclasses
    ("StorageClass", "standard-rwo"): "GKE's default StorageClass",
    ("StorageClass", "premium-rwo"): "GKE ships it",
    ("StorageClass", "standard"): "GKE ships it",
    # https://docs.aws.amazon.com/eks/latest/userguide/create-storage-class.html
    ("StorageClass", "gp2"): "EKS clusters created before 1.30 ship it",
}

# API groups the API server serves itself; any other group is a custom resource needing its CRD.
BUILTIN_GROUPS = {"core", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "storage.k8s.io",
                  "rbac.authorization.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io",
                  "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io",
                  "certificates.k8s.io", "helm.sh", "yaml", "kustomize"}
# The chart that installs each custom API group's CRDs (and the webhooks that admit its objects).
CRD_CHARTS: Mapping[str, str] = {
    "keda.sh": "keda",  # https://keda.sh/docs/latest/deploy/#helm
    "elbv2.k8s.aws": "aws-load-balancer-controller",  # https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/installation/
    "monitoring.coreos.com": "kube-prometheus-stack",
}


def _kubernetes(r: Resource) -> bool:
    return r.type.startswith("kubernetes:")


def cluster_of(r: Resource) -> str:
    return provider_urn(r.options.get("provider")) or ""


def _meta(r: Resource) -> Mapping[str, Any]:
    meta = r.inputs.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def created_elsewhere(r: Resource) -> dict[tuple[str, str], str]:
    """`Kind/name: reason; ...` from the referring object's annotation (entries without a reason are
    ignored). ": " separates name and reason, so a name may hold colons (an ARN)."""
    raw = r.annotation(CREATED_ELSEWHERE) or ""
    out = {}
    for entry in raw.split(";"):
        ref, _, reason = entry.partition(": ")
        kind, _, name = ref.strip().partition("/")
        if kind and name and reason.strip():
            out[(kind, name)] = reason.strip()
    return out


class KubernetesIndex:
    """Declared Kubernetes objects by (cluster, kind, namespace, name), and namespaces Helm creates."""

    def __init__(self, ctx: Context):
        self.objects: dict[tuple[str, str, str, str], str] = {}
        for r in ctx.run:
            if r.type in KIND and isinstance(_meta(r).get("name"), str):
                ns = "" if r.type in CLUSTER_SCOPED else str(_meta(r).get("namespace") or "default")
                self.objects[(cluster_of(r), KIND[r.type], ns, _meta(r)["name"])] = r.urn
            if r.type == T_RELEASE and r.inputs.get("createNamespace") and r.inputs.get("namespace"):
                self.objects.setdefault((cluster_of(r), "Namespace", "", str(r.inputs["namespace"])), r.urn)

    def find(self, cluster: str, kind: str, namespace: str, name: str) -> str | None:
        return self.objects.get((cluster, kind, "" if kind in ("Namespace", "StorageClass") else namespace, name))


def pod_spec(r: Resource) -> Mapping[str, Any] | None:
    spec = r.inputs.get("spec")
    if not isinstance(spec, Mapping):
        return None
    if r.type == "kubernetes:core/v1:Pod":
        return spec
    if r.type == "kubernetes:batch/v1:CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return (template or {}).get("spec") if isinstance(template, Mapping) else None


def references(r: Resource) -> Iterator[tuple[str, str]]:
    """(kind, name) of every object `r` names by value in its own namespace (or cluster-wide)."""
    ns = _meta(r).get("namespace")
    if ns and r.type not in CLUSTER_SCOPED:
        yield "Namespace", str(ns)
    spec = r.inputs.get("spec") if isinstance(r.inputs.get("spec"), Mapping) else {}
    if r.type == "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding":
        ref = spec.get("serviceRef") or {}
        if ref.get("name"):
            yield "Service", str(ref["name"])
    if r.type == T_PVC and spec.get("storageClassName"):
        yield "StorageClass", str(spec["storageClassName"])
    for claim in spec.get("volumeClaimTemplates") or ():
        sc = (claim.get("spec") or {}).get("storageClassName")
        if sc:
            yield "StorageClass", str(sc)
    if r.type == "kubernetes:batch/v1:CronJob":
        return  # its pods start at the schedule, long after this `up` created what they name
    pod = pod_spec(r)
    if not pod:
        return
    sa = pod.get("serviceAccountName") or pod.get("serviceAccount")
    if sa:
        yield "ServiceAccount", str(sa)
    for secret in pod.get("imagePullSecrets") or ():
        yield "Secret", str(secret.get("name"))
    for volume in pod.get("volumes") or ():
        if "secret" in volume and not volume["secret"].get("optional"):
            yield "Secret", str(volume["secret"].get("secretName"))
        if "configMap" in volume and not volume["configMap"].get("optional"):
            yield "ConfigMap", str(volume["configMap"].get("name"))
        if "persistentVolumeClaim" in volume:
            yield "PersistentVolumeClaim", str(volume["persistentVolumeClaim"].get("claimName"))
        for source in (volume.get("projected") or {}).get("sources") or ():
            for key, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
                if key in source and not source[key].get("optional"):
                    yield kind, str(source[key].get("name"))
    for container in [*(pod.get("containers") or ()), *(pod.get("initContainers") or ())]:
        for env in container.get("env") or ():
            source = env.get("valueFrom") or {}
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if key in source and not source[key].get("optional"):
                    yield kind, str(source[key].get("name"))
        for env in container.get("envFrom") or ():
            for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if key in env and not env[key].get("optional"):
                    yield kind, str(env[key].get("name"))


@rule("deploy/k8s-references", stage="deploy", source=K8S_NAMES)
def named_objects_exist_first(ctx: Context) -> Iterator[Violation]:
    """Namespaces, Secrets, ConfigMaps, ServiceAccounts, PVCs, StorageClasses and Services a
    Kubernetes object names are created before it (in its cluster), or pre-existing on purpose."""
    index = KubernetesIndex(ctx)
    order = engine_order(ctx.run)
    for r in ctx.run:
        if not _kubernetes(r) or not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        ns = str(_meta(r).get("namespace") or "default")
        allowed = created_elsewhere(r)
        seen: set[tuple[str, str]] = set()
        for kind, name in references(r):
            if (kind, name) in seen or (kind, name) in allowed or (kind, name) in PREEXISTING:
                continue
            seen.add((kind, name))
            found = index.find(cluster_of(r), kind, ns, name)
            if found is None:
                yield Violation("deploy/k8s-references", r.urn,
                                f"names {kind} {name!r} (namespace {ns}), which nothing in this cluster creates: "
                                f"declare it, or annotate {CREATED_ELSEWHERE} with the reason")
            elif found != r.urn and found not in order.before(r.urn):
                yield Violation("deploy/k8s-references", r.urn,
                                f"names {kind} {name!r}, created by {found.rsplit('::', 1)[-1]} but not before it: "
                                "add it to depends_on")


def api_group(typ: str) -> str:
    """`kubernetes:keda.sh/v1alpha1:ScaledObject` -> `keda.sh`; `kubernetes:core/v1:Pod` -> `core`."""
    return typ.split(":", 2)[1].split("/")[0]


@rule("deploy/custom-resource-crd", stage="deploy",
      source="https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/")
def custom_resources_after_their_crd(ctx: Context) -> Iterator[Violation]:
    """A custom resource is created after the Helm release (or CRD) that installs its kind, in its cluster."""
    order = engine_order(ctx.run)
    for r in ctx.run:
        if not _kubernetes(r) or r.type.startswith("pulumi:providers:") or not r.custom:
            continue
        group = api_group(r.type)
        if group in BUILTIN_GROUPS:
            continue
        before = [ctx.run.by_urn[u] for u in order.before(r.urn)]
        chart = CRD_CHARTS.get(group)
        ok = any(b.type == T_RELEASE and chart and b.inputs.get("chart") == chart and cluster_of(b) == cluster_of(r)
                 for b in before) or any(b.type == T_CRD and (b.inputs.get("spec") or {}).get("group") == group
                                         and cluster_of(b) == cluster_of(r) for b in before)
        if not ok:
            what = f"the {chart!r} Helm release" if chart else f"a CustomResourceDefinition of {group}"
            yield Violation("deploy/custom-resource-crd", r.urn,
                            f"{group} object created without {what} before it in its cluster")


@rule("deploy/target-group-binding", stage="deploy",
      source="https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/targetgroupbinding/"
             "targetgroupbinding/ (targetGroupARN: an existing target group)")
def bindings_name_created_target_groups(ctx: Context) -> Iterator[Violation]:
    """A TargetGroupBinding's ARN comes from a target group this run creates first, or is pre-existing."""
    order = engine_order(ctx.run)
    for r in ctx.run.of_type("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"):
        if ("TargetGroup", str((r.inputs.get("spec") or {}).get("targetGroupARN"))) in created_elsewhere(r):
            continue
        if not any(ctx.run.by_urn[u].type == "aws:lb/targetGroup:TargetGroup" for u in order.before(r.urn)
                   if u in r.dependencies):
            yield Violation("deploy/target-group-binding", r.urn,
                            "targetGroupARN does not come from a target group created before it (a literal ARN?)")


def neg_names(service: Resource) -> set[str]:
    """Names GKE's NEG controller gives the standalone NEGs of a Service (`cloud.google.com/neg`)."""
    raw = service.annotation("cloud.google.com/neg")
    try:
        ports = (json.loads(raw) if raw else {}).get("exposed_ports") or {}
    except (TypeError, ValueError):
        return set()
    return {str(p["name"]) for p in ports.values() if isinstance(p, Mapping) and p.get("name")}


@rule("deploy/neg-reference", stage="deploy",
      source="https://cloud.google.com/kubernetes-engine/docs/how-to/standalone-neg (the NEG controller "
             "creates the named NEGs once the annotated Service exists)")
def backends_after_their_negs(ctx: Context) -> Iterator[Violation]:
    """A backend service naming a NEG is created after the Service (or NEG resource) that makes it."""
    makers: dict[str, str] = {}
    for r in ctx.run.of_type(T_SERVICE):
        for name in neg_names(r):
            makers[name] = r.urn
    for r in ctx.run:
        if r.type.startswith(("gcp:compute/networkEndpointGroup:", "gcp:compute/regionNetworkEndpointGroup:")):
            makers[str(r.inputs.get("name"))] = r.urn
    order = engine_order(ctx.run)
    for r in ctx.run.of_type("gcp:compute/regionBackendService:RegionBackendService",
                             "gcp:compute/backendService:BackendService"):
        for backend in r.inputs.get("backends") or ():
            group = str(backend.get("group") or "")
            if "/networkEndpointGroups/" not in group:
                continue
            name = group.rsplit("/", 1)[-1]
            maker = makers.get(name)
            if maker is None:
                yield Violation("deploy/neg-reference", r.urn, f"backend NEG {name!r}: nothing in the run creates it")
            elif maker not in order.before(r.urn):
                yield Violation("deploy/neg-reference", r.urn,
                                f"backend NEG {name!r} is made by {maker.rsplit('::', 1)[-1]}, not ordered before")
