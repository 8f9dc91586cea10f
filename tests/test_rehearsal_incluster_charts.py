"""Chart pods: every release is described from its pinned chart (values override the defaults), an
undescribed chart or subchart is reported, and the cluster-autoscaler's RBAC must match its image."""

from __future__ import annotations

from infra.planning import serving_versions
from infra.planning.chart_pods import DESCRIPTIONS, describe, merge_values
from infra.rehearsal.incluster.inventory import build
from infra.rehearsal.model import RunView
from tests.incluster_docs import cluster, messages, namespace, release, run

CA_VALUES = {"cloudProvider": "aws", "autoDiscovery": {"clusterName": "c"}, "image": {"tag": "v1.36.1"},
             "rbac": {"serviceAccount": {"create": True, "name": "cluster-autoscaler"}}}


def test_merge_follows_helm_coalescing():
    assert merge_values({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 3}, "d": None}) == {"a": {"b": 3, "c": 2}}


def test_every_pinned_chart_has_a_description():
    for chart in (serving_versions.KEDA, serving_versions.PROMETHEUS, serving_versions.CLUSTER_AUTOSCALER):
        assert describe(chart.name, chart.version) is not None, chart
    assert all(d.source.startswith("https://github.com/") for d in DESCRIPTIONS.values())


def test_release_pods_carry_the_release_namespace_and_values():
    doc = {"stack": "t", "resources": [*cluster(), release("keda", "2.21.1", "rollout-system",
                                                             {"podLabels": {"keda": {"team": "x"}}})], "outputs": {}}
    pods = build(RunView.from_document(doc)).pods
    assert {p.name for p in pods} == {"keda-operator", "keda-metrics-apiserver", "keda-admission-webhooks"}
    assert all(p.namespace == "rollout-system" for p in pods)
    operator = next(p for p in pods if p.name == "keda-operator")
    assert operator.labels["team"] == "x" and operator.spec["serviceAccountName"] == "keda-operator"
    webhook = next(p for p in pods if p.name == "keda-admission-webhooks")
    assert {"containerPort": 9443, "name": "http", "protocol": "TCP"} in webhook.spec["containers"][0]["ports"]


def test_an_undescribed_chart_or_enabled_subchart_is_reported():
    report = run(*cluster(), release("unknown", "1.0.0", "x", {}))
    assert "has no pod description" in messages(report, "incluster/chart-described")[0]
    report = run(*cluster(), namespace("rollout-system"), release("prometheus", "27.52.0", "rollout-system", {}))
    # four subcharts on by default; alertmanager and kube-state-metrics are described, the other two are not
    assert len(messages(report, "incluster/chart-described")) == 2
    off = {k: {"enabled": False} for k in ("alertmanager", "kube-state-metrics", "prometheus-node-exporter",
                                           "prometheus-pushgateway")}
    report = run(*cluster(), namespace("rollout-system"), release("prometheus", "27.52.0", "rollout-system", off))
    assert messages(report, "incluster/chart-described") == []


def test_defect_autoscaler_1_36_under_a_chart_without_resource_k8s_io_rbac():
    report = run(*cluster(), release("cluster-autoscaler", "9.52.1", "kube-system", CA_VALUES))
    assert "lacks resource.k8s.io" in messages(report, "incluster/chart-rbac")[0]


def test_a_chart_made_for_the_image_or_an_older_image_passes():
    assert messages(run(*cluster(), release("cluster-autoscaler", "9.59.0", "kube-system", CA_VALUES)),
                    "incluster/chart-rbac") == []
    old = {**CA_VALUES, "image": {"tag": "v1.34.1"}}
    assert messages(run(*cluster(), release("cluster-autoscaler", "9.52.1", "kube-system", old)),
                    "incluster/chart-rbac") == []
    extra = {**CA_VALUES, "rbac": {**CA_VALUES["rbac"], "additionalRules": [
        {"apiGroups": ["resource.k8s.io"], "resources": ["resourceslices", "deviceclasses", "resourceclaims"],
         "verbs": ["get", "list", "watch"]}]}}
    assert messages(run(*cluster(), release("cluster-autoscaler", "9.52.1", "kube-system", extra)),
                    "incluster/chart-rbac") == []
