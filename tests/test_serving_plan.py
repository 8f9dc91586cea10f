"""Serving plan (pure): one server per GPU when the model fits one GPU (tensor parallelism only where
it must, counted with its efficiency), weights by capacity, autoscaler floor = plan and ceiling = pool
max in servers, concurrency and memory budgets, a rollout that fits its wait, probes that outlast the
model load, and bad serving config that names its field."""

from __future__ import annotations

import ipaddress
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.config import parse_config
from infra.errors import ConfigError
from infra.planning.addressing import all_ranges
from infra.planning.cluster_plan import master_ipv4_cidr, plan_clusters
from infra.planning.plan import build_plan
from infra.planning.server_shape import (
    DEFAULT_TP_EFFICIENCY,
    in_flight_target,
    max_num_seqs,
    server_shape,
    tensor_parallel_for,
)
from infra.planning.serving import (
    ALB_MAX_WEIGHT,
    ServingBudgets,
    listener_weights,
    plan_serving,
    probes_for,
    proxy_only_range,
    rollout_for,
)
from tests.factories import raw_config
from tests.test_cluster_plan import plans_and_replicas

CATALOG = load_catalog()
THROUGHPUT = {"A10G": 1.5, "L4": 1.2, "A100-40GB": 5.0, "A100-80GB": 5.5, "H100-80GB": 10.0}


def problems_of(raw) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build_plan(parse_config(raw))
    return list(caught.value.problems)


@cache
def dev_plan():
    return build_plan(parse_config(raw_config()))


@settings(max_examples=60, deadline=None)
@given(plans_and_replicas(), st.integers(30, 3600))
def test_servers_follow_the_cluster_plan_pool_by_pool(case, load_seconds):
    plan, replicas, burst = case
    clusters = plan_clusters(plan, replicas, burst)
    serving = plan_serving(clusters, THROUGHPUT, load_seconds)
    for name, cluster in clusters.items():
        pools = {p.pool: p for p in serving[name].pools}
        assert set(pools) == {p.name for p in cluster.gpu_pools}
        for gpu_pool in cluster.gpu_pools:
            server = pools[gpu_pool.name]
            itype = CATALOG.instance_type(cluster.cloud, gpu_pool.machine_type)
            # An 8B model (15 GiB) fits every catalogued GPU: one server per GPU, each one GPU.
            assert server.tensor_parallel == 1 and server.servers_per_node == itype.gpu_count
            assert server.replicas == gpu_pool.desired_nodes * itype.gpu_count
            assert gpu_pool.desired_nodes == replicas[name][gpu_pool.machine_type]
            assert server.floor == server.replicas and server.ceiling == (server.replicas
                                                                          + burst * itype.gpu_count)
            assert server.rps_per_replica == pytest.approx(THROUGHPUT[itype.gpu_model])
            assert server.memory_need_gib <= int(server.memory_request.removesuffix("Gi"))
            assert server.rollout.wait_seconds >= server.rollout.rounds * server.rollout.round_seconds
            assert server.zones == gpu_pool.zones
            assert server.probes.startup_budget_seconds >= load_seconds
            assert 1 <= server.listener_weight <= ALB_MAX_WEIGHT


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.floats(0.1, 5000), min_size=1, max_size=8))
def test_listener_weights_are_proportional_to_capacity_within_rounding(capacities):
    weights = listener_weights(capacities)
    top = max(capacities.values())
    assert max(weights.values()) == ALB_MAX_WEIGHT
    for key, capacity in capacities.items():
        assert 1 <= weights[key] <= ALB_MAX_WEIGHT
        # Exact up to rounding to an integer (and the floor of 1 the ALB needs to send anything).
        assert abs(weights[key] - ALB_MAX_WEIGHT * capacity / top) <= 0.5 or weights[key] == 1


def test_an_8_gpu_node_runs_eight_one_gpu_servers_and_weighs_eight_times_a_1_gpu_node():
    plan = dev_plan()
    replicas = {"use1": {"g5.xlarge": 1, "g5.48xlarge": 1}}  # 1x A10G and 8x A10G
    clusters = plan_clusters(plan, replicas, 0)
    pools = {p.instance_type: p for p in plan_serving(clusters, THROUGHPUT, 600)["use1"].pools}
    big, small = pools["g5.48xlarge"], pools["g5.xlarge"]
    assert (big.replicas, big.tensor_parallel, big.servers_per_node) == (8, 1, 8)
    assert big.rps_per_replica == small.rps_per_replica == THROUGHPUT["A10G"]
    assert big.capacity_rps == 8 * small.capacity_rps
    assert big.listener_weight == ALB_MAX_WEIGHT and small.listener_weight == round(ALB_MAX_WEIGHT / 8)
    # The node's CPU and memory are shared by its eight servers.
    assert int(big.cpu_request.removesuffix("m")) == 192 * 750 // 8


def test_a_model_too_big_for_one_gpu_uses_the_fewest_gpus_and_is_counted_with_its_efficiency():
    # 70B in bf16 (~131 GiB): usable per GPU = memory x 0.9 x 0.8 (KV cache share) -> A100-40GB needs
    # 8 (4 x 28.8 = 115 < 131), H100-80GB needs 4 (2 x 57.6 = 115 < 131); a 100 GiB model needs 2 H100.
    assert tensor_parallel_for(131, 40, 0.9) == 8 and tensor_parallel_for(131, 80, 0.9) == 4
    assert tensor_parallel_for(100, 80, 0.9) == 2
    assert tensor_parallel_for(14.96, 24, 0.9) == 1
    shape = server_shape(gpu_count=8, gpu_memory_gib=80, per_gpu_rps=10.0, weights_gib=100,
                         gpu_memory_utilization=0.9)
    assert (shape.tensor_parallel, shape.servers_per_node) == (2, 4)
    assert shape.rps_per_node == pytest.approx(8 * 10.0 * DEFAULT_TP_EFFICIENCY[2]) and shape.efficiency < 1
    measured = server_shape(gpu_count=8, gpu_memory_gib=80, per_gpu_rps=10.0, weights_gib=100,
                            gpu_memory_utilization=0.9, efficiency={2: 0.95})
    assert measured.rps_per_node == pytest.approx(8 * 10.0 * 0.95)
    # A node whose GPUs cannot hold the model serves nothing (the sizing drops it).
    assert server_shape(gpu_count=1, gpu_memory_gib=24, per_gpu_rps=1.5, weights_gib=131,
                        gpu_memory_utilization=0.9) is None


def test_the_sizing_buys_the_capacity_the_servers_have():
    from infra.planning.sizing.problem import problem_from_config

    cfg = parse_config(raw_config(model={**raw_config()["model"], "weightsGib": 30}))  # needs 2 x 24 GiB
    problem = problem_from_config(cfg)
    by_type = {c.instance_type: c for c in problem.candidates}
    assert "g5.xlarge" not in by_type  # one A10G cannot hold 30 GiB
    assert by_type["g5.12xlarge"].rps_per_node == pytest.approx(4 * 1.5 * DEFAULT_TP_EFFICIENCY[2])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 8), st.floats(0.3, 0.9), st.integers(1, 64))
def test_max_num_seqs_and_the_autoscaling_target_come_from_the_same_concurrency(tp, util, concurrency):
    seqs, target = max_num_seqs(concurrency, tp), in_flight_target(concurrency, tp, util)
    assert seqs == concurrency * tp
    assert 1 <= target <= seqs and (target <= seqs * util + 1e-9 or target == 1)


def test_the_server_args_cap_concurrency_and_the_scaler_targets_the_same_number():
    from components.serving.manifests import container, scaled_object

    plan = dev_plan()
    pool, server = plan.serving["use1"].pools[0], plan.serving["use1"].server
    args = container(pool, server, bucket_uri="s3://b")["args"]
    assert args[args.index("--max-num-seqs") + 1] == str(pool.max_num_seqs) == "8"
    scaled = scaled_object(pool, server, "http://p")["spec"]
    assert scaled["triggers"][0]["metadata"]["threshold"] == f"{pool.in_flight_target:g}" == "5.6"
    assert "cooldownPeriod" not in scaled and scaled["minReplicaCount"] >= 1
    assert scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"] == 600


def test_the_loader_buffer_is_capped_and_the_memory_limit_covers_buffer_runtime_and_shm():
    from components.serving.manifests import container

    plan = dev_plan()
    for region in plan.serving.values():
        for pool in region.pools:
            c = container(pool, region.server, bucket_uri="s3://b")
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert int(env["RUNAI_STREAMER_MEMORY_LIMIT"]) == 2 * 1024 ** 3
            limit = int(c["resources"]["limits"]["memory"].removesuffix("Gi"))
            assert pool.memory_need_gib == 2 + 6 + 1 <= limit


def test_a_loader_buffer_the_node_cannot_hold_names_the_field():
    raw = raw_config(serving={**raw_config()["serving"], "loaderBufferGib": 10})  # 10 + 6 + 1 > 12 GiB
    problems = problems_of(raw)
    assert problems and all(p.startswith("serving.loaderBufferGib:") for p in problems)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.floats(0.3, 0.8), st.integers(60, 1800))
def test_a_rollout_replaces_a_share_of_the_pool_within_its_ceiling_and_its_wait(replicas, util, load):
    ceiling = 0.9
    r = rollout_for(replicas, ServingBudgets(utilization=util, failover_ceiling=ceiling), load)
    batch = max(1, replicas * r.max_unavailable_percent // 100)
    # What stays up carries the normal load within the failover ceiling (or one server at a time).
    assert batch == 1 or (replicas - batch) * ceiling >= replicas * util - 1e-9
    assert r.rounds == -(-replicas // batch)
    assert r.wait_seconds >= r.rounds * r.round_seconds and r.round_seconds >= load


def test_prod_euw4_rolls_in_a_few_rounds_not_one_server_at_a_time():
    from infra.planning.plan import plan_for_stack_file
    from tests.factories import ROOT

    pool = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").serving["euw4"].pools[0]
    assert pool.replicas >= 60 and pool.rollout.max_unavailable == "22%"
    assert pool.rollout.rounds <= 5 and pool.rollout.wait_seconds <= 3 * 3600


@given(st.integers(1, 7200))
def test_the_startup_probe_outlasts_the_model_load_by_less_than_one_period(seconds):
    probes = probes_for(seconds)
    assert seconds <= probes.startup_budget_seconds < seconds + probes.startup_period


def test_the_dev_plan_serves_every_gpu_pool():
    plan = dev_plan()
    for name, cluster in plan.clusters.items():
        assert [p.pool for p in plan.serving[name].pools] == [p.name for p in cluster.gpu_pools]
    assert {s.server.image for s in plan.serving.values()} == {"vllm/vllm-openai:v0.6.3"}  # model.image: no pins


def test_a_region_pinned_to_another_release_serves_that_model_and_image():
    raw = raw_config(rollout={"pins": {"euw4": {"model": "m2", "image": "vllm/vllm-openai:v0.25.0"}}})
    plan = build_plan(parse_config(raw))
    assert (plan.serving["euw4"].server.model_name, plan.serving["euw4"].server.image) == (
        "m2", "vllm/vllm-openai:v0.25.0")
    assert plan.serving["euw4"].server.weights_path == "m2"
    assert (plan.serving["use1"].server.model_name, plan.serving["use1"].server.image) == (
        "m", "vllm/vllm-openai:v0.6.3")


def test_the_proxy_only_subnet_overlaps_no_range_of_the_plan():
    plan = dev_plan()
    assert plan.gcp_regions
    used = [net for _, net in all_ranges(plan.addresses)]
    for region in plan.gcp_regions:
        proxy = ipaddress.ip_network(proxy_only_range(region.addresses.network))
        assert proxy.prefixlen == 23 and proxy.subnet_of(ipaddress.ip_network(region.addresses.network))
        assert not any(proxy.overlaps(r) for r in used)
        assert not proxy.overlaps(ipaddress.ip_network(master_ipv4_cidr(region)))


# --- bad serving config: one ConfigError naming the field (the CLIs exit 2 with it) ---------------------

@pytest.mark.parametrize("image", ["vllm/vllm-openai", "vllm/vllm-openai:latest", "registry:5000/vllm"])
def test_an_unpinned_server_image_names_the_field(image):
    (problem,) = problems_of(raw_config(model={**raw_config()["model"], "image": image}))
    assert problem.startswith("model.image:") and "pin" in problem
    (problem,) = problems_of(raw_config(rollout={"pins": {"use1": {"model": "m", "image": image}}}))
    assert problem.startswith("rollout.pins.use1.image:") and "pin" in problem


def test_an_unknown_serving_option_names_the_field():
    raw = raw_config(serving={"maxModelLength": 4096})
    (problem,) = problems_of(raw)
    assert problem.startswith("serving.maxModelLength: unknown field; did you mean 'maxModelLen'?"), problem
    assert "valid keys: " in problem and "maxModelLen" in problem.partition("valid keys: ")[2], problem


def test_an_instance_type_whose_gpu_has_no_throughput_names_both():
    raw = raw_config(sizing={"instanceTypes": ["g5.xlarge", "p4d.24xlarge", "g2-standard-4"]})
    (problem,) = problems_of(raw)
    assert problem.startswith("sizing.instanceTypes[1]:") and "A100-40GB" in problem \
        and "model.throughputRps" in problem


def test_a_pool_whose_gpu_has_no_throughput_is_an_error_of_the_serving_plan():
    plan = dev_plan()
    with pytest.raises(ConfigError) as caught:
        plan_serving(plan.clusters, {"L4": 1.2}, 600)
    assert caught.value.problems == (
        "model.throughputRps.A10G: region use1 runs g5.xlarge (A10G) but the model has no throughput for it; "
        "add the measured requests/s per GPU",)


def test_the_hugging_face_fallback_reads_the_token_secret_and_skips_the_bucket_loader():
    from components.serving.manifests import container

    raw = raw_config(serving={"weights": {"source": "huggingface", "huggingFaceTokenSecret": "hf",
                                          "huggingFaceModel": "meta-llama/Llama-3.1-8B-Instruct"}})
    plan = build_plan(parse_config(raw))
    pool = plan.serving["use1"].pools[0]
    server = container(pool, plan.serving["use1"].server, bucket_uri=None)
    assert server["args"][:2] == ["--model", "meta-llama/Llama-3.1-8B-Instruct"]
    assert "runai_streamer" not in server["args"]
    token = next(e for e in server["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"] == {"secretKeyRef": {"name": "hf", "key": "token"}}


def test_the_hugging_face_fallback_needs_the_repo_id():
    raw = raw_config(serving={"weights": {"source": "huggingface"}})
    (problem,) = problems_of(raw)
    assert problem.startswith("serving.weights:") and "huggingFaceModel" in problem


# --- weights staging config -------------------------------------------------------------------------

def test_bucket_weights_without_a_staging_source_name_the_field():
    (problem,) = problems_of(raw_config(serving={}))
    assert problem.startswith("serving.weights.huggingFaceModel:") and "stageFromBuckets" in problem


def test_a_staged_bucket_source_must_match_its_cloud_and_cover_every_cloud():
    (problem,) = problems_of(raw_config(serving={"weights": {"stageFromBuckets": {"aws": "gs://x"}}}))
    assert problem.startswith("serving.weights:") and "s3://" in problem
    (problem,) = problems_of(raw_config(serving={"weights": {"stageFromBuckets": {"aws": "s3://staged"}}}))
    assert problem.startswith("serving.weights.stageFromBuckets.gcp:")
    plan = build_plan(parse_config(raw_config(serving={"weights": {
        "stageFromBuckets": {"aws": "s3://staged/", "gcp": "gs://staged"}}})))
    assert plan.serving["use1"].server.staging_source("aws") == "s3://staged/m"
    assert plan.serving["euw4"].server.staging_source("gcp") == "gs://staged/m"
    assert dev_plan().serving["use1"].server.staging_source("aws") == "hf://meta-llama/Llama-3.1-8B-Instruct@main"


def test_the_staging_wait_covers_reading_and_writing_every_byte_at_the_configured_rate():
    server = dev_plan().serving["use1"].server
    assert server.staging_seconds >= 2 * server.weights_gib * 1024 / server.staging_mib_per_second
