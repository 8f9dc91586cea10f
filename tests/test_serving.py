"""The serving stack as the engine would receive it (the whole program under mocks): in every region
the servers equal the plan per GPU pool, the Kubernetes objects pass strict schema validation, the
routing is least-loaded and weighted by capacity in both clouds, and the HTTPS endpoint is TLS 1.2+
with the certificate it was given."""

from __future__ import annotations

import json
import runpy
from functools import cache

import jsonschema
import kubernetes_validate
import pulumi
import pytest

from components.serving import RegionServingArgs, RegionServingStack
from components.serving.manifests import NEG_ANNOTATION, prometheus_query
from infra.offline.mock_runtime import run_mocked
from infra.planning.cluster_plan import POOL_LABEL
from infra.planning.serving import HEALTH_PATH
from infra.planning.serving_versions import CLUSTER_AUTOSCALER_CHARTS, CLUSTER_AUTOSCALER_IMAGE, KEDA, PROMETHEUS
from tests.factories import ROOT
from tests.previews import stack_preview

DEPLOYMENT, SCALED = "kubernetes:apps/v1:Deployment", "kubernetes:keda.sh/v1alpha1:ScaledObject"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"


@cache
def previewed(stack: str):
    run, plan = stack_preview(stack)  # the plan the program used (sizing lock)
    return plan, run


def in_serving(run, resource) -> bool:
    """Declared by the serving stack (not by the database or the cluster base, which have their own tests)."""
    by_urn = {r.urn: r for r in run.resources}
    node = by_urn.get(resource.parent)
    while node is not None:
        if node.type.startswith("rollout:serving:"):
            return True
        node = by_urn.get(node.parent)
    return False


def of(run, typ):
    found = run.of_type(typ)
    assert found, f"no {typ} captured"
    return found


def served(run, typ):
    """`of`, limited to what the serving stack declares."""
    found = [r for r in run.of_type(typ) if in_serving(run, r)]
    assert found, f"no {typ} captured under the serving stack"
    return found


def weights(resources):
    """The weights bucket's resources (the serving stack also has the access-log bucket)."""
    return [r for r in resources if "-weights" in r.name]


def region_of(run, resource) -> str:
    by_urn = {r.urn: r for r in run.resources}
    node = resource
    while node is not None and node.type != "rollout:region:Region":
        node = by_urn.get(node.parent)
    assert node is not None, resource.urn
    return node.name


def by_region_and_pool(run, typ):
    return {(region_of(run, r), r.inputs["metadata"]["labels"][POOL_LABEL]): r.inputs for r in served(run, typ)}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_region_serves_the_plan_per_gpu_pool(stack):
    plan, run = previewed(stack)
    deployments, scalers = by_region_and_pool(run, DEPLOYMENT), by_region_and_pool(run, SCALED)
    expected = {(r, p.pool) for r, s in plan.serving.items() for p in s.pools}
    assert set(deployments) == expected == set(scalers)
    assert {r for r, _ in expected} == {r.name for r in plan.regions}, "every region serves"
    for region, serving in plan.serving.items():
        cluster = plan.clusters[region]
        for pool in serving.pools:
            node_pool = next(p for p in cluster.gpu_pools if p.name == pool.pool)
            spec = deployments[(region, pool.pool)]["spec"]
            pod = spec["template"]["spec"]
            server = pod["containers"][0]
            # One server per GPU (an 8B model fits one GPU of every pool): a p4d node runs eight.
            assert node_pool.desired_nodes == plan.sizing.replicas[region][pool.instance_type]
            assert spec["replicas"] == node_pool.desired_nodes * node_pool.gpu_count == pool.replicas
            assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"
            assert server["args"][server["args"].index("--tensor-parallel-size") + 1] == "1"
            assert server["args"][server["args"].index("--max-num-seqs") + 1] == str(pool.max_num_seqs)
            for taint in node_pool.taints:  # every taint of the pool is tolerated
                assert any(t["key"] == taint.key and t["effect"] == taint.effect and
                           (t["operator"] == "Exists" or t.get("value") == taint.value) for t in pod["tolerations"])
            assert pod["nodeSelector"] == {POOL_LABEL: node_pool.name}
            assert node_pool.labels[POOL_LABEL] == node_pool.name
            scaler = scalers[(region, pool.pool)]["spec"]
            assert scaler["minReplicaCount"] == node_pool.desired_nodes * node_pool.gpu_count
            assert scaler["maxReplicaCount"] == node_pool.max_nodes * node_pool.gpu_count
            assert scaler["scaleTargetRef"]["name"] == deployments[(region, pool.pool)]["metadata"]["name"]
            trigger = scaler["triggers"][0]
            assert trigger["type"] == "prometheus" and "vllm:num_requests_running" in trigger["metadata"]["query"]
            assert pool.pool in trigger["metadata"]["query"]
            assert float(trigger["metadata"]["threshold"]) == pool.in_flight_target <= pool.max_num_seqs
            assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 0,
                                                         "maxUnavailable": pool.rollout.max_unavailable}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_engine_waits_for_every_server_rollout_as_long_as_the_plan_says(stack):
    plan, run = previewed(stack)
    waits = {(region_of(run, r), r.inputs["metadata"]["labels"][POOL_LABEL]): r.custom_timeouts
             for r in served(run, DEPLOYMENT)}
    for region, serving in plan.serving.items():
        for pool in serving.pools:
            want = pool.rollout.wait_seconds
            assert want >= pool.start_seconds >= 900
            assert waits[(region, pool.pool)] == {"create": f"{want}s", "update": f"{want}s"}


def test_servers_load_from_their_cloud_bucket_with_probes_sized_for_the_load():
    plan, run = previewed("dev")
    for (region, _), body in by_region_and_pool(run, DEPLOYMENT).items():
        pod = body["spec"]["template"]["spec"]
        server = pod["containers"][0]
        scheme = "s3://" if plan.region(region).cloud == "aws" else "gs://"
        model = server["args"][server["args"].index("--model") + 1]
        assert model.startswith(scheme) and model.endswith(f"/{plan.serving[region].server.weights_path}")
        assert server["image"] == plan.releases[region].image
        assert server["args"][-2:] == ["--load-format", "runai_streamer"]
        startup = server["startupProbe"]
        assert startup["httpGet"]["path"] == server["readinessProbe"]["httpGet"]["path"] == HEALTH_PATH
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 900  # serving.modelLoadSeconds
        shm = next(v for v in pod["volumes"] if v["name"] == "shm")
        assert shm["emptyDir"]["medium"] == "Memory"
        assert {"name": "shm", "mountPath": "/dev/shm"} in server["volumeMounts"]
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
        ctx = server["securityContext"]
        assert ctx["runAsNonRoot"] and not ctx["allowPrivilegeEscalation"] and ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["serviceAccountName"] == "vllm"


def test_service_accounts_carry_workload_identity_and_nothing_holds_static_keys():
    _, run = previewed("dev")
    accounts = {region_of(run, r): r.inputs for r in of(run, "kubernetes:core/v1:ServiceAccount")
                if r.inputs["metadata"]["name"] == "vllm"}
    assert accounts["use1"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert accounts["euw4"]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
        ".iam.gserviceaccount.com")
    (role,) = [r for r in of(run, "aws:iam/role:Role") if r.name == "use1-serving-entry-server-role"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:rollout-serving:vllm" in trust.values()
    members = sorted(r.inputs["member"] for r in of(run, "gcp:serviceaccount/iAMMember:IAMMember")
                     if r.inputs["role"] == "roles/iam.workloadIdentityUser")
    assert [m.rsplit("[", 1)[1] for m in members] == ["rollout-serving/vllm]", "rollout-serving/weights-stager]"]
    assert not run.of_type("aws:iam/accessKey:AccessKey") and not run.of_type("gcp:serviceaccount/key:Key")
    # No Secret without the Pulumi secret huggingface:token (the Job's token reference is optional).
    assert not [r for r in run.of_type("kubernetes:core/v1:Secret") if in_serving(run, r)]


# --- weights staging --------------------------------------------------------------------------------

JOB = "kubernetes:batch/v1:Job"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_region_stages_its_bucket_before_any_server_waits_for_it(stack):
    plan, run = previewed(stack)
    jobs = {region_of(run, r): r for r in of(run, JOB) if r.inputs["metadata"]["name"] == "stage-weights"}
    assert set(jobs) == set(plan.serving)
    for deployment in served(run, DEPLOYMENT):
        job = jobs[region_of(run, deployment)]
        assert deployment.depends_on(job.urn), deployment.name
    for region, job in jobs.items():
        server = plan.serving[region].server
        env = {e["name"]: e for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["WEIGHTS_SOURCE"]["value"] == "hf://meta-llama/Llama-3.1-8B-Instruct@main"
        scheme = "s3://" if plan.region(region).cloud == "aws" else "gs://"
        assert env["WEIGHTS_DEST"]["value"].startswith(scheme)
        assert env["WEIGHTS_DEST"]["value"].endswith(f"/{server.weights_path}")
        assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
        # A deliberate wait: reading and writing the weights once at the configured rate, plus setup.
        assert job.custom_timeouts == {"create": f"{server.staging_seconds}s", "update": f"{server.staging_seconds}s"}
        assert job.inputs["spec"]["activeDeadlineSeconds"] == server.staging_seconds > 600


def test_the_stager_alone_may_write_the_bucket():
    _, run = previewed("dev")
    (policy,) = [r for r in of(run, "aws:iam/rolePolicy:RolePolicy") if r.name.endswith("weights-staging-write")]
    actions = {a for st in json.loads(policy.inputs["policy"])["Statement"] for a in st["Action"]}
    assert "s3:PutObject" in actions and not any("Delete" in a for a in actions)
    (server,) = [r for r in of(run, "aws:iam/rolePolicy:RolePolicy") if r.name.endswith("server-weights")]
    assert "s3:PutObject" not in server.inputs["policy"]  # the servers keep a read-only identity
    (grant,) = [r for r in of(run, "gcp:storage/bucketIAMMember:BucketIAMMember") if r.name.endswith("-write")]
    assert grant.inputs["role"] == "roles/storage.objectUser"


def test_a_pulumi_secret_token_becomes_the_token_secret_the_stager_reads():
    from infra.offline.run import PROGRAM, _env, stack_config
    from infra.planning.sizing.lock import lock_path
    from infra.program import SIZING_LOCK_ENV

    path = ROOT / "Pulumi.dev.yaml"
    with _env(SIZING_LOCK_ENV, str(lock_path(path))):
        run = run_mocked(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="dev",
                         config={**stack_config(path), "huggingface:token": "hf_example"})
    secrets = [r for r in run.of_type("kubernetes:core/v1:Secret") if in_serving(run, r)]
    assert {s.inputs["metadata"]["name"] for s in secrets} == {"hf-token"}


def test_weights_buckets_are_encrypted_versioned_and_never_public():
    _, run = previewed("dev")
    sse_type = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    (sse,) = weights(served(run, sse_type))
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    (versioning,) = weights(served(run, "aws:s3/bucketVersioning:BucketVersioning"))
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (block,) = weights(served(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"))
    assert all(block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                         "restrictPublicBuckets"))
    (gcs,) = served(run, "gcp:storage/bucket:Bucket")
    assert gcs.inputs["publicAccessPrevention"] == "enforced" and gcs.inputs["uniformBucketLevelAccess"]
    assert gcs.inputs["versioning"] == {"enabled": True} and gcs.inputs["location"] == "EUROPE-WEST4"


def test_prod_protects_the_weights_buckets():
    _, run = previewed("prod")
    buckets = weights(served(run, "aws:s3/bucket:Bucket")) + served(run, "gcp:storage/bucket:Bucket")
    assert len(buckets) == 5 and all(b.protect for b in buckets)


def test_aws_routes_to_the_least_outstanding_pod_weighted_by_pool_capacity_over_tls():
    plan, run = previewed("dev")
    (alb,) = of(run, "aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["loadBalancerType"] == "application" and alb.inputs["internal"] is False
    assert all(s.startswith("subnet-") for s in alb.inputs["subnets"]) and len(alb.inputs["subnets"]) == 3
    publics = {r.urn for r in of(run, "aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == "public"}
    assert set(alb.property_dependencies["subnets"]) <= publics
    groups = {r.inputs["tags"]["Name"].rsplit("-vllm-", 1)[-1]: r for r in of(run, "aws:lb/targetGroup:TargetGroup")}
    pools = {p.name.removeprefix("vllm-"): p for p in plan.serving["use1"].pools}
    assert set(groups) == set(pools)
    for group in groups.values():
        assert group.inputs["loadBalancingAlgorithmType"] == "least_outstanding_requests"
        assert group.inputs["targetType"] == "ip" and group.inputs["port"] == 8000
        assert group.inputs["healthCheck"]["path"] == HEALTH_PATH
    (listener,) = of(run, "aws:lb/listener:Listener")
    assert listener.inputs["protocol"] == "HTTPS" and listener.inputs["port"] == 443
    assert listener.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    (validated,) = of(run, "aws:acm/certificateValidation:CertificateValidation")
    assert listener.property_dependencies["certificateArn"] == (validated.urn,)  # the traffic layer's, once issued
    forward = listener.inputs["defaultActions"][0]["forward"]["targetGroups"]
    weights = {f["weight"] for f in forward}
    assert weights == {p.listener_weight for p in pools.values()} and len(forward) == len(pools)
    bindings = by_region_and_pool(run, TGB)
    assert {pool for _, pool in bindings} == {p.pool for p in pools.values()}
    for body in bindings.values():
        assert body["spec"]["targetType"] == "ip" and body["spec"]["targetGroupARN"].startswith(
            "arn:aws:elasticloadbalancing:us-east-1:")


def test_aws_listener_weights_follow_pool_capacity_in_a_mixed_region():
    """prod use1 mixes p4d (eight 1-GPU A100 servers per node), g5 and g6 pools."""
    plan, run = previewed("prod")
    pools = {p.name: p for p in plan.serving["use1"].pools}
    assert len(pools) >= 2
    (listener,) = [r for r in of(run, "aws:lb/listener:Listener") if region_of(run, r) == "use1"]
    forward = listener.inputs["defaultActions"][0]["forward"]["targetGroups"]
    assert sorted(f["weight"] for f in forward) == sorted(p.listener_weight for p in pools.values())
    top = max(p.capacity_rps for p in pools.values())
    for p in pools.values():
        assert p.listener_weight == pytest.approx(999 * p.capacity_rps / top, abs=0.5) or p.listener_weight == 1


def test_gcp_routes_to_the_least_requested_endpoint_of_named_negs_over_tls():
    plan, run = previewed("dev")
    services = [r.inputs for r in served(run, "kubernetes:core/v1:Service") if region_of(run, r) == "euw4"]
    negs = {json.loads(s["metadata"]["annotations"][NEG_ANNOTATION])["exposed_ports"]["8000"]["name"]
            for s in services}
    (backend,) = of(run, "gcp:compute/regionBackendService:RegionBackendService")
    assert backend.inputs["localityLbPolicy"] == "LEAST_REQUEST"
    assert backend.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    pools = plan.serving["euw4"].pools
    groups = backend.inputs["backends"]
    assert len(groups) == sum(len(p.zones) for p in pools)
    for group in groups:
        assert group["group"].rsplit("/", 1)[1] in negs and group["balancingMode"] == "RATE"
        zone = group["group"].split("/zones/")[1].split("/")[0]
        pool = next(p for p in pools if group["group"].endswith(p.name))
        assert zone in pool.zones and group["maxRatePerEndpoint"] == pytest.approx(pool.rps_per_replica)
    (policy,) = of(run, "gcp:compute/regionSslPolicy:RegionSslPolicy")  # the traffic layer's, used as is
    assert policy.inputs["minTlsVersion"] == "TLS_1_2"
    (proxy,) = of(run, "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy")
    (certificate,) = of(run, "gcp:certificatemanager/certificate:Certificate")
    assert "/locations/europe-west4/certificates/" in proxy.inputs["certificateManagerCertificates"][0]
    assert proxy.property_dependencies["certificateManagerCertificates"] == (certificate.urn,)
    (rule,) = of(run, "gcp:compute/forwardingRule:ForwardingRule")
    assert rule.inputs["portRange"] == "443" and rule.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    (subnet,) = [r for r in of(run, "gcp:compute/subnetwork:Subnetwork") if r.inputs.get("purpose")]
    assert subnet.inputs["purpose"] == "REGIONAL_MANAGED_PROXY"


def test_the_stack_output_names_each_regions_endpoint():
    plan, run = previewed("prod")
    serving = run.outputs["serving"]
    assert set(serving) == {r.name for r in plan.regions}
    for name, out in serving.items():
        assert out["hostname"] == f"{name}.{plan.domain}"
        cloud = plan.region(name).cloud
        assert out["address"].endswith(".elb.amazonaws.com") if cloud == "aws" else out["address"].count(".") == 3
        assert {p: v["floor"] for p, v in out["pools"].items()} == {
            p.pool: p.replicas for p in plan.serving[name].pools}


def test_the_preview_tree_shows_the_serving_stack_under_each_region():
    from io import StringIO

    from rich.console import Console

    from infra.offline.preview import render_text

    plan, run = previewed("prod")
    console = Console(file=StringIO(), width=200, record=True)
    render_text(run, console, plan)
    text = console.export_text()
    for region in plan.regions:
        assert f"rollout:serving:RegionServingStack {region.name}-serving" in text


def test_controllers_are_pinned_helm_releases_and_eks_node_groups_are_discoverable():
    plan, run = previewed("dev")
    releases = {(region_of(run, r), r.inputs["chart"]): r.inputs for r in of(run, "kubernetes:helm.sh/v3:Release")}
    for region in ("use1", "euw4"):
        for chart in (KEDA, PROMETHEUS):
            assert releases[(region, chart.name)]["version"] == chart.version
    # The chart release made for the image: autoscaler 1.36 needs the resource.k8s.io rules of chart >= 9.54.
    version = plan.clusters["use1"].kubernetes_version
    assert releases[("use1", "cluster-autoscaler")]["version"] == CLUSTER_AUTOSCALER_CHARTS[version].version
    assert version != "1.36" or CLUSTER_AUTOSCALER_CHARTS[version].version == "9.59.0"
    assert releases[("use1", "cluster-autoscaler")]["values"]["image"]["tag"] == CLUSTER_AUTOSCALER_IMAGE[version]
    assert ("euw4", "cluster-autoscaler") not in releases, "GKE autoscales its pools itself"
    values = releases[("use1", "cluster-autoscaler")]["values"]
    cluster = plan.clusters["use1"].name
    assert values["autoDiscovery"]["clusterName"] == cluster
    for group in of(run, "aws:eks/nodeGroup:NodeGroup"):
        assert group.inputs["tags"][f"k8s.io/cluster-autoscaler/{cluster}"] == "owned"
        assert group.inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
    (policy,) = [r for r in of(run, "aws:iam/rolePolicy:RolePolicy") if "autoscaler" in r.name]
    scoped = json.loads(policy.inputs["policy"])["Statement"][1]
    assert "autoscaling:SetDesiredCapacity" in scoped["Action"]
    assert scoped["Condition"]["StringEquals"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}


# --- schemas ----------------------------------------------------------------------------------------

# The custom resources' schemas, the fields this program sets, from the CRDs:
# KEDA https://github.com/kedacore/keda/blob/main/config/crd/bases/keda.sh_scaledobjects.yaml and
# AWS LBC https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/main/config/crd/bases/elbv2.k8s.aws_targetgroupbindings.yaml
_META = {"type": "object", "required": ["name", "namespace"]}
CRD_SCHEMAS = {
    "ScaledObject": {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
        "metadata": _META, "spec": {
            "type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                                   "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                                  "name": {"type": "string"}}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer"}, "cooldownPeriod": {"type": "integer"},
                "advanced": {"type": "object", "additionalProperties": False, "properties": {
                    "horizontalPodAutoscalerConfig": {"type": "object", "additionalProperties": False,
                                                      "properties": {"name": {"type": "string"},
                                                                     "behavior": {"type": "object"}}},
                    "restoreToOriginalReplicaCount": {"type": "boolean"}}},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                    "properties": {"type": {"type": "string"}, "metricType": {"enum": ["AverageValue", "Value",
                                                                                         "Utilization"]},
                                   "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}},
    "TargetGroupBinding": {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
        "metadata": _META, "spec": {
            "type": "object", "required": ["serviceRef", "targetGroupARN"], "additionalProperties": False,
            "properties": {
                "serviceRef": {"type": "object", "required": ["name", "port"], "additionalProperties": False,
                               "properties": {"name": {"type": "string"}, "port": {"type": ["integer", "string"]}}},
                "targetGroupARN": {"type": "string", "minLength": 1},
                "targetType": {"enum": ["instance", "ip"]},
                "networking": {"type": "object", "properties": {"ingress": {"type": "array", "items": {
                    "type": "object", "required": ["from", "ports"], "properties": {
                        "from": {"type": "array", "items": {"type": "object", "properties": {
                            "securityGroup": {"type": "object", "required": ["groupID"]}}}},
                        "ports": {"type": "array", "items": {"type": "object", "properties": {
                            "protocol": {"enum": ["TCP", "UDP"]}, "port": {"type": ["integer", "string"]}}}}}}}}}}}}},
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_object_passes_strict_schema_validation(stack):
    plan, run = previewed(stack)
    version = next(iter(plan.clusters.values())).kubernetes_version
    objects = [r for r in run.resources if r.type.startswith("kubernetes:") and r.custom
               and not r.type.startswith("kubernetes:helm.sh/") and in_serving(run, r)]
    kinds = set()
    for obj in objects:
        kind = obj.inputs["kind"]
        kinds.add(kind)
        if kind in CRD_SCHEMAS:
            jsonschema.validate(obj.inputs, CRD_SCHEMAS[kind])
        else:
            assert kubernetes_validate.validate(obj.inputs, version, strict=True) == version, obj.name
    assert {"Deployment", "Service", "PodDisruptionBudget", "ServiceAccount", "ScaledObject",
            "TargetGroupBinding"} <= kinds


def test_the_crd_schemas_reject_what_the_controllers_would_reject():
    """The hand-kept CR schemas are not vacuous: a misspelt field or a missing trigger fails them."""
    _, run = previewed("dev")
    scaled = of(run, SCALED)[0].inputs
    bad = json.loads(json.dumps(scaled))
    bad["spec"]["minReplicas"] = bad["spec"].pop("minReplicaCount")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CRD_SCHEMAS["ScaledObject"])
    binding = json.loads(json.dumps(of(run, TGB)[0].inputs))
    del binding["spec"]["targetGroupARN"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(binding, CRD_SCHEMAS["TargetGroupBinding"])


def test_the_servers_network_policy_admits_the_load_balancer_and_the_scraper_only_on_the_server_port():
    plan, run = previewed("dev")
    wanted = ("rollout-serving", "vllm-servers")
    policies = {region_of(run, r): r.inputs["spec"] for r in of(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) == wanted}
    assert set(policies) == {"use1", "euw4"}
    for region, spec in policies.items():
        sources = {b["ipBlock"]["cidr"] for rule in spec["ingress"] for b in rule["from"] if "ipBlock" in b}
        assert all(rule["ports"] == [{"protocol": "TCP", "port": 8000}] for rule in spec["ingress"])
        # The scraper: Prometheus' server pods only, not every pod of its namespace.
        (scraper,) = [b for rule in spec["ingress"] for b in rule["from"] if "namespaceSelector" in b]
        assert scraper["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus",
                                                          "app.kubernetes.io/component": "server"}}
        if plan.region(region).cloud == "aws":  # the ALB's public subnets, never the whole VPC (VPC CNI pods)
            assert sources == {z.public for z in plan.region(region).addresses.zones}
            assert plan.region(region).addresses.network not in sources
        else:
            assert "35.191.0.0/16" in sources and len(sources) == 3
            assert {"cidr": "169.254.169.252/32"} in [t["ipBlock"] for rule in spec["egress"] for t in rule["to"]
                                                      if "ipBlock" in t]


def test_the_in_flight_query_selects_one_pool_by_its_scraped_label():
    plan, _ = previewed("dev")
    pool = plan.serving["use1"].pools[0]
    select = f'{{namespace="rollout-serving",rollout_dev_pool="{pool.pool}"}}'
    assert prometheus_query(pool) == (f"sum(vllm:num_requests_running{select}) + "
                                      f"sum(vllm:num_requests_waiting{select})")


def test_a_region_without_a_certificate_gets_no_plain_http_endpoint():
    plan, _ = previewed("dev")
    region = plan.region("use1")

    def program():
        import pulumi_kubernetes as k8s
        RegionServingStack("use1-serving", RegionServingArgs(
            region=region, cluster=plan.clusters["use1"], serving=plan.serving["use1"],
            server=plan.serving["use1"].server,
            domain=plan.domain, tags=plan.tags, k8s_provider=k8s.Provider("k", kubeconfig="{}"), certificate=None,
            vpc_id="vpc-1", public_subnet_ids=["subnet-1"], oidc_provider_arn="arn", oidc_issuer="https://x"))

    with pytest.raises(ValueError, match="needs a certificate"):
        run_mocked(program)
    assert pulumi  # the mocked runtime was used


# --- admission of the pinned charts' pods (Pod Security restricted in rollout-system) -----------------

def restricted_gaps(pod: dict, containers: list[dict]) -> list[str]:
    """The restricted controls a pod's settings miss (pod-level values may satisfy container ones)."""
    gaps = []
    if not pod.get("runAsNonRoot") and not all(c.get("runAsNonRoot") for c in containers):
        gaps.append("runAsNonRoot")
    if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault" and not all(
            (c.get("seccompProfile") or {}).get("type") == "RuntimeDefault" for c in containers):
        gaps.append("seccompProfile")
    for c in containers:
        if c.get("allowPrivilegeEscalation") is not False:
            gaps.append("allowPrivilegeEscalation")
        if "ALL" not in ((c.get("capabilities") or {}).get("drop") or []):
            gaps.append("capabilities.drop ALL")
    return gaps


def chart_pods(chart: str, values: dict) -> list[tuple[dict, list[dict]]]:
    """Pod and container security contexts each pinned chart renders from its values (keys read at the
    pinned tags: prometheus 27.52.0 server + configmap-reload; keda's three components)."""
    if chart == "prometheus":
        server = values.get("server", {})
        reload = values.get("configmapReload", {}).get("prometheus", {})
        return [(server.get("securityContext", {}), [server.get("containerSecurityContext", {}),
                                                    reload.get("containerSecurityContext", {})])]
    return [(values.get("podSecurityContext", {}).get(c, {}), [values.get("securityContext", {}).get(c, {})])
            for c in ("operator", "metricServer", "webhooks")]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_prometheus_and_keda_pods_meet_pod_security_restricted(stack):
    _, run = previewed(stack)
    releases = [r for r in of(run, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] in ("prometheus", "keda")]
    assert releases
    for release in releases:
        assert release.inputs["namespace"] == "rollout-system"
        for pod, containers in chart_pods(release.inputs["chart"], release.inputs["values"]):
            assert restricted_gaps(pod, containers) == [], release.name


def test_the_charts_default_prometheus_security_context_would_be_refused():
    """The pinned chart's own defaults (server.securityContext runAsUser/runAsNonRoot/fsGroup only,
    containerSecurityContext {}) miss seccomp, privilege escalation and capabilities."""
    defaults = {"server": {"securityContext": {"runAsUser": 65534, "runAsNonRoot": True, "runAsGroup": 65534,
                                               "fsGroup": 65534}, "containerSecurityContext": {}},
                "configmapReload": {"prometheus": {"containerSecurityContext": {}}}}
    ((pod, containers),) = chart_pods("prometheus", defaults)
    assert {"seccompProfile", "allowPrivilegeEscalation", "capabilities.drop ALL"} <= set(
        restricted_gaps(pod, containers))
