"""The pods each pinned Helm chart creates, described from the chart's templates and default values at
its pinned version, so the in-cluster rehearsal sees chart pods like the program's own workloads.

Pure data and small renderers (no pulumi, no helm binary): `describe(chart, version, release, values)`
deep-merges the release's values over the chart defaults kept here (the subset of values.yaml the pod
templates read) and renders each pod as a wire-form pod spec with its labels. A values override the
program passes therefore changes the description (a securityContext in values reaches the pod).

Each entry names where it was read (repository, tag or commit, files). Bump a pin in
`serving_versions.py` / `cluster_versions.py` / the component, then add the entry for the new version
here after reading its templates: a release whose chart/version has no entry is reported by the
rehearsal (`incluster/chart-described`), never skipped silently.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChartPod:
    """One pod template of a chart: the controller kind, its object name, pod labels and pod spec."""

    component: str
    kind: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class ChartDescription:
    chart: str
    version: str
    app_version: str
    source: str  # repository @ tag/commit : files read
    defaults: Mapping[str, Any]
    render: Callable[[str, Mapping[str, Any]], list[ChartPod]]
    # Cluster-wide RBAC rules the chart grants its main service account (rendered from values).
    cluster_rules: Callable[[Mapping[str, Any]], list[dict[str, Any]]] = field(default=lambda v: [])
    # Subcharts enabled by default that this description does not render: values key -> chart.
    undescribed_subcharts: Mapping[str, str] = field(default_factory=dict)


def merge_values(defaults: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Helm's coalescing: maps merge recursively, the given value wins, an explicit null removes the key."""
    out = copy.deepcopy(dict(defaults))
    for key, value in (given or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _some(**items: Any) -> dict[str, Any]:
    """A template's `{{- with x }}`: keys with empty values are not rendered."""
    return {k: v for k, v in items.items() if v not in (None, {}, [], "")}


# ---- prometheus-community/prometheus 27.52.0 ---------------------------------------------------------------

PROMETHEUS_SOURCE = ("https://github.com/prometheus-community/helm-charts @ prometheus-27.52.0 : "
                     "charts/prometheus/values.yaml, templates/deploy.yaml, templates/_helpers.tpl")
_PROMETHEUS_DEFAULTS: dict[str, Any] = {
    "configmapReload": {"prometheus": {
        "enabled": True, "name": "configmap-reload",
        "image": {"repository": "quay.io/prometheus-operator/prometheus-config-reloader", "tag": "v0.87.1"},
        "containerPort": 8080, "containerPortName": "metrics", "containerSecurityContext": {},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics", "scheme": "HTTP"},
                          "periodSeconds": 10, "initialDelaySeconds": 2},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics", "scheme": "HTTP"},
                           "periodSeconds": 10},
        "resources": {}}},
    "serviceAccounts": {"server": {"create": True, "name": ""}},
    "server": {
        "enabled": True, "name": "server", "podLabels": {},
        "image": {"repository": "quay.io/prometheus/prometheus", "tag": ""},
        "portName": "", "hostNetwork": False, "hostPort": None,
        "persistentVolume": {"enabled": True, "mountPath": "/data"},
        "emptyDir": {"medium": "", "sizeLimit": ""},
        "readinessProbeInitialDelay": 30, "readinessProbePeriodSeconds": 5, "readinessProbeTimeout": 4,
        "readinessProbeFailureThreshold": 3,
        "livenessProbeInitialDelay": 30, "livenessProbePeriodSeconds": 15, "livenessProbeTimeout": 10,
        "livenessProbeFailureThreshold": 3,
        "startupProbe": {"enabled": False, "periodSeconds": 5, "failureThreshold": 30, "timeoutSeconds": 10},
        "resources": {},
        "securityContext": {"runAsUser": 65534, "runAsNonRoot": True, "runAsGroup": 65534, "fsGroup": 65534},
        "containerSecurityContext": {},
        "terminationGracePeriodSeconds": 300,
        "tolerations": [], "nodeSelector": {},
    },
    # Subcharts, each enabled by default (Chart.yaml `condition`); the values the parent chart sets for
    # them (charts/prometheus/values.yaml `alertmanager:`) are merged over the subchart's own defaults.
    "alertmanager": {"enabled": True, "persistence": {"enabled": True, "size": "2Gi"},
                     "podSecurityContext": {"runAsUser": 65534, "runAsNonRoot": True, "runAsGroup": 65534,
                                            "fsGroup": 65534}},
    "kube-state-metrics": {"enabled": True},
    "prometheus-node-exporter": {"enabled": True}, "prometheus-pushgateway": {"enabled": True},
}
PROMETHEUS_PORT = 9090  # templates/_helpers.tpl "prometheus.port"


def _prometheus_pods(release: str, v: Mapping[str, Any]) -> list[ChartPod]:
    server = v["server"]
    if not server.get("enabled", True):
        return []
    name = "prometheus"
    fullname = release if name in release else f"{release}-{name}"
    labels = {"app.kubernetes.io/component": server["name"], "app.kubernetes.io/name": name,
              "app.kubernetes.io/instance": release, "app.kubernetes.io/version": "v3.8.1",
              "helm.sh/chart": "prometheus-27.52.0", "app.kubernetes.io/part-of": name,
              **(server.get("podLabels") or {})}
    containers = []
    reload = v["configmapReload"]["prometheus"]
    if reload.get("enabled"):
        port = {"containerPort": reload["containerPort"], "name": reload.get("containerPortName") or None}
        containers.append(_some(
            name=f"{name}-{server['name']}-{reload['name']}",
            image=f"{reload['image']['repository']}:{reload['image']['tag']}",
            ports=[_some(**port)] if reload.get("containerPort") else [],
            securityContext=reload.get("containerSecurityContext"),
            livenessProbe=reload.get("livenessProbe"), readinessProbe=reload.get("readinessProbe"),
            resources=reload.get("resources"),
            volumeMounts=[{"name": "config-volume", "mountPath": "/etc/config"}]))
    probe_port = server.get("portName") or PROMETHEUS_PORT
    http = {"path": "/-/ready", "port": probe_port, "scheme": "HTTP"}
    server_port = _some(containerPort=PROMETHEUS_PORT, name=server.get("portName"), hostPort=server.get("hostPort"))
    startup = server.get("startupProbe") or {}
    containers.append(_some(
        name=f"{name}-{server['name']}",
        image=f"{server['image']['repository']}:{server['image'].get('tag') or 'v3.8.1'}",
        ports=[server_port],
        readinessProbe={"httpGet": http, "initialDelaySeconds": server["readinessProbeInitialDelay"],
                        "periodSeconds": server["readinessProbePeriodSeconds"],
                        "timeoutSeconds": server["readinessProbeTimeout"],
                        "failureThreshold": server["readinessProbeFailureThreshold"]},
        livenessProbe={"httpGet": {**http, "path": "/-/healthy"},
                       "initialDelaySeconds": server["livenessProbeInitialDelay"],
                       "periodSeconds": server["livenessProbePeriodSeconds"],
                       "timeoutSeconds": server["livenessProbeTimeout"],
                       "failureThreshold": server["livenessProbeFailureThreshold"]},
        startupProbe={"httpGet": {**http, "path": "/-/healthy"}, "periodSeconds": startup.get("periodSeconds"),
                      "failureThreshold": startup.get("failureThreshold"),
                      "timeoutSeconds": startup.get("timeoutSeconds")} if startup.get("enabled") else None,
        resources=server.get("resources"),
        volumeMounts=[{"name": "config-volume", "mountPath": "/etc/config"},
                      {"name": "storage-volume", "mountPath": server["persistentVolume"]["mountPath"]}],
        securityContext=server.get("containerSecurityContext")))
    pv = server["persistentVolume"]
    storage: dict[str, Any] = ({"persistentVolumeClaim": {"claimName": f"{fullname}-server"}} if pv.get("enabled")
                               else {"emptyDir": _some(medium=server["emptyDir"].get("medium"),
                                                       sizeLimit=server["emptyDir"].get("sizeLimit"))})
    accounts = v["serviceAccounts"]["server"]
    spec = _some(
        serviceAccountName=accounts.get("name") or (f"{fullname}-server" if accounts.get("create") else "default"),
        containers=containers, hostNetwork=bool(server.get("hostNetwork")) or None,
        securityContext=server.get("securityContext"), tolerations=server.get("tolerations"),
        nodeSelector=server.get("nodeSelector"),
        terminationGracePeriodSeconds=server.get("terminationGracePeriodSeconds"),
        volumes=[{"name": "config-volume", "configMap": {"name": f"{fullname}-server"}},
                 {"name": "storage-volume", **storage}])
    pods = [ChartPod("server", "Deployment", labels, spec)]
    # Subcharts (Chart.lock at prometheus-27.52.0: alertmanager 1.30.0, kube-state-metrics 7.0.0), rendered
    # under the parent's release name.
    if (v.get("alertmanager") or {}).get("enabled", True):
        pods += _alertmanager_pods(release, merge_values(_ALERTMANAGER_DEFAULTS, v.get("alertmanager")))
    if (v.get("kube-state-metrics") or {}).get("enabled", True):
        pods += _ksm_pods(release, merge_values(_KSM_DEFAULTS, v.get("kube-state-metrics")))
    return pods


# ---- prometheus-community/alertmanager 1.30.0 (subchart of prometheus 27.52.0) ----------------------------------

ALERTMANAGER_SOURCE = ("https://github.com/prometheus-community/helm-charts @ alertmanager-1.30.0 : "
                       "charts/alertmanager/values.yaml, templates/statefulset.yaml, templates/_helpers.tpl; "
                       "charts/prometheus/Chart.lock @ prometheus-27.52.0 (alertmanager 1.30.0)")
ALERTMANAGER_PORT = 9093  # templates/statefulset.yaml: the container port Prometheus' kubernetes_sd keeps
_ALERTMANAGER_DEFAULTS: dict[str, Any] = {
    "enabled": True, "replicaCount": 1, "nameOverride": "", "fullnameOverride": "",
    "image": {"repository": "quay.io/prometheus/alertmanager", "tag": ""},
    "automountServiceAccountToken": True, "serviceAccount": {"create": True, "name": ""},
    "podSecurityContext": {"fsGroup": 65534},
    "securityContext": {"runAsUser": 65534, "runAsNonRoot": True, "runAsGroup": 65534},
    "containerPortName": "http",
    "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
    "resources": {}, "nodeSelector": {}, "tolerations": [], "podLabels": {}, "priorityClassName": "",
    "extraSecretMounts": [], "extraVolumeMounts": [], "extraVolumes": [],
    "persistence": {"enabled": True, "size": "50Mi", "emptyDir": {}},
    "config": {"enabled": True}, "configmapReload": {"enabled": False},
}


def _alertmanager_pods(release: str, v: Mapping[str, Any]) -> list[ChartPod]:
    name = v.get("nameOverride") or "alertmanager"
    fullname = v.get("fullnameOverride") or (release if name in release else f"{release}-{name}")
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release, **(v.get("podLabels") or {})}
    mounts = [{"name": "config", "mountPath": "/etc/alertmanager"}] if v["config"].get("enabled") else []
    mounts += [_some(name=m["name"], mountPath=m["mountPath"], subPath=m.get("subPath"), readOnly=m.get("readOnly"))
               for m in v.get("extraSecretMounts") or ()]
    mounts += [{"name": "storage", "mountPath": "/alertmanager"}, *(v.get("extraVolumeMounts") or ())]
    container = _some(
        name="alertmanager", securityContext=v.get("securityContext"),
        image=f"{v['image']['repository']}:{v['image'].get('tag') or 'v0.30.0'}",
        ports=[{"name": v["containerPortName"], "containerPort": ALERTMANAGER_PORT, "protocol": "TCP"}],
        livenessProbe=v.get("livenessProbe"), readinessProbe=v.get("readinessProbe"), resources=v.get("resources"),
        volumeMounts=mounts)
    volumes = [{"name": "config", "configMap": {"name": fullname}}] if v["config"].get("enabled") else []
    volumes += [{"name": m["name"], "secret": _some(secretName=m["secretName"], optional=m.get("optional"))}
                for m in v.get("extraSecretMounts") or ()]
    volumes += list(v.get("extraVolumes") or ())
    persistence = v.get("persistence") or {}
    # persistence.enabled: a volumeClaimTemplate named "storage" (one PVC per replica); else an emptyDir.
    volumes.append({"name": "storage", "persistentVolumeClaim": {"claimName": f"storage-{fullname}-0"}}
                   if persistence.get("enabled")
                   else {"name": "storage", "emptyDir": persistence.get("emptyDir") or {}})
    account = v["serviceAccount"]
    spec = _some(
        automountServiceAccountToken=v.get("automountServiceAccountToken"),
        serviceAccountName=account.get("name") or (fullname if account.get("create") else "default"),
        nodeSelector=v.get("nodeSelector"), priorityClassName=v.get("priorityClassName"),
        tolerations=v.get("tolerations"), securityContext=v.get("podSecurityContext"),
        containers=[container], volumes=volumes)
    return [ChartPod("alertmanager", "StatefulSet", labels, spec)]


# ---- prometheus-community/kube-state-metrics 7.0.0 (subchart of prometheus 27.52.0) ------------------------------

KSM_SOURCE = ("https://github.com/prometheus-community/helm-charts @ kube-state-metrics-7.0.0 : "
              "charts/kube-state-metrics/values.yaml, templates/deployment.yaml, templates/_helpers.tpl")
KSM_PORT = 8080  # values.yaml service.port; the Service is annotated prometheus.io/scrape (prometheusScrape: true)
_KSM_DEFAULTS: dict[str, Any] = {
    "enabled": True, "nameOverride": "", "fullnameOverride": "",
    "image": {"registry": "registry.k8s.io", "repository": "kube-state-metrics/kube-state-metrics", "tag": ""},
    "automountServiceAccountToken": True, "hostNetwork": False,
    "serviceAccount": {"create": True, "name": None},
    "service": {"port": KSM_PORT}, "kubeRBACProxy": {"enabled": False}, "selfMonitor": {"enabled": False},
    "securityContext": {"enabled": True, "runAsGroup": 65534, "runAsUser": 65534, "fsGroup": 65534,
                        "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containerSecurityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                 "capabilities": {"drop": ["ALL"]}},
    "livenessProbe": {"failureThreshold": 3, "initialDelaySeconds": 5, "periodSeconds": 10, "successThreshold": 1,
                      "timeoutSeconds": 5},
    "readinessProbe": {"failureThreshold": 3, "initialDelaySeconds": 5, "periodSeconds": 10, "successThreshold": 1,
                       "timeoutSeconds": 5},
    "resources": {}, "podLabels": {}, "customLabels": {}, "nodeSelector": {}, "tolerations": [],
    "volumeMounts": [], "volumes": [],
}


def _ksm_pods(release: str, v: Mapping[str, Any]) -> list[ChartPod]:
    name = v.get("nameOverride") or "kube-state-metrics"
    fullname = v.get("fullnameOverride") or (release if name in release else f"{release}-{name}")
    labels = {"helm.sh/chart": "kube-state-metrics-7.0.0", "app.kubernetes.io/managed-by": "Helm",
              "app.kubernetes.io/component": "metrics", "app.kubernetes.io/part-of": name,
              "app.kubernetes.io/name": name, "app.kubernetes.io/instance": release,
              "app.kubernetes.io/version": "2.17.0", **(v.get("customLabels") or {}), **(v.get("podLabels") or {})}
    port = (v.get("service") or {}).get("port") or KSM_PORT
    telemetry = 8081  # selfMonitor.telemetryPort default: the readiness probe's port

    def probe(path: str, p: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": p, "scheme": "HTTP"}, **settings}

    container = _some(
        name=name, image=f"{v['image']['registry']}/{v['image']['repository']}:{v['image'].get('tag') or 'v2.17.0'}",
        ports=[{"containerPort": port, "name": "http"}],
        livenessProbe=probe("/livez", port, v["livenessProbe"]),
        readinessProbe=probe("/readyz", telemetry, v["readinessProbe"]),
        resources=v.get("resources"), securityContext=v.get("containerSecurityContext"),
        volumeMounts=v.get("volumeMounts"))
    sc = dict(v.get("securityContext") or {})
    enabled = sc.pop("enabled", True)
    account = v["serviceAccount"]
    spec = _some(
        automountServiceAccountToken=v.get("automountServiceAccountToken"),
        hostNetwork=bool(v.get("hostNetwork")) or None,
        serviceAccountName=account.get("name") or (fullname if account.get("create") else "default"),
        securityContext=sc if enabled else None, containers=[container], nodeSelector=v.get("nodeSelector"),
        tolerations=v.get("tolerations"), volumes=v.get("volumes"))
    return [ChartPod("kube-state-metrics", "Deployment", labels, spec)]


# ---- kedacore/keda 2.21.1 -------------------------------------------------------------------------------------

KEDA_SOURCE = ("https://github.com/kedacore/charts @ 1444d00 (chart 2.20.2, the newest in the snapshot read; "
               "re-read at v2.21.1) : keda/values.yaml, templates/{manager,metrics-server,webhooks}/deployment.yaml")
_KEDA_CONTAINER_SC = {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False,
                      "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
_KEDA_PROBES = {"liveness": {"initialDelaySeconds": 25, "periodSeconds": 10, "timeoutSeconds": 1,
                             "failureThreshold": 3},
                "readiness": {"initialDelaySeconds": 20, "periodSeconds": 3, "timeoutSeconds": 1,
                              "failureThreshold": 3}}
_KEDA_RESOURCES = {"limits": {"cpu": 1, "memory": "1000Mi"}, "requests": {"cpu": "100m", "memory": "100Mi"}}
_KEDA_DEFAULTS: dict[str, Any] = {
    "operator": {"name": "keda-operator", "useHostNetwork": False,
                 "livenessProbe": _KEDA_PROBES["liveness"], "readinessProbe": _KEDA_PROBES["readiness"]},
    "metricsServer": {"enabled": True, "useHostNetwork": False,
                      "livenessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 1,
                                        "failureThreshold": 3},
                      "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 3, "timeoutSeconds": 1,
                                         "failureThreshold": 3}},
    "webhooks": {"enabled": True, "name": "keda-admission-webhooks", "port": "", "healthProbePort": 8081,
                 "useHostNetwork": False,
                 "livenessProbe": _KEDA_PROBES["liveness"], "readinessProbe": _KEDA_PROBES["readiness"]},
    "serviceAccount": {"operator": {"name": "keda-operator"}, "metricServer": {"name": "keda-metrics-server"},
                       "webhooks": {"name": "keda-webhook"}},
    "securityContext": {"operator": _KEDA_CONTAINER_SC, "metricServer": _KEDA_CONTAINER_SC,
                        "webhooks": _KEDA_CONTAINER_SC},
    "podSecurityContext": {"operator": {"runAsNonRoot": True}, "metricServer": {"runAsNonRoot": True},
                           "webhooks": {"runAsNonRoot": True}},
    "resources": {"operator": _KEDA_RESOURCES, "metricServer": _KEDA_RESOURCES, "webhooks": _KEDA_RESOURCES},
    "service": {"portHttps": 443, "portHttpsTarget": 6443},
    "prometheus": {"operator": {"enabled": False, "port": 8080},
                   "metricServer": {"enabled": False, "port": 8080, "portName": "metrics"},
                   "webhooks": {"enabled": False, "port": 8080}},
    "certificates": {"secretName": "kedaorg-certs", "mountPath": "/certs"},
    "podLabels": {"keda": {}, "metricsAdapter": {}, "webhooks": {}},
}


def _keda_pods(release: str, v: Mapping[str, Any]) -> list[ChartPod]:
    op = v["operator"]["name"]
    common = {"helm.sh/chart": "keda-2.21.1", "app.kubernetes.io/component": "operator",
              "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": op,
              "app.kubernetes.io/version": "2.21.1", "app.kubernetes.io/instance": release}
    certs = {"name": "certificates", "secret": {"defaultMode": 420, "secretName": v["certificates"]["secretName"]}}
    mount = {"name": "certificates", "mountPath": v["certificates"]["mountPath"], "readOnly": True}

    def probe(path: str, port: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": port}, **settings}

    images = {"operator": "keda", "metricServer": "keda-metrics-apiserver", "webhooks": "keda-admission-webhooks"}

    def pod(component: str, name: str, labels: dict, key: str, sc_key: str, ports: list, health_port: Any,
            settings: Mapping[str, Any], host_network: bool, scheme_path: tuple[str, str]) -> ChartPod:
        resources = (v["resources"].get(sc_key) or {}) if isinstance(v["resources"], Mapping) else {}
        container = _some(
            name=name, image=f"ghcr.io/kedacore/{images[sc_key]}:2.21.1", ports=ports,
            livenessProbe=probe(scheme_path[0], health_port, settings["livenessProbe"]),
            readinessProbe=probe(scheme_path[1], health_port, settings["readinessProbe"]),
            resources=resources, securityContext=v["securityContext"].get(sc_key), volumeMounts=[mount])
        spec = _some(serviceAccountName=(v["serviceAccount"].get(key) or {}).get("name"),
                     securityContext=v["podSecurityContext"].get(sc_key), containers=[container],
                     hostNetwork=bool(host_network) or None, volumes=[certs])
        return ChartPod(component, "Deployment", labels, spec)

    prom = v["prometheus"]
    pods = [pod("operator", op, {"app": op, "name": op, "app.kubernetes.io/name": op, **common,
                                 **(v["podLabels"].get("keda") or {})},
                "operator", "operator",
                [*([{"containerPort": prom["operator"]["port"], "name": "metrics", "protocol": "TCP"}]
                   if prom["operator"].get("enabled") else []),
                 {"containerPort": 9666, "name": "metricsservice", "protocol": "TCP"}],
                8081, v["operator"], v["operator"].get("useHostNetwork"), ("/healthz", "/readyz"))]
    if v["metricsServer"].get("enabled", True):
        name = f"{op}-metrics-apiserver"
        target = v["service"]["portHttpsTarget"]
        pods.append(pod("metrics-apiserver", name,
                        {"app": name, "app.kubernetes.io/name": name, **common,
                         **(v["podLabels"].get("metricsAdapter") or {})},
                        "metricServer", "metricServer",
                        [{"containerPort": target, "name": "https", "protocol": "TCP"},
                         {"containerPort": prom["metricServer"]["port"], "name": prom["metricServer"]["portName"],
                          "protocol": "TCP"}],
                        target, v["metricsServer"], v["metricsServer"].get("useHostNetwork"), ("/healthz", "/readyz")))
    if v["webhooks"].get("enabled", True):
        name = v["webhooks"]["name"]
        pods.append(pod("admission-webhooks", name,
                        {"app": name, "name": name, "app.kubernetes.io/name": name, **common,
                         **(v["podLabels"].get("webhooks") or {})},
                        "webhooks", "webhooks",
                        [{"containerPort": v["webhooks"].get("port") or 9443, "name": "http", "protocol": "TCP"},
                         *([{"containerPort": prom["webhooks"]["port"], "name": "metrics", "protocol": "TCP"}]
                           if prom["webhooks"].get("enabled") else [])],
                        v["webhooks"]["healthProbePort"], v["webhooks"], v["webhooks"].get("useHostNetwork"),
                        ("/healthz", "/readyz")))
    return pods


# ---- kubernetes/autoscaler cluster-autoscaler 9.52.1 and 9.59.0 -------------------------------------------------

def _autoscaler_source(tag: str) -> str:
    return (f"https://github.com/kubernetes/autoscaler @ cluster-autoscaler-chart-{tag} : "
            "cluster-autoscaler/charts/cluster-autoscaler/{Chart.yaml,values.yaml,templates/deployment.yaml,"
            "templates/clusterrole.yaml,templates/_helpers.tpl}")


_AUTOSCALER_DEFAULTS: dict[str, Any] = {
    "cloudProvider": "aws", "nameOverride": "", "hostNetwork": False, "podLabels": {}, "additionalLabels": {},
    "image": {"repository": "registry.k8s.io/autoscaling/cluster-autoscaler", "tag": ""},
    "resources": {}, "securityContext": {}, "containerSecurityContext": {},
    "rbac": {"create": True, "clusterScoped": True, "serviceAccount": {"create": True, "name": ""},
             "additionalRules": []},
    "priorityClassName": "system-cluster-critical", "extraVolumes": [], "extraVolumeMounts": [],
}
_RO = ["watch", "list", "get"]
# templates/clusterrole.yaml at 9.52.1 (cloudProvider aws; no kwok/coreweave/clusterapi branches).
_AUTOSCALER_RULES_9_52: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["events", "endpoints"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["endpoints"], "resourceNames": ["cluster-autoscaler"],
     "verbs": ["get", "update"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["watch", "list", "get", "update"]},
    {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "replicationcontrollers",
                                      "persistentvolumeclaims", "persistentvolumes"], "verbs": _RO},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _RO},
    {"apiGroups": ["batch", "extensions"], "resources": ["jobs"], "verbs": ["get", "list", "patch", "watch"]},
    {"apiGroups": ["extensions"], "resources": ["replicasets", "daemonsets"], "verbs": _RO},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["watch", "list"]},
    {"apiGroups": ["apps"], "resources": ["daemonsets", "replicasets", "statefulsets"], "verbs": _RO},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csinodes", "csidrivers",
                                                    "csistoragecapacities", "volumeattachments"], "verbs": _RO},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch", "get"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    {"apiGroups": ["coordination.k8s.io"], "resourceNames": ["cluster-autoscaler"], "resources": ["leases"],
     "verbs": ["get", "update"]},
]
# Added by "CA: update k8s deps to 1.35.0-rc.0" (kubernetes/autoscaler#8827, first in chart 9.54.0).
_AUTOSCALER_DRA_RULE = {"apiGroups": ["resource.k8s.io"],
                        "resources": ["resourceslices", "deviceclasses", "resourceclaims"], "verbs": _RO}


def _autoscaler(chart_version: str, app_version: str, dra: bool) -> tuple[Callable, Callable]:
    def pods(release: str, v: Mapping[str, Any]) -> list[ChartPod]:
        name = v.get("nameOverride") or f"{v['cloudProvider']}-cluster-autoscaler"
        fullname = name if name == release else f"{release}-{name}"
        labels = {"app.kubernetes.io/instance": release, "app.kubernetes.io/name": name,
                  **(v.get("additionalLabels") or {}), **(v.get("podLabels") or {})}
        account = v["rbac"]["serviceAccount"]
        container = _some(
            name=name, image=f"{v['image']['repository']}:{v['image'].get('tag') or 'v' + app_version}",
            livenessProbe={"httpGet": {"path": "/health-check", "port": 8085}},
            ports=[{"containerPort": 8085}], resources=v.get("resources"),
            securityContext=v.get("containerSecurityContext"), volumeMounts=v.get("extraVolumeMounts"))
        spec = _some(priorityClassName=v.get("priorityClassName"),
                     serviceAccountName=account.get("name") or (fullname if account.get("create") else "default"),
                     hostNetwork=bool(v.get("hostNetwork")) or None, containers=[container],
                     securityContext=v.get("securityContext"), volumes=v.get("extraVolumes"))
        return [ChartPod("autoscaler", "Deployment", labels, spec)]

    def rules(v: Mapping[str, Any]) -> list[dict[str, Any]]:
        if not (v["rbac"].get("create") and v["rbac"].get("clusterScoped")):
            return []
        out = list(_AUTOSCALER_RULES_9_52)
        if dra:
            out.insert(5, _AUTOSCALER_DRA_RULE)
        return out + list(v["rbac"].get("additionalRules") or [])

    return pods, rules


# ---- aws/eks-charts aws-load-balancer-controller 1.14.0 -------------------------------------------------------

LBC_SOURCE = ("https://github.com/aws/eks-charts @ 049a6f7 (chart 1.14.0, app v2.14.0) : "
              "stable/aws-load-balancer-controller/values.yaml, templates/deployment.yaml")
_LBC_DEFAULTS: dict[str, Any] = {
    "replicaCount": 2, "hostNetwork": False, "webhookBindPort": None, "podLabels": {},
    "serviceAccount": {"create": True, "name": None},
    "podSecurityContext": {"fsGroup": 65534},
    "securityContext": {"readOnlyRootFilesystem": True, "runAsNonRoot": True, "allowPrivilegeEscalation": False},
    "resources": {},
    "livenessProbe": {"failureThreshold": 2, "httpGet": {"path": "/healthz", "port": 61779, "scheme": "HTTP"},
                      "initialDelaySeconds": 30, "timeoutSeconds": 10},
}


def _lbc_pods(release: str, v: Mapping[str, Any]) -> list[ChartPod]:
    name = "aws-load-balancer-controller"
    fullname = release if name in release else f"{release}-{name}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release, **(v.get("podLabels") or {})}
    container = _some(
        name=name, image="public.ecr.aws/eks/aws-load-balancer-controller:v2.14.0",
        securityContext=v.get("securityContext"), livenessProbe=v.get("livenessProbe"), resources=v.get("resources"),
        volumeMounts=[{"name": "cert", "mountPath": "/tmp/k8s-webhook-server/serving-certs", "readOnly": True}],
        ports=[{"name": "webhook-server", "containerPort": v.get("webhookBindPort") or 9443, "protocol": "TCP"},
               {"name": "metrics-server", "containerPort": 8080, "protocol": "TCP"}])
    account = v["serviceAccount"]
    spec = _some(serviceAccountName=account.get("name") or (fullname if account.get("create") else "default"),
                 securityContext=v.get("podSecurityContext"), hostNetwork=bool(v.get("hostNetwork")) or None,
                 containers=[container],
                 volumes=[{"name": "cert", "secret": {"defaultMode": 420, "secretName": f"{fullname}-tls"}}])
    return [ChartPod("controller", "Deployment", labels, spec)]


_CA_952_PODS, _CA_952_RULES = _autoscaler("9.52.1", "1.34.1", dra=False)
# 9.54.0 (first with resource.k8s.io) and 9.59.0 (newest read): rendered as the 9.52.1 rules + the DRA rule;
# the node/pod rules these versions also widened are not rendered (only the DRA rule is checked).
_CA_954_PODS, _CA_954_RULES = _autoscaler("9.54.0", "1.35.0", dra=True)
_CA_959_PODS, _CA_959_RULES = _autoscaler("9.59.0", "1.35.0", dra=True)

DESCRIPTIONS: dict[tuple[str, str], ChartDescription] = {
    ("prometheus", "27.52.0"): ChartDescription(
        "prometheus", "27.52.0", "v3.8.1", PROMETHEUS_SOURCE, _PROMETHEUS_DEFAULTS, _prometheus_pods,
        undescribed_subcharts={"prometheus-node-exporter": "prometheus-node-exporter",
                               "prometheus-pushgateway": "prometheus-pushgateway"}),
    ("keda", "2.21.1"): ChartDescription("keda", "2.21.1", "2.21.1", KEDA_SOURCE, _KEDA_DEFAULTS, _keda_pods),
    ("cluster-autoscaler", "9.52.1"): ChartDescription(
        "cluster-autoscaler", "9.52.1", "1.34.1", _autoscaler_source("9.52.1"), _AUTOSCALER_DEFAULTS,
        _CA_952_PODS, _CA_952_RULES),
    ("cluster-autoscaler", "9.54.0"): ChartDescription(
        "cluster-autoscaler", "9.54.0", "1.35.0", _autoscaler_source("9.54.0"), _AUTOSCALER_DEFAULTS,
        _CA_954_PODS, _CA_954_RULES),
    ("cluster-autoscaler", "9.59.0"): ChartDescription(
        "cluster-autoscaler", "9.59.0", "1.35.0", _autoscaler_source("9.59.0"), _AUTOSCALER_DEFAULTS,
        _CA_959_PODS, _CA_959_RULES),
    ("aws-load-balancer-controller", "1.14.0"): ChartDescription(
        "aws-load-balancer-controller", "1.14.0", "v2.14.0", LBC_SOURCE, _LBC_DEFAULTS, _lbc_pods),
}


def describe(chart: str, version: str) -> ChartDescription | None:
    return DESCRIPTIONS.get((chart, version))
