"""Serving plan (pure): one server per planned node, tensor parallel = the node's GPUs, weights by
capacity, autoscaler floor = plan and ceiling = pool max, probes that outlast the model load, and
bad serving config that names its field."""

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
from infra.planning.serving import (
    ALB_MAX_WEIGHT,
    listener_weights,
    plan_serving,
    probes_for,
    proxy_only_range,
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
            assert server.replicas == gpu_pool.desired_nodes == replicas[name][gpu_pool.machine_type]
            assert server.tensor_parallel == itype.gpu_count
            assert server.floor == server.replicas and server.ceiling == server.replicas + burst
            assert server.rps_per_replica == pytest.approx(itype.gpu_count * THROUGHPUT[itype.gpu_model])
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


def test_an_8_gpu_replica_weighs_eight_times_a_1_gpu_replica_of_the_same_gpu():
    plan = dev_plan()
    replicas = {"use1": {"g5.xlarge": 1, "g5.48xlarge": 1}}  # 1x A10G and 8x A10G
    clusters = plan_clusters(plan, replicas, 0)
    pools = {p.instance_type: p for p in plan_serving(clusters, THROUGHPUT, 600)[
        "use1"].pools}
    assert pools["g5.48xlarge"].rps_per_replica == 8 * pools["g5.xlarge"].rps_per_replica
    assert pools["g5.48xlarge"].tensor_parallel == 8
    assert pools["g5.48xlarge"].listener_weight == ALB_MAX_WEIGHT
    assert pools["g5.xlarge"].listener_weight == round(ALB_MAX_WEIGHT / 8)


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
    assert problems_of(raw) == ["serving.maxModelLength: unknown field (check the spelling; keys are camelCase)"]


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
