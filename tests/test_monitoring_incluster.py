"""The in-cluster half of monitoring: every scrape and every alert-delivery flow is allowed by the
NetworkPolicies of the preview, Alertmanager's receivers are read from a mounted Secret (never from the
values), and the chart pods it adds are described so the Pod Security and file rehearsals see them."""

from __future__ import annotations

import json

import pytest
import yaml

from components.serving.workload import (
    alertmanager_values,
    prometheus_values,
    receiver_egress_policy,
    receiver_secret_data,
)
from infra.offline.preview import as_json
from infra.planning.chart_pods import describe, merge_values
from infra.planning.monitoring import RECEIVER_SECRET, RECEIVER_SECRET_DIR, Delivery
from infra.rehearsal import rehearse
from infra.rehearsal.incluster import flow_table as ft
from infra.rehearsal.incluster.flows import check_flows
from infra.rehearsal.incluster.inventory import build
from infra.rehearsal.model import RunView

# Prometheus -> every exporter it scrapes, the exporters' own needs, and the alert path out of the cluster.
SCRAPE_FLOWS = {"prometheus-scrape-vllm", "prometheus-scrape-kube-state-metrics", "kube-state-metrics-api",
                "prometheus-scrape-dcgm-exporter", "prometheus-scrape-mongodb-exporter", "mongodb-exporter-members"}
DELIVERY_FLOWS = {"prometheus-alertmanager", "alertmanager-receiver"}
MONITORING_FLOWS = SCRAPE_FLOWS | DELIVERY_FLOWS
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@pytest.fixture(scope="module")
def prod_document(prod_run):
    return as_json(prod_run)


def without_policies(document, name: str):
    """The captured run minus every NetworkPolicy object called `name` (in every cluster)."""
    kept = [r for r in document["resources"]
            if not (r["type"] == NETPOL and (r["inputs"].get("metadata") or {}).get("name") == name)]
    assert len(kept) < len(document["resources"]), f"no NetworkPolicy {name} in the run"
    return {**document, "resources": kept}


def monitoring_flows() -> list[ft.Flow]:
    flows = [f for f in ft.FLOWS if f.id in MONITORING_FLOWS]
    assert {f.id for f in flows} == MONITORING_FLOWS and all(f.required for f in flows)
    return flows


def blocked(document) -> dict[str, set[str]]:
    """flow id -> regions where it is blocked, for the monitoring flows."""
    view = RunView.from_document(document)
    out: dict[str, set[str]] = {}
    for v in check_flows(view, build(view), monitoring_flows()):
        region, flow = v.message[1:].split("] ", 1)
        out.setdefault(flow.split(" ")[1], set()).add(region)
    return out


def test_every_scrape_and_delivery_flow_is_allowed_in_every_prod_region(prod_document, prod_run):
    view = RunView.from_document(prod_document)
    inv = build(view)
    regions = {c.region for c in inv.clusters.values()}
    eks = {c.region for c in inv.clusters.values() if c.cloud == "aws"}
    with_members = {inv.cluster(p.cluster).region for p in inv.pods
                    if p.labels.get("app.kubernetes.io/name") == "mongodb"}
    assert eks and with_members and regions - eks  # prod has both clouds and a replica set

    def where(sel):
        return {inv.cluster(p.cluster).region for p in inv.pods if p.namespace in sel.namespaces
                and all(p.labels.get(k) == v for k, v in sel.labels.items())}

    # Both ends of each flow exist where the flow applies, so each row is evaluated there (not skipped):
    # everywhere for the server, Alertmanager and kube-state-metrics; the DCGM exporter on EKS; the MongoDB
    # exporter wherever the region holds members.
    for sel in (ft.PROMETHEUS, ft.ALERTMANAGER, ft.KUBE_STATE_METRICS, ft.VLLM):
        assert where(sel) == regions, (sel.name, regions - where(sel))
    assert where(ft.DCGM_EXPORTER) == eks
    assert where(ft.MONGODB_EXPORTER) == with_members
    assert blocked(prod_document) == {}


def test_a_missing_policy_blocks_its_flow_in_every_region(prod_document):
    regions = {c.region for c in build(RunView.from_document(prod_document)).clusters.values()}
    # Alertmanager's ingress policy gone: the namespace's default deny drops Prometheus' alerts.
    assert blocked(without_policies(prod_document, "allow-alertmanager")) == {"prometheus-alertmanager": regions}
    # Its egress to the receivers gone: no notification and no heartbeat leaves the cluster.
    assert blocked(without_policies(prod_document, "allow-alertmanager-receivers")) == {
        "alertmanager-receiver": regions}
    # kube-state-metrics' policy gone: neither scraped nor able to list nodes and pods.
    assert blocked(without_policies(prod_document, "allow-kube-state-metrics")) == {
        "prometheus-scrape-kube-state-metrics": regions, "kube-state-metrics-api": regions}
    # The exporters' ingress gone: Prometheus no longer reaches them (GPU on EKS; database where members are).
    inv = build(RunView.from_document(prod_document))
    eks = {c.region for c in inv.clusters.values() if c.cloud == "aws"}
    assert blocked(without_policies(prod_document, "allow-dcgm-exporter")) == {"prometheus-scrape-dcgm-exporter": eks}
    with_members = {inv.cluster(p.cluster).region for p in inv.pods
                    if p.labels.get("app.kubernetes.io/name") == "mongodb-exporter"}
    assert blocked(without_policies(prod_document, "allow-mongodb-exporter")) == {
        "prometheus-scrape-mongodb-exporter": with_members}


def test_only_prometheus_reaches_alertmanager(prod_document):
    view = RunView.from_document(prod_document)
    closed = [f for f in ft.FLOWS if f.id in {"stranger-alertmanager", "vllm-alertmanager"}]
    assert len(closed) == 2 and check_flows(view, build(view), closed) == []


def test_the_prod_preview_rehearses_the_new_pods_without_violations(prod_document, prod_run):
    from tests.previews import stack_plan

    report = rehearse(prod_document, stack_plan("prod"), stages=["incluster"])
    assert report.violations == ()
    pods = build(RunView.from_document(prod_document)).pods
    assert {p.origin for p in pods if p.name.endswith(("-alertmanager", "-kube-state-metrics"))} == {
        "chart prometheus@27.52.0"}


# ---- receivers: secrets by file, routes from the plan ------------------------------------------------------------

def test_receiver_urls_and_passwords_never_appear_in_the_values():
    values = prometheus_values({"groups": []}, Delivery(kind="webhook"))
    config = values["alertmanager"]["config"]
    assert config["receivers"][1:] == [
        {"name": "heartbeat", "webhook_configs": [{"url_file": f"{RECEIVER_SECRET_DIR}/heartbeat-url",
                                                   "send_resolved": False}]},
        {"name": "oncall", "webhook_configs": [{"url_file": f"{RECEIVER_SECRET_DIR}/oncall-url",
                                                "send_resolved": True}]}]
    mount = values["alertmanager"]["extraSecretMounts"][0]
    assert mount["secretName"] == RECEIVER_SECRET and mount["mountPath"] == RECEIVER_SECRET_DIR and mount["readOnly"]
    assert "http" not in yaml.safe_dump(config) and "password:" not in yaml.safe_dump(config)


def test_email_reads_the_smtp_password_from_the_secret_and_opens_the_relays_port():
    email = Delivery(kind="email", email_to=("oncall@example.com",), email_from="alerts@example.com",
                     smarthost="smtp.example.com:587", smtp_username="alerts")
    receiver = email.config()["receivers"][-1]["email_configs"][0]
    assert receiver["auth_password_file"] == f"{RECEIVER_SECRET_DIR}/smtp-password"
    assert "auth_password" not in receiver and receiver["require_tls"] is True
    assert email.secret_keys == ("smtp", "heartbeat")
    egress = receiver_egress_policy(email, "rollout-system")["spec"]["egress"][0]
    assert [p["port"] for p in egress["ports"]] == [443, 587]  # the heartbeat webhook and the relay
    assert "10.0.0.0/8" in egress["to"][0]["ipBlock"]["except"]


def test_an_incomplete_email_receiver_is_refused():
    with pytest.raises(ValueError, match="emailTo, emailFrom and smarthost"):
        Delivery(kind="email", email_to=("a@example.com",))
    with pytest.raises(ValueError, match="kind"):
        Delivery(kind="pager")


def test_the_secret_holds_only_what_the_receiver_reads_and_the_stack_sets():
    secrets = {"oncall": "https://hooks.example/1", "heartbeat": None, "smtp": "pw"}
    assert receiver_secret_data(Delivery(kind="webhook"), secrets) == {"oncall-url": "https://hooks.example/1"}
    assert receiver_secret_data(Delivery(kind="none", heartbeat=False), secrets) == {}


def test_without_a_receiver_nothing_leaves_the_cluster_and_no_alertmanager_runs():
    quiet = Delivery(kind="none", heartbeat=False)
    assert quiet.egress_ports == () and receiver_egress_policy(quiet, "rollout-system") is None
    assert quiet.config()["route"]["receiver"] == "null"
    values = prometheus_values(None, quiet)
    assert values["alertmanager"] == {"enabled": False} and values["kube-state-metrics"]["enabled"] is True
    # the heartbeat alone still proves the path: Alertmanager runs and dials 443
    assert prometheus_values(None, Delivery(kind="none"))["alertmanager"]["enabled"] is True


def test_the_heartbeat_is_off_only_when_nothing_is_delivered():
    """Every receiver keeps the dead man's switch, so the rehearsal's HTTPS egress row holds for every stack."""
    with pytest.raises(ValueError, match="heartbeat may be off only with kind none"):
        Delivery(kind="webhook", heartbeat=False)
    email = Delivery(kind="email", email_to=("a@example.com",), email_from="b@example.com",
                     smarthost="smtp.example.com:587")
    for d in (Delivery(), Delivery(kind="none"), email):
        assert 443 in d.egress_ports


def test_the_watchdog_goes_to_its_own_receiver_every_minute():
    route = Delivery().config()["route"]
    watchdog = route["routes"][0]
    assert watchdog["matchers"] == ['alertname="Watchdog"'] and watchdog["receiver"] == "heartbeat"
    assert watchdog["repeat_interval"] == "1m" and route["receiver"] == "oncall"


# ---- the chart pods, from the templates at the pinned versions ---------------------------------------------------

def render(values):
    d = describe("prometheus", "27.52.0")
    return {p.component: p for p in d.render("prometheus", merge_values(d.defaults, values))}


def test_alertmanager_and_kube_state_metrics_pods_follow_the_subcharts():
    pods = render(prometheus_values(None, Delivery()))
    am, ksm = pods["alertmanager"], pods["kube-state-metrics"]
    assert am.kind == "StatefulSet" and am.labels == {"app.kubernetes.io/name": "alertmanager",
                                                      "app.kubernetes.io/instance": "prometheus"}
    assert am.spec["containers"][0]["ports"] == [{"name": "http", "containerPort": 9093, "protocol": "TCP"}]
    volumes = {v["name"]: v for v in am.spec["volumes"]}
    assert volumes["receivers"]["secret"] == {"secretName": RECEIVER_SECRET, "optional": True}
    assert volumes["storage"] == {"name": "storage", "emptyDir": {}}  # persistence off: no claim
    assert ksm.spec["containers"][0]["ports"] == [{"containerPort": 8080, "name": "http"}]
    assert ksm.labels["app.kubernetes.io/name"] == "kube-state-metrics"


def test_the_subcharts_defaults_are_what_the_chart_ships():
    """Without our values: the alertmanager pod has no seccomp profile and a volume claim (the parent chart's
    2Gi), which `restricted` would refuse; kube-state-metrics' defaults already comply."""
    pods = render({})
    am = pods["alertmanager"]
    assert "seccompProfile" not in am.spec["securityContext"]
    assert {"name": "storage", "persistentVolumeClaim": {"claimName": "storage-prometheus-alertmanager-0"}} in \
        am.spec["volumes"]
    assert pods["kube-state-metrics"].spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    off = {k: {"enabled": False} for k in ("alertmanager", "kube-state-metrics")}
    assert set(render(off)) == {"server"}


def test_alertmanager_values_carry_restricted_pod_security():
    values = alertmanager_values(Delivery())
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert values["automountServiceAccountToken"] is False
    json.dumps(values)  # plain data: Helm values


# ---- the MongoDB exporter --------------------------------------------------------------------------------------

def test_the_mongodb_exporter_reads_its_uri_from_a_secret_and_runs_restricted():
    from components.database.exporter import EXPORTER_PORT, connection_uri, pod_labels, pod_spec
    from policies.rules.k8s_security import restricted_findings

    spec = pod_spec("mongodb-exporter")
    assert list(restricted_findings(spec)) == []
    (container,) = spec["containers"]
    assert container["env"] == [{"name": "MONGODB_URI", "valueFrom": {"secretKeyRef": {
        "name": "mongodb-exporter", "key": "uri"}}}]
    assert {"--collector.replicasetstatus", "--collector.diagnosticdata", "--compatible-mode"} <= set(container["args"])
    assert spec["volumes"][0]["secret"]["items"] == [{"key": "ca.pem", "path": "ca.pem"}]  # never a member's key
    assert pod_labels("use1")["rollout.dev/mongodb-client"] == "true"  # admitted by the members' policy
    uri = connection_uri("m-0.mongodb.rollout-data.svc.cluster.local:27017", "pw")
    assert uri.startswith("mongodb://monitor:pw@m-0.") and "tls=true" in uri and "directConnection=true" in uri
    assert EXPORTER_PORT == 9216


def test_every_region_with_members_runs_one_exporter_and_its_rules(prod_run):
    from tests.previews import stack_plan

    plan = stack_plan("prod")
    exporters = [d for d in prod_run.of_type("kubernetes:apps/v1:Deployment")
                 if d.inputs["metadata"]["name"] == "mongodb-exporter"]
    member_regions = {m.region for m in plan.database.members}
    assert len(exporters) == len(member_regions)
    for region in plan.monitoring.regions:
        alerts = {r.get("alert") for g in plan.monitoring.rule_groups(region)["groups"] for r in g["rules"]}
        assert ("MongoMemberUnhealthy" in alerts) == (region in member_regions)
        assert ("GpuXidHardware" in alerts) == (plan.region(region).cloud == "aws")



def test_pulumi_secret_receiver_urls_become_the_secret_alertmanager_reads_and_appear_nowhere_else():
    import runpy

    from infra.offline.mock_runtime import run_mocked
    from infra.offline.run import PROGRAM, _env, stack_config
    from infra.planning.sizing.lock import lock_path
    from infra.program import SIZING_LOCK_ENV
    from tests.factories import ROOT

    hook, beat = "https://hooks.example.com/T000/oncall", "https://hc-ping.example.com/heartbeat-1"
    path = ROOT / "Pulumi.dev.yaml"
    with _env(SIZING_LOCK_ENV, str(lock_path(path))):
        run = run_mocked(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="dev",
                         config={**stack_config(path), "alerting:webhookUrl": hook, "alerting:heartbeatUrl": beat})
    secrets = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == RECEIVER_SECRET]
    releases = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "prometheus"]
    assert len(secrets) == len(releases) == 2  # one per region (dev: two)
    for secret in secrets:
        assert secret.inputs["metadata"]["namespace"] == "rollout-system"
        assert secret.inputs["stringData"] == "[secret]"  # the whole map is a Pulumi secret in state
    for release in releases:
        assert any(release.depends_on(s.urn) for s in secrets)  # the files exist before Alertmanager starts
    text = json.dumps(as_json(run))
    assert hook not in text and beat not in text  # only as Pulumi secrets, never in values or ConfigMaps


def test_the_pod_security_rehearsal_sees_the_alertmanager_pod_from_the_chart():
    """With the subchart's own defaults (no seccomp profile, capabilities kept) `restricted` refuses the
    Alertmanager pod, and the rehearsal says so; with the release's values it admits it."""
    from tests.incluster_docs import cluster, messages, namespace, release, run

    off = {k: {"enabled": False} for k in ("kube-state-metrics", "prometheus-node-exporter",
                                           "prometheus-pushgateway")}
    ours = prometheus_values(None, Delivery())
    chart_defaults = {**ours, **off, "alertmanager": {"enabled": True, "persistence": {"enabled": False}}}
    refused = messages(run(*cluster(), namespace("rollout-system"),
                           release("prometheus", "27.52.0", "rollout-system", chart_defaults)),
                       "incluster/psa-restricted")
    assert refused and all("alertmanager" in m for m in refused), refused
    admitted = run(*cluster(), namespace("rollout-system"),
                   release("prometheus", "27.52.0", "rollout-system", {**ours, **off}))
    assert messages(admitted, "incluster/psa-restricted") == []
    assert messages(admitted, "incluster/files-readable") == []  # the receivers' files are readable by uid 65534
