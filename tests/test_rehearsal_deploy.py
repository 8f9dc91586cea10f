"""The deploy rehearsal: each rule refuses what the engine or the cloud would refuse (a violating
minimal run) and accepts the fixed form (a passing one). Documents are the preview's JSON shape."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from infra.rehearsal import RunView, rehearse
from infra.rehearsal.order import EngineOrder
from infra.rehearsal.waits import parse_duration, ready_seconds

STACK = "urn:pulumi:t::p::"
K8S = f"{STACK}pulumi:providers:kubernetes::k8s"
K8S_B = f"{STACK}pulumi:providers:kubernetes::k8s-b"


def doc(*resources):
    return {"stack": "t", "resources": list(resources), "outputs": {}}


def res(logical, /, typ="aws:s3/bucket:Bucket", parent="", depends=(), props=None, provider=None, timeouts=None,
        hooks=None, **inputs):
    options = {"dependsOn": list(depends), "propertyDependencies": props or {},
               "provider": f"{provider}::id-1" if provider else None, "customTimeouts": timeouts or {}}
    if hooks:
        options["hooks"] = hooks
    return {"urn": f"{STACK}{typ}::{logical}", "type": typ, "name": logical, "parent": parent, "inputs": inputs,
            "options": options}


def provider(urn=K8S):
    return {"urn": urn, "type": "pulumi:providers:kubernetes", "name": urn.rsplit("::", 1)[-1], "parent": "",
            "inputs": {}, "options": {"dependsOn": [], "propertyDependencies": {}}}


def violations(*resources, rule, plan=None):
    report = rehearse(doc(*resources), plan, stages=["deploy"])
    return [v for v in report.violations if v.rule == rule]


def k8s(name, kind, typ, depends=(), cluster=K8S, annotations=None, **spec):
    meta = {"name": name, "namespace": "apps"}
    if annotations:
        meta["annotations"] = annotations
    return res(f"{name}-{kind}", typ=typ, depends=depends, provider=cluster, metadata=meta, **spec)


# --- engine order ----------------------------------------------------------------------------------

def test_waves_follow_dependencies_components_parents_and_providers():
    comp = res("comp", typ="rollout:x:C", depends=[f"{STACK}aws:s3/bucket:Bucket::a"])
    a = res("a")
    child = res("child", parent=comp["urn"])  # waits for what its parent component waits for: a
    b = res("b", depends=[comp["urn"]])  # a dependency on a component means on its children
    cluster = res("cluster", typ="aws:eks/cluster:Cluster")
    prov = provider() | {"options": {"dependsOn": [cluster["urn"]], "propertyDependencies": {}}}
    pod = res("pod", typ="kubernetes:core/v1:ConfigMap", provider=K8S)  # waits for its provider
    order = EngineOrder.of(RunView.from_document(doc(comp, a, child, b, cluster, prov, pod)))
    assert order.wave(a["urn"]) == 1 and order.wave(child["urn"]) == 2 and order.wave(b["urn"]) == 3
    assert order.before(pod["urn"]) == {K8S, cluster["urn"]}
    seconds, chain = order.critical_path()
    assert [r.name for r in chain] == ["cluster", "k8s", "pod"] and seconds >= 900


def test_the_report_notes_the_waves_and_a_dangling_dependency_is_a_violation():
    a, b = res("a"), res("b", depends=[f"{STACK}aws:s3/bucket:Bucket::a"])
    report = rehearse(doc(a, b), stages=["deploy"])
    assert report.notes["deploy"]["waves"] == 2 and report.notes["deploy"]["resourcesPerWave"] == [1, 1]
    assert not [v for v in report.violations if v.rule == "deploy/engine-order"]
    assert violations(res("c", depends=[f"{STACK}aws:s3/bucket:Bucket::gone"]), rule="deploy/engine-order")


# --- names -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("resource", [
    res("use1-serving-entry-vllm-p4d-24xlarge", typ="aws:lb/targetGroup:TargetGroup"),  # 36 + 8 > 32
    res("tg", typ="aws:lb/targetGroup:TargetGroup", name="a" * 33),  # explicit: as given
    res("role", typ="aws:iam/role:Role", namePrefix="r" * 39),
    res("b", bucketPrefix="x" * 38),
    res("Bucket_Name", bucket="Bucket_Name"),  # S3: lowercase only
    res("pool", typ="gcp:container/nodePool:NodePool", name="p" * 41),
    res("c" * 33, typ="gcp:container/cluster:Cluster"),  # 33 + 8 > 40
    res("sts", typ="kubernetes:apps/v1:StatefulSet", metadata={"name": "m" * 53}),
    res("svc", typ="kubernetes:core/v1:Service", metadata={"name": "1abc"}),  # Service names start with a letter
    res("sa", typ="gcp:serviceaccount/account:Account", accountId="short"),
    res("r", typ="aws:route53/record:Record", name=f"{'l' * 64}.example.com"),
])
def test_a_name_the_cloud_refuses_is_a_violation(resource):
    assert violations(resource, rule="deploy/name-length")


def test_names_that_fit_with_their_suffix_pass():
    assert not violations(
        res("use1-vllm-p4d-24xlarge", typ="aws:lb/targetGroup:TargetGroup"),  # 22 + 8 = 30
        res("tg", typ="aws:lb/targetGroup:TargetGroup", name="a" * 32),
        res("b", bucketPrefix="rollout-prod-use1-weights-"),
        res("sts", typ="kubernetes:apps/v1:StatefulSet", metadata={"name": "mongodb-use1-0"}),
        res("unknown", typ="aws:lb/targetGroup:TargetGroup", name="[unknown]"),  # not known offline: skipped
        res("r", typ="aws:route53/record:Record", name="_abc.rollout.example.com."),
        rule="deploy/name-length")


def test_every_declared_type_has_a_naming_entry():
    assert violations(res("x", typ="aws:newservice/" + "thing:Thing"), rule="deploy/name-table")
    assert not violations(res("x", typ="aws:ec2/vpc:Vpc"), res("y"), rule="deploy/name-table")


# --- Route 53 --------------------------------------------------------------------------------------

def _record(name, fqdn, target=None, depends=()):
    inputs = {"zoneId": "Z1", "name": fqdn, "type": "A"}
    if target:
        inputs["aliases"] = [{"name": target, "zoneId": "Z1", "evaluateTargetHealth": True}]
    return res(name, typ="aws:route53/record:Record", depends=depends, **inputs)


def test_an_alias_created_in_parallel_with_its_target_is_a_violation():
    target = _record("region", "use1.route.example.com")
    alias = _record("geo", "example.com", target="use1.route.example.com.")
    assert violations(target, alias, rule="deploy/alias-order")
    assert violations(alias, rule="deploy/alias-order")  # a target nothing declares


def test_an_alias_ordered_after_its_target_passes_and_other_zones_are_not_its_business():
    target = _record("region", "use1.route.example.com")
    alias = _record("geo", "example.com", target="use1.route.example.com", depends=[target["urn"]])
    alb = _record("lb", "use1.example.com") | {}
    alb["inputs"]["aliases"] = [{"name": "alb-1.us-east-1.elb.amazonaws.com", "zoneId": "Z35SXDOTRQ7X7K"}]
    assert not violations(target, alias, alb, rule="deploy/alias-order")


def _zone_and_validation(hooks=None):
    zone = res("zone", typ="aws:route53/zone:Zone", name="example.com")
    record = _record("validation", "_x.example.com", depends=[zone["urn"]])
    validation = res("validated", typ="aws:acm/certificateValidation:CertificateValidation",
                     depends=[record["urn"]], hooks=hooks)
    return zone, record, validation


def test_validating_in_a_new_zone_nobody_delegated_is_a_violation():
    assert violations(*_zone_and_validation(), rule="deploy/zone-delegation")


def test_a_new_zone_validated_after_a_stop_or_a_confirmed_delegation_passes():
    guarded = _zone_and_validation(hooks={"beforeCreate": ["await-zone-delegation"]})
    assert not violations(*guarded, rule="deploy/zone-delegation")
    confirmed = SimpleNamespace(traffic=SimpleNamespace(zone_delegated=True))
    assert not violations(*_zone_and_validation(), rule="deploy/zone-delegation", plan=confirmed)


def test_a_new_public_zone_must_stand_alone_for_the_first_targeted_up():
    first = res("first")
    assert violations(res("zone", typ="aws:route53/zone:Zone", depends=[first["urn"]], name="example.com"), first,
                      rule="deploy/zone-first")
    assert not violations(res("zone", typ="aws:route53/zone:Zone", name="example.com"), rule="deploy/zone-first")


# --- Kubernetes references, CRDs, target groups, NEGs ----------------------------------------------

NS = k8s("apps", "ns", "kubernetes:core/v1:Namespace") | {}
NS["inputs"] = {"metadata": {"name": "apps"}}


def _deployment(depends=(), cluster=K8S, annotations=None):
    pod = {"serviceAccountName": "server", "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "token"}}]}]}
    return k8s("server", "deploy", "kubernetes:apps/v1:Deployment", depends=depends, cluster=cluster,
               annotations=annotations, spec={"template": {"spec": pod}})


def test_a_pod_naming_a_secret_created_in_parallel_or_nowhere_is_a_violation():
    sa = k8s("server", "sa", "kubernetes:core/v1:ServiceAccount", depends=[NS["urn"]])
    secret = k8s("token", "secret", "kubernetes:core/v1:Secret", depends=[NS["urn"]])
    unordered = _deployment(depends=[NS["urn"], sa["urn"]])
    found = violations(provider(), NS, sa, secret, unordered, rule="deploy/k8s-references")
    assert len(found) == 1 and "Secret 'token'" in found[0].message
    assert violations(provider(), NS, sa, _deployment(depends=[NS["urn"], sa["urn"]]), rule="deploy/k8s-references")
    # The same names in another cluster do not count.
    other = _deployment(depends=[NS["urn"], sa["urn"], secret["urn"]], cluster=K8S_B)
    assert violations(provider(), provider(K8S_B), NS, sa, secret, other, rule="deploy/k8s-references")


def test_a_cron_job_names_its_pods_referents_only_when_its_schedule_fires():
    pod = {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "token"}}]}]}
    secret = k8s("token", "secret", "kubernetes:core/v1:Secret", depends=[NS["urn"]])
    cron = k8s("backup", "cron", "kubernetes:batch/v1:CronJob", depends=[NS["urn"]],
               spec={"jobTemplate": {"spec": {"template": {"spec": pod}}}})
    assert not violations(provider(), NS, secret, cron, rule="deploy/k8s-references")
    unplaced = k8s("backup", "cron", "kubernetes:batch/v1:CronJob", spec={})  # its namespace still counts
    assert violations(provider(), NS, unplaced, rule="deploy/k8s-references")


def test_a_pod_after_its_referents_or_naming_them_pre_existing_passes():
    sa = k8s("server", "sa", "kubernetes:core/v1:ServiceAccount", depends=[NS["urn"]])
    secret = k8s("token", "secret", "kubernetes:core/v1:Secret", depends=[NS["urn"]])
    assert not violations(provider(), NS, sa, secret, _deployment(depends=[NS["urn"], sa["urn"], secret["urn"]]),
                          rule="deploy/k8s-references")
    elsewhere = _deployment(depends=[NS["urn"], sa["urn"]],
                            annotations={"rollout.dev/created-elsewhere": "Secret/token: written by the operator"})
    assert not violations(provider(), NS, sa, elsewhere, rule="deploy/k8s-references")


def test_a_custom_resource_before_the_release_of_its_crd_is_a_violation():
    keda = res("keda", typ="kubernetes:helm.sh/v3:Release", provider=K8S, chart="keda", namespace="keda")
    scaled = k8s("server", "scaler", "kubernetes:keda.sh/v1alpha1:ScaledObject", depends=[NS["urn"]])
    assert violations(provider(), NS, keda, scaled, rule="deploy/custom-resource-crd")
    after = k8s("server", "scaler", "kubernetes:keda.sh/v1alpha1:ScaledObject", depends=[NS["urn"], keda["urn"]])
    assert not violations(provider(), NS, keda, after, rule="deploy/custom-resource-crd")


def test_a_target_group_binding_with_a_literal_arn_is_a_violation():
    literal = k8s("b", "tgb", "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding",
                  spec={"targetGroupARN": "arn:aws:elasticloadbalancing:x:1:targetgroup/tg/1"})
    assert violations(literal, rule="deploy/target-group-binding")
    group = res("tg", typ="aws:lb/targetGroup:TargetGroup")
    bound = k8s("b", "tgb", "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", depends=[group["urn"]],
                spec={"targetGroupARN": "arn:aws:elasticloadbalancing:x:1:targetgroup/tg/1"})
    assert not violations(group, bound, rule="deploy/target-group-binding")
    arn = "arn:aws:elasticloadbalancing:x:1:targetgroup/tg/1"
    declared = k8s("b", "tgb", "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", spec={"targetGroupARN": arn},
                   annotations={"rollout.dev/created-elsewhere": f"TargetGroup/{arn}: owned by the shared ALB stack"})
    assert not violations(declared, rule="deploy/target-group-binding")


def test_a_backend_service_naming_a_neg_before_its_service_is_a_violation():
    service = k8s("vllm", "svc", "kubernetes:core/v1:Service", annotations={
        "cloud.google.com/neg": json.dumps({"exposed_ports": {"8000": {"name": "neg-a"}}})})
    backends = [{"group": "projects/p/zones/z-a/networkEndpointGroups/neg-a"}]
    early = res("backend", typ="gcp:compute/regionBackendService:RegionBackendService", backends=backends)
    assert violations(service, early, rule="deploy/neg-reference")
    late = res("backend", typ="gcp:compute/regionBackendService:RegionBackendService", depends=[service["urn"]],
               backends=backends)
    assert not violations(service, late, rule="deploy/neg-reference")


# --- waits and data --------------------------------------------------------------------------------

def _server(replicas=2, timeouts=None, annotations=None, model="s3://weights-bucket-abc/llama", depends=(),
            strategy=None):
    container = {"name": "server", "args": ["--model", model],
                 "resources": {"limits": {"nvidia.com/gpu": "1"}},
                 "startupProbe": {"periodSeconds": 10, "failureThreshold": 90}}  # the plan's 900 s model load
    spec = {"replicas": replicas, "template": {"spec": {"containers": [container]}},
            "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}
    meta = {"name": "vllm", "namespace": "serving", **({"annotations": annotations} if annotations else {})}
    return res("vllm", typ="kubernetes:apps/v1:Deployment", depends=depends, timeouts=timeouts, metadata=meta,
               spec=spec)


def test_a_model_server_on_the_default_wait_or_a_short_one_is_a_violation():
    assert "default 10 min" in violations(_server(), rule="deploy/workload-wait")[0].message
    assert violations(_server(timeouts={"create": "15m", "update": "60m"}), rule="deploy/workload-wait")
    # 67 replicas replaced one at a time: the update wait must cover 67 batches of pull + load.
    rolling = violations(_server(replicas=67, timeouts={"create": "40m", "update": "2h"}), rule="deploy/workload-wait")
    assert len(rolling) == 1 and "rolling-update" in rolling[0].message
    assert violations(_server(annotations={"pulumi.com/skipAwait": "true"}), rule="deploy/workload-wait")


def test_a_deliberate_wait_that_covers_boot_pull_load_and_the_rollout_passes():
    create, update = ready_seconds(RunView.from_document(doc(_server())).resources[0])
    assert create == 600 + 300 + 900 and update == 2 * (300 + 900)
    assert not violations(_server(timeouts={"create": "40m", "update": "45m"}), rule="deploy/workload-wait")
    assert not violations(_server(annotations={"pulumi.com/timeoutSeconds": "3000"}), rule="deploy/workload-wait")
    assert not violations(_server(annotations={"pulumi.com/skipAwait": "true",
                                               "rollout.dev/skip-await-reason": "the deploy gate waits"}),
                          rule="deploy/workload-wait")
    assert parse_duration("1h30m") == 5400 and parse_duration("900s") == 900 and parse_duration("") is None


def test_a_server_reading_a_bucket_this_run_creates_empty_is_a_violation():
    bucket = res("weights", bucket="weights-bucket-abc")
    empty = violations(bucket, _server(depends=[bucket["urn"]]), rule="deploy/data-producer")
    assert "nothing writes it" in empty[0].message
    stage = res("stage", typ="kubernetes:batch/v1:Job", depends=[bucket["urn"]],
                metadata={"name": "stage", "annotations": {"rollout.dev/produces": "s3://weights-bucket-abc/llama"}})
    assert "not ordered" in violations(bucket, stage, _server(depends=[bucket["urn"]]),
                                       rule="deploy/data-producer")[0].message


def test_a_server_after_its_producer_or_on_a_pre_existing_bucket_passes():
    bucket = res("weights", bucketPrefix="weights-bucket-")
    stage = res("stage", typ="aws:s3/bucketObjectv2:BucketObjectv2", depends=[bucket["urn"]],
                bucket="weights-bucket-abc", key="llama/config.json")
    assert not violations(bucket, stage, _server(depends=[stage["urn"]]), rule="deploy/data-producer")
    assert not violations(_server(model="s3://staged-elsewhere/llama"), rule="deploy/data-producer")
    assert not violations(_server(model="meta-llama/Llama-3.1-8B-Instruct"), rule="deploy/data-producer")


def test_the_plans_model_load_counts_when_the_manifest_allows_less():
    pool = SimpleNamespace(name="vllm", probes=SimpleNamespace(startup_budget_seconds=3600))
    region = res("use1", typ="rollout:region:Region")
    server = _server(timeouts={"create": "40m", "update": "45m"}) | {"parent": region["urn"]}
    plan = SimpleNamespace(serving={"use1": SimpleNamespace(pools=[pool])})
    assert not violations(region, server, rule="deploy/workload-wait")  # the manifest's 900 s: fits
    assert violations(region, server, rule="deploy/workload-wait", plan=plan)  # the plan's hour: does not
