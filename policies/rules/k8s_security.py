"""Kubernetes objects (CIS Kubernetes 5.x, Pod Security Standards `restricted`): workloads that meet
the restricted profile, Services and Ingresses that publish only TLS, NetworkPolicies that never
admit the internet or the metadata endpoint, default-deny in every workload namespace, StatefulSets
that keep their volumes, and Helm charts fetched over HTTPS with provenance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .core import (
    ADVISORY,
    HIGH,
    LOW,
    MANDATORY,
    MEDIUM,
    NotApplicable,
    Param,
    Resource,
    StackFinding,
    as_list,
    get,
    is_unknown,
    rule,
    stack_rule,
)
from .netmath import covers_world, reaches_metadata

DEPLOYMENT, STATEFUL_SET, DAEMON_SET = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet",
                                        "kubernetes:apps/v1:DaemonSet")
REPLICA_SET, JOB, CRON_JOB, POD = ("kubernetes:apps/v1:ReplicaSet", "kubernetes:batch/v1:Job",
                                   "kubernetes:batch/v1:CronJob", "kubernetes:core/v1:Pod")
POD_OWNERS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, JOB, CRON_JOB, POD)
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
HELM = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
EXCEPTION_ANNOTATION = "global-ai-rollout/pod-security-exception"

EXEMPT = Param("array", ["kube-system", "nvidia-device-plugin"],
               "namespaces whose pods may need host access (reviewed exceptions; see docs/security.md)")


def pod_spec(r: Resource) -> dict[str, Any]:
    """The pod template's spec of any workload kind (CronJob nests it one level deeper)."""
    path = {POD: "spec", CRON_JOB: "spec.jobTemplate.spec.template.spec"}.get(r.type, "spec.template.spec")
    spec = get(r.props, path, {})
    return spec if isinstance(spec, dict) else {}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("containers", "initContainers", "ephemeralContainers")
            for c in as_list(spec.get(key)) if isinstance(c, dict)]


def namespace_of(r: Resource) -> Any:
    return get(r.props, "metadata.namespace", "default")


@dataclass(frozen=True)
class Finding:
    """One departure from the restricted profile: which control, in which container, with which value."""

    control: str
    container: str | None
    value: str | None
    message: str


def restricted_findings(spec: dict[str, Any]) -> Iterator[Finding]:
    pod_ctx = spec.get("securityContext") if isinstance(spec.get("securityContext"), dict) else {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield Finding(key, None, None, f"{key} is true")
    for volume in as_list(spec.get("volumes")):
        if isinstance(volume, dict) and volume.get("hostPath"):
            path = get(volume, "hostPath.path")
            yield Finding("hostPath", None, str(path), f"volume {volume.get('name')} is a hostPath ({path})")
    pod_seccomp = get(pod_ctx, "seccompProfile.type")
    pod_non_root = pod_ctx.get("runAsNonRoot")
    if pod_ctx.get("runAsUser") == 0:
        yield Finding("runAsUser", None, "0", "the pod runs as user 0")
    for c in containers(spec):
        name, ctx = c.get("name"), c.get("securityContext") if isinstance(c.get("securityContext"), dict) else {}
        if is_unknown(ctx):
            continue
        if ctx.get("privileged") is True:
            yield Finding("privileged", name, None, f"container {name} is privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            yield Finding("allowPrivilegeEscalation", name, None,
                          f"container {name}: allowPrivilegeEscalation is not false")
        if ctx.get("runAsNonRoot", pod_non_root) is not True:
            yield Finding("runAsNonRoot", name, None, f"container {name}: runAsNonRoot is not true")
        if ctx.get("runAsUser") == 0:
            yield Finding("runAsUser", name, "0", f"container {name} runs as user 0")
        if "ALL" not in as_list(get(ctx, "capabilities.drop")):
            yield Finding("capabilities.drop", name, None, f"container {name} does not drop ALL capabilities")
        for cap in as_list(get(ctx, "capabilities.add")):
            if cap != "NET_BIND_SERVICE":
                yield Finding("capabilities.add", name, str(cap), f"container {name} adds capability {cap}")
        if get(ctx, "seccompProfile.type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            yield Finding("seccompProfile", name, None, f"container {name}: seccompProfile is not RuntimeDefault")
        for port in as_list(c.get("ports")):
            if isinstance(port, dict) and port.get("hostPort"):
                yield Finding("hostPort", name, str(port.get("hostPort")),
                              f"container {name} binds hostPort {port.get('hostPort')}")


def _restricted_problems(spec: dict[str, Any]) -> Iterator[str]:
    for finding in restricted_findings(spec):
        yield finding.message


# Reviewed exceptions name exactly what is exempt: `NAMESPACE/WORKLOAD[/CONTAINER]: CONTROL[=VALUE]`.
# The NVIDIA device plugin registers through the kubelet's socket directory and runs as root
# (https://github.com/NVIDIA/k8s-device-plugin/blob/main/deployments/static/nvidia-device-plugin.yml);
# nothing else of it, and nothing else in its namespace, is exempt (docs/security.md).
EXCEPTIONS = Param("array", [
    "nvidia-device-plugin/nvidia-device-plugin: hostPath=/var/lib/kubelet/device-plugins",
    "nvidia-device-plugin/nvidia-device-plugin/nvidia-device-plugin-ctr: runAsNonRoot",
], "scoped exceptions 'namespace/workload[/container]: control[=value]' (controls: hostNetwork, hostPID, "
   "hostIPC, hostPath, runAsUser, privileged, allowPrivilegeEscalation, runAsNonRoot, capabilities.drop, "
   "capabilities.add, seccompProfile, hostPort)")


def _excepted(finding: Finding, namespace: Any, workload: Any, exceptions: list[str]) -> bool:
    for entry in exceptions:
        scope, _, control = str(entry).partition(":")
        parts = [p.strip() for p in scope.split("/")]
        control, _, value = control.strip().partition("=")
        if len(parts) not in (2, 3) or parts[0] != namespace or parts[1] != workload:
            continue
        if len(parts) == 3 and parts[2] != finding.container:
            continue
        if control != finding.control or (value and value != finding.value):
            continue
        if not value and finding.control in ("hostPath", "capabilities.add", "hostPort"):
            continue  # these name the path / capability / port
        return True
    return False


@rule("k8s-pod-security-restricted",
      "Workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Pods) meet the Pod Security `restricted` "
      "profile: non-root, no privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp, no host "
      "namespaces, paths or ports. An exception names one workload (and container), one control and its value "
      "(a hostPath's path, a capability), never a whole namespace.",
      enforcement=MANDATORY, severity=HIGH, types=POD_OWNERS, params={"exceptions": EXCEPTIONS})
def pod_security_restricted(r: Resource, config) -> Iterator[str]:
    namespace, workload = namespace_of(r), get(r.props, "metadata.name")
    for finding in restricted_findings(pod_spec(r)):
        if not _excepted(finding, namespace, workload, list(config["exceptions"])):
            yield finding.message


@rule("k8s-workload-hygiene",
      "Workload containers have a read-only root filesystem and pods do not mount a service-account token they "
      "do not use.",
      enforcement=ADVISORY, severity=LOW, types=POD_OWNERS)
def workload_hygiene(r: Resource, config) -> Iterator[str]:
    spec = pod_spec(r)
    for c in containers(spec):
        if get(c, "securityContext.readOnlyRootFilesystem") is not True:
            yield f"container {c.get('name')} has a writable root filesystem"
    if spec.get("automountServiceAccountToken") is not False and spec.get("serviceAccountName") in (None, "default"):
        yield "the default service account's token is mounted"


@rule("k8s-statefulset-keeps-volumes",
      "StatefulSets keep their PersistentVolumeClaims when deleted or scaled down (MongoDB data survives).",
      enforcement=MANDATORY, severity=HIGH, types=(STATEFUL_SET,))
def statefulset_keeps_volumes(r: Resource, config) -> Iterator[str]:
    policy = get(r.props, "spec.persistentVolumeClaimRetentionPolicy", {})
    if not isinstance(policy, dict):
        return
    for when in ("whenDeleted", "whenScaled"):
        if policy.get(when) == "Delete":
            yield f"persistentVolumeClaimRetentionPolicy.{when} is Delete"


INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "Internal",
    "cloud.google.com/load-balancer-type": "Internal",
}


def _internal_lb(props: Any) -> bool:
    annotations = get(props, "metadata.annotations", {})
    if not isinstance(annotations, dict):
        return True  # unknown: decided at update time
    return any(str(annotations.get(k, "")).lower() == v.lower() for k, v in INTERNAL_LB_ANNOTATIONS.items())


@rule("k8s-service-exposure",
      "Services never take externalIPs (CVE-2020-8554); LoadBalancer Services are internal unless they publish "
      "only 443; NodePorts are not used.",
      enforcement=MANDATORY, severity=HIGH, types=(SERVICE,),
      params={"publicPorts": Param("array", [443], "ports a public LoadBalancer Service may publish")})
def service_exposure(r: Resource, config) -> Iterator[str]:
    spec = r.props.get("spec") if isinstance(r.props.get("spec"), dict) else {}
    if as_list(spec.get("externalIPs")) and not is_unknown(spec.get("externalIPs")):
        yield "spec.externalIPs is set"
    kind = spec.get("type", "ClusterIP")
    if kind == "NodePort":
        yield "type NodePort opens a port on every node"
    if kind != "LoadBalancer" or _internal_lb(r.props):
        return
    ports = [p.get("port") for p in as_list(spec.get("ports")) if isinstance(p, dict)]
    public = [p for p in ports if not is_unknown(p) and p not in config["publicPorts"]]
    if public:
        yield f"internet-facing LoadBalancer publishes ports {public}; only {list(config['publicPorts'])}"
    plain = [p for p in as_list(spec.get("ports")) if isinstance(p, dict) and not _serves_tls(r.props, p)]
    if plain:
        yield (f"internet-facing LoadBalancer port(s) {[p.get('port') for p in plain]} carry no TLS: no certificate "
               "annotation covers them and the backend protocol is not https/tls (a port number is not a protocol)")
    ranges = spec.get("loadBalancerSourceRanges")
    if ranges and not is_unknown(ranges) and covers_world(as_list(ranges)) and public:
        yield "loadBalancerSourceRanges admits the whole internet"


# TLS on a Service is a listener property, not a port number: the AWS load balancer controller terminates TLS
# on the ports in `aws-load-balancer-ssl-ports` (all ports when unset) when `aws-load-balancer-ssl-cert` is
# set (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/#ssl-cert);
# otherwise the port passes through what the pods speak, declared by `appProtocol` (or a port named https/tls).
SSL_CERT = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
SSL_PORTS = "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"
TLS_APP_PROTOCOLS = ("https", "tls", "kubernetes.io/wss", "grpcs")


def _serves_tls(props: Any, port: dict[str, Any]) -> bool:
    annotations = get(props, "metadata.annotations", {})
    if not isinstance(annotations, dict) or any(is_unknown(v) for v in port.values()):
        return True  # unknown: decided at update time
    if annotations.get(SSL_CERT):
        listed = [x.strip() for x in str(annotations.get(SSL_PORTS, "*")).split(",")]
        if "*" in listed or str(port.get("port")) in listed or str(port.get("name")) in listed:
            return True
    protocol = str(port.get("appProtocol") or port.get("name") or "").lower()
    return protocol in TLS_APP_PROTOCOLS or protocol.startswith("https")


TLS_ANNOTATIONS = ("alb.ingress.kubernetes.io/certificate-arn", "networking.gke.io/managed-certificates",
                   "ingress.gcp.kubernetes.io/pre-shared-cert", "networking.gke.io/pre-shared-certs")


@rule("k8s-ingress-tls", "Ingresses terminate TLS (spec.tls or the cloud controller's certificate annotation).",
      enforcement=MANDATORY, severity=HIGH, types=(INGRESS,))
def ingress_tls(r: Resource, config) -> Iterator[str]:
    annotations = get(r.props, "metadata.annotations", {})
    if is_unknown(annotations) or is_unknown(get(r.props, "spec.tls")):
        return
    has_annotation = isinstance(annotations, dict) and any(annotations.get(k) for k in TLS_ANNOTATIONS)
    if not as_list(get(r.props, "spec.tls")) and not has_annotation:
        yield "no spec.tls and no certificate annotation: the Ingress serves plain HTTP"
    if isinstance(annotations, dict) and annotations.get("kubernetes.io/ingress.allow-http") == "true":
        yield "kubernetes.io/ingress.allow-http is 'true'"


def _peer_blocks(peers: list[Any]) -> tuple[list[Any], list[Any]]:
    cidrs, excepts = [], []
    for peer in peers:
        block = peer.get("ipBlock") if isinstance(peer, dict) else None
        if isinstance(block, dict):
            cidrs.append(block.get("cidr"))
            excepts += as_list(block.get("except"))
    return cidrs, excepts


def _selects_all(selector: Any) -> bool:
    return isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")


def peer_scope(peer: Any) -> str:
    """What a NetworkPolicy peer selects, read as the API defines it
    (https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors):
    namespaceSelector {} = every namespace; with podSelector {} (or none) = every pod of every namespace;
    podSelector alone = pods of the policy's own namespace."""
    if not isinstance(peer, dict) or is_unknown(peer):
        return "unknown"
    if peer.get("ipBlock") is not None:
        return "ipBlock"
    ns, pods = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns is not None and _selects_all(ns):
        return "every pod of every namespace" if pods is None or _selects_all(pods) else "every namespace"
    return "selected pods"


METADATA_EGRESS_ANNOTATION = "global-ai-rollout/metadata-egress"


@rule("k8s-network-policy-narrow",
      "NetworkPolicy rules never admit every source or the whole internet, and egress never reaches the cloud "
      "metadata endpoint (169.254.169.254).",
      enforcement=MANDATORY, severity=HIGH, types=(NETWORK_POLICY,))
def network_policy_narrow(r: Resource, config) -> Iterator[str]:
    spec = r.props.get("spec") if isinstance(r.props.get("spec"), dict) else {}
    for i, entry in enumerate(as_list(spec.get("ingress"))):
        if not isinstance(entry, dict):
            continue
        peers = as_list(entry.get("from"))
        if not peers:
            yield f"ingress[{i}] has no `from`: every source in and outside the cluster is admitted"
        elif covers_world(_peer_blocks(peers)[0]):
            yield f"ingress[{i}] admits the whole internet (ipBlock)"
        else:
            for scope in (peer_scope(p) for p in peers):
                if scope in ("every pod of every namespace", "every namespace"):
                    yield f"ingress[{i}] admits {scope} (a selector that selects everything)"
                    break
    metadata = r.props.get("metadata") if isinstance(r.props.get("metadata"), dict) else {}
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
    documented = bool(str(annotations.get(METADATA_EGRESS_ANNOTATION, "")).strip())
    for i, entry in enumerate(as_list(spec.get("egress"))):
        if not isinstance(entry, dict):
            continue
        cidrs, excepts = _peer_blocks(as_list(entry.get("to")))
        if reaches_metadata(cidrs, excepts) and not (
                documented and as_list(entry.get("ports")) and all(str(c).endswith("/32") for c in cidrs)):
            yield (f"egress[{i}] reaches the instance metadata endpoint (allowed only as a /32 with ports, in a "
                   f"policy annotated `{METADATA_EGRESS_ANNOTATION}` with the reason)")
        if not as_list(entry.get("to")) and not as_list(entry.get("ports")):
            yield f"egress[{i}] allows everything to everywhere"
        elif not as_list(entry.get("ports")) and covers_world(cidrs):
            yield f"egress[{i}] allows every port to the whole internet (ipBlock)"


def _is_default_deny(policy: Resource) -> bool:
    spec = policy.props.get("spec") if isinstance(policy.props.get("spec"), dict) else {}
    selector = spec.get("podSelector")
    selects_all = isinstance(selector, dict) and not selector.get("matchLabels") and not \
        selector.get("matchExpressions")
    types = set(as_list(spec.get("policyTypes")))
    return selects_all and {"Ingress", "Egress"} <= types and not spec.get("ingress") and not spec.get("egress")


def cluster_of(r: Resource) -> str:
    """The cluster a Kubernetes object belongs to: the nearest `rollout:cluster:*` ancestor, else its region."""
    for node in r.ancestors():
        if node.type.startswith("rollout:cluster:"):
            return node.name
    return "?"


@stack_rule("k8s-namespaces-default-deny",
            "Every workload namespace of every cluster has a default-deny NetworkPolicy (empty podSelector, Ingress "
            "and Egress, no rules), so only the explicit allows let traffic through.",
            enforcement=MANDATORY, severity=HIGH, reads=(NAMESPACE, NETWORK_POLICY),
            params={"workloadNamespaces": Param("array", ["rollout-serving", "rollout-data", "rollout-system"],
                                                "namespaces that must be default-deny")})
def namespaces_default_deny(resources: list[Resource], config) -> Iterator[StackFinding]:
    namespaces = [r for r in resources if r.type == NAMESPACE and get(r.props, "metadata.name")
                  in config["workloadNamespaces"]]
    if not namespaces:
        raise NotApplicable("no workload namespace in the stack")
    deny: dict[str, set[str]] = defaultdict(set)
    for policy in (r for r in resources if r.type == NETWORK_POLICY and _is_default_deny(r)):
        deny[cluster_of(policy)].add(str(namespace_of(policy)))
    for ns in namespaces:
        name = get(ns.props, "metadata.name")
        if name not in deny.get(cluster_of(ns), set()):
            yield f"namespace {name} has no default-deny NetworkPolicy", ns.urn


@rule("k8s-namespace-pod-security",
      "Workload namespaces enforce the `restricted` Pod Security Standard; other namespaces at least `baseline`; "
      "`privileged` only in the reviewed exceptions, each carrying its reason as an annotation.",
      enforcement=MANDATORY, severity=HIGH, types=(NAMESPACE,),
      params={"restrictedNamespaces": Param("array", ["rollout-serving", "rollout-data", "rollout-system"],
                                            "namespaces that must enforce restricted"),
              "privilegedNamespaces": EXEMPT})
def namespace_pod_security(r: Resource, config) -> Iterator[str]:
    labels = get(r.props, "metadata.labels", {})
    name = get(r.props, "metadata.name")
    if is_unknown(labels) or is_unknown(name):
        return
    level = labels.get(ENFORCE_LABEL) if isinstance(labels, dict) else None
    if name in config["restrictedNamespaces"]:
        if level != "restricted":
            yield f"{ENFORCE_LABEL} is {level!r}; workload namespace {name} must be 'restricted'"
        return
    if level in ("baseline", "restricted"):
        return
    if name not in config["privilegedNamespaces"]:
        yield f"{ENFORCE_LABEL} is {level!r} outside the reviewed exceptions {list(config['privilegedNamespaces'])}"
    elif not get(r.props, f"metadata.annotations.{EXCEPTION_ANNOTATION}") and name != "kube-system":
        yield f"privileged namespace {name} without a {EXCEPTION_ANNOTATION} annotation saying why"


@rule("helm-repository-https", "Helm charts come from HTTPS or OCI repositories (never plain HTTP).",
      enforcement=MANDATORY, severity=HIGH, types=HELM)
def helm_https(r: Resource, config) -> Iterator[str]:
    for value in (get(r.props, "repositoryOpts.repo"), r.props.get("chart"), r.props.get("repositoryOpts")):
        if isinstance(value, str) and value.startswith("http://"):
            yield f"{value} is fetched over plain HTTP"


@rule("helm-chart-provenance",
      "Helm charts are verified (verify with a keyring) or pulled from OCI by digest, so a tampered chart fails.",
      enforcement=ADVISORY, severity=MEDIUM, types=HELM)
def helm_provenance(r: Resource, config) -> Iterator[str]:
    chart = r.props.get("chart")
    if r.props.get("verify") is True or (isinstance(chart, str) and "@sha256:" in chart):
        return
    yield f"chart {chart!r} is neither provenance-verified nor pinned by digest"


@rule("k8s-hpa-bounded", "HorizontalPodAutoscalers keep at least 2 replicas and a ceiling above the floor.",
      enforcement=ADVISORY, severity=LOW, types=(HPA,))
def hpa_bounded(r: Resource, config) -> Iterator[str]:
    low, high = get(r.props, "spec.minReplicas", 1), get(r.props, "spec.maxReplicas")
    if is_unknown(low) or is_unknown(high):
        return
    if float(low) < 2:
        yield f"minReplicas {low:g}: one pod is a single point of failure"
    if high is not None and float(high) < float(low):
        yield f"maxReplicas {high:g} < minReplicas {low:g}"


SECRET_NAME_HINTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL")


@rule("k8s-no-literal-secrets-in-env",
      "Containers take passwords, tokens and keys from Secrets (valueFrom), never as literal env values in the "
      "manifest (they would sit in state and in every `kubectl get -o yaml`).",
      enforcement=MANDATORY, severity=HIGH, types=POD_OWNERS)
def no_literal_secrets(r: Resource, config) -> Iterator[str]:
    for c in containers(pod_spec(r)):
        for env in as_list(c.get("env")):
            if not isinstance(env, dict):
                continue
            name, value = str(env.get("name", "")).upper(), env.get("value")
            if any(h in name for h in SECRET_NAME_HINTS) and isinstance(value, str) and value and \
                    not is_unknown(value):
                yield f"container {c.get('name')} sets {env.get('name')} to a literal value"


@rule("k8s-ingress-tls-policy",
      "Ingress controllers' TLS settings: ALB ingresses use a TLS 1.2+ policy and redirect HTTP to HTTPS; "
      "NGINX ingresses never turn the SSL redirect off.",
      enforcement=MANDATORY, severity=HIGH, types=(INGRESS,))
def ingress_tls_policy(r: Resource, config) -> Iterator[str]:
    annotations = get(r.props, "metadata.annotations", {})
    if not isinstance(annotations, dict):
        return
    policy = annotations.get("alb.ingress.kubernetes.io/ssl-policy")
    if isinstance(policy, str) and not any(m in policy for m in ("TLS13-1-2", "TLS13-1-3", "TLS-1-2", "FS-1-2")):
        yield f"alb.ingress.kubernetes.io/ssl-policy {policy} allows TLS below 1.2"
    ports = str(annotations.get("alb.ingress.kubernetes.io/listen-ports", ""))
    if '"HTTP"' in ports and not annotations.get("alb.ingress.kubernetes.io/ssl-redirect"):
        yield "ALB listens on HTTP without alb.ingress.kubernetes.io/ssl-redirect"
    for key in ("nginx.ingress.kubernetes.io/ssl-redirect", "nginx.ingress.kubernetes.io/force-ssl-redirect"):
        if str(annotations.get(key, "")).lower() == "false":
            yield f"{key} is 'false'"


CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
PUBLIC_GROUPS = ("system:anonymous", "system:unauthenticated", "system:authenticated")


@rule("k8s-rbac-least-privilege",
      "RBAC never binds cluster-admin to workloads or grants anything to anonymous / all authenticated users, and "
      "roles never allow every verb on every resource (CIS Kubernetes 5.1.1, 5.1.3).",
      enforcement=MANDATORY, severity=HIGH, types=(CLUSTER_ROLE_BINDING, ROLE_BINDING, CLUSTER_ROLE, ROLE))
def rbac_least_privilege(r: Resource, config) -> Iterator[str]:
    if r.type in (CLUSTER_ROLE_BINDING, ROLE_BINDING):
        subjects = [s for s in as_list(r.props.get("subjects")) if isinstance(s, dict)]
        if get(r.props, "roleRef.name") == "cluster-admin" and any(s.get("kind") == "ServiceAccount"
                                                                    for s in subjects):
            yield "cluster-admin is bound to a service account"
        public = [s.get("name") for s in subjects if s.get("name") in PUBLIC_GROUPS]
        if public:
            yield f"bound to {', '.join(public)}"
        return
    for entry in as_list(r.props.get("rules")):
        if not isinstance(entry, dict):
            continue
        if "*" in as_list(entry.get("verbs")) and "*" in as_list(entry.get("resources")):
            yield "a rule allows every verb on every resource"
        if "secrets" in as_list(entry.get("resources")) and {"list", "watch", "*"} & set(as_list(entry.get("verbs"))) \
                and r.type == CLUSTER_ROLE:
            yield "a cluster role lists or watches Secrets in every namespace"


CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


@rule("k8s-no-secrets-in-configmaps",
      "ConfigMaps hold no private keys or credentials (they are not encrypted at rest and readable by anyone "
      "who may read configuration).",
      enforcement=MANDATORY, severity=HIGH, types=(CONFIG_MAP,))
def no_secrets_in_configmaps(r: Resource, config) -> Iterator[str]:
    data = r.props.get("data")
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if not isinstance(value, str) or is_unknown(value):
            continue
        if "PRIVATE KEY-----" in value:
            yield f"data.{key} holds a private key"
        elif any(h in str(key).upper() for h in SECRET_NAME_HINTS) and value.strip():
            yield f"data.{key} looks like a credential"


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every mapping entry of a nested Helm values tree."""
    if is_unknown(value):
        return
    if isinstance(value, dict):
        for key, child in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, str(key), child
            yield from _walk(child, here)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, f"{path}[{i}]")


def helm_value_findings(values: Any) -> Iterator[Finding]:
    """The restricted profile's controls as chart values spell them (securityContext, podSecurityContext,
    containerSecurityContext, hostNetwork, volumes with hostPath, capabilities)."""
    for path, key, value in _walk(values):
        if key in ("privileged", "hostNetwork", "hostPID", "hostIPC", "allowPrivilegeEscalation") and value is True:
            yield Finding(key, None, None, f"values.{path} is true")
        elif key == "runAsUser" and value == 0 and not isinstance(value, bool):
            yield Finding("runAsUser", None, "0", f"values.{path} is 0 (root)")
        elif key == "runAsNonRoot" and value is False:
            yield Finding("runAsNonRoot", None, None, f"values.{path} is false")
        elif key == "hostPath" and value:
            host = value.get("path") if isinstance(value, dict) else value
            yield Finding("hostPath", None, str(host), f"values.{path} mounts the node's {host}")
        elif key == "add" and path.endswith("capabilities.add"):
            for cap in as_list(value):
                if cap != "NET_BIND_SERVICE" and not is_unknown(cap):
                    yield Finding("capabilities.add", None, str(cap), f"values.{path} adds {cap}")


@rule("helm-values-pod-security",
      "Helm releases' values never ask for what the restricted profile forbids in this program's own workloads "
      "(privileged, host namespaces, hostPath, root, added capabilities), except a scoped exception "
      "'namespace/release: control[=value]'.",
      enforcement=MANDATORY, severity=HIGH, types=HELM, params={"exceptions": EXCEPTIONS})
def helm_values_pod_security(r: Resource, config) -> Iterator[str]:
    namespace, release = r.props.get("namespace", "default"), r.props.get("name") or r.name
    for finding in helm_value_findings(r.props.get("values")):
        if not _excepted(finding, namespace, release, list(config["exceptions"])):
            yield finding.message


def helm_unpinned_images(values: Any) -> Iterator[str]:
    for path, key, value in _walk(values):
        if key != "image":
            continue
        if isinstance(value, dict) and ("repository" in value or "tag" in value):
            tag, digest = value.get("tag"), value.get("digest")
            if is_unknown(tag) or digest:
                continue
            if "tag" in value and str(tag).strip() in ("", "latest"):
                yield f"values.{path}.tag is {tag!r}"
        elif isinstance(value, str) and not is_unknown(value):
            last = value.rsplit("/", 1)[-1]
            if "@sha256:" not in value and (":" not in last or last.endswith(":latest")):
                yield f"values.{path} {value!r} is not pinned"


@rule("helm-values-image-pinned", "Helm values that name an image pin it by tag or digest (never latest or empty).",
      enforcement=ADVISORY, severity=MEDIUM, types=HELM)
def helm_values_image_pinned(r: Resource, config) -> Iterator[str]:
    yield from helm_unpinned_images(r.props.get("values"))


RULES = [helm_values_pod_security, helm_values_image_pinned,
         no_secrets_in_configmaps, rbac_least_privilege, no_literal_secrets, ingress_tls_policy,
         pod_security_restricted, workload_hygiene, statefulset_keeps_volumes, service_exposure, ingress_tls,
         network_policy_narrow, namespaces_default_deny, namespace_pod_security, helm_https, helm_provenance,
         hpa_bounded]
