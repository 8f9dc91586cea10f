"""Cluster plan (pure): pools equal the sizing plan, burst on top, GPU zones only, every GPU pool
tainted and labelled, private API by default, and a GKE control-plane /28 no range of the plan uses."""

from __future__ import annotations

import ipaddress
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.config import parse_config
from infra.errors import ConfigError
from infra.planning.addressing import AddressRequest, all_ranges, plan_addresses
from infra.planning.cluster_plan import (
    GPU_MODEL_LABEL,
    GPU_TAINT,
    plan_clusters,
)
from infra.planning.plan import RolloutPlan, build_plan, cloud_ordinal
from infra.planning.regions import RegionPlan
from infra.planning.topology import topology_of
from tests.factories import raw_config

CATALOG = load_catalog()
REGIONS = sorted(CATALOG.regions.values(), key=lambda r: r.number)


@cache
def base_plan() -> RolloutPlan:
    return build_plan(parse_config(raw_config()))


def make_plan(picks: list[tuple[int, int, int | None]]) -> RolloutPlan:
    """A RolloutPlan over catalog regions (index, zones, block prefix), without re-running sizing."""
    requests, regions = [], []
    for i, (index, zones, prefix) in enumerate(picks):
        entry = REGIONS[index]
        cidr = f"10.{(i * 4) % 256}.0.0/{prefix}" if prefix else None
        requests.append(AddressRequest(name=f"r{i}", cloud=entry.cloud, number=entry.number,
                                       cloud_ordinal=cloud_ordinal(entry), zones=entry.zones[:zones], cidr=cidr))
    addresses = plan_addresses(requests, "10.0.0.0/8", 15)
    for i, (index, zones, _) in enumerate(picks):
        entry = REGIONS[index]
        regions.append(RegionPlan(name=f"r{i}", cloud=entry.cloud, location=entry.location,
                                  zones=entry.zones[:zones], nat_gateways=1, addresses=addresses.region(f"r{i}"),
                                  flow_log_retention_days=30, catalog=entry))
    base = base_plan()
    return RolloutPlan(stack_environment="dev", domain=base.domain, tags=base.tags, regions=tuple(regions),
                       addresses=addresses, sizing=base.sizing, topology=topology_of(tuple(regions), addresses))


@st.composite
def plans_and_replicas(draw):
    count = draw(st.integers(1, 4))
    indexes = draw(st.lists(st.sampled_from(range(len(REGIONS))), min_size=count, max_size=count, unique=True))
    # Explicit blocks (one /14 slot per pick) keep arbitrary catalog picks disjoint.
    plan = make_plan([(idx, min(draw(st.integers(1, 6)), len(REGIONS[idx].zones)), 14) for idx in indexes])
    replicas = {}
    for region in plan.regions:
        if not set(region.zones) & set(region.catalog.gpu_zones):
            continue
        # T4 (16 GB) holds no 8B model at 0.9 memory use: the serving tests draw the GPUs that do.
        offered = [o.instance_type.name for o in CATALOG.offerings_in(region.cloud, region.location)
                   if (region.cloud == "aws" and o.instance_type.gpu_model != "T4")
                   or o.instance_type.gpu_model in ("L4", "A100-40GB", "A100-80GB", "H100-80GB")]
        if offered:
            chosen = draw(st.lists(st.sampled_from(offered), max_size=3, unique=True))
            replicas[region.name] = {t: draw(st.integers(0, 12)) for t in chosen}
    return plan, replicas, draw(st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(plans_and_replicas())
def test_gpu_pools_equal_the_plan_with_burst_on_top_in_gpu_zones_tainted_and_labelled(case):
    plan, replicas, burst = case
    clusters = plan_clusters(plan, replicas, burst)
    assert set(clusters) == {r.name for r in plan.regions}
    for region in plan.regions:
        cluster = clusters[region.name]
        planned = {t: n for t, n in replicas.get(region.name, {}).items() if n > 0}
        pools = {p.machine_type: p for p in cluster.gpu_pools}
        assert set(pools) == set(planned), "exactly one pool per planned instance type, none for zero"
        for itype, pool in pools.items():
            spec = CATALOG.instance_type(region.cloud, itype)
            assert pool.min_nodes == pool.desired_nodes == planned[itype]
            assert pool.max_nodes == planned[itype] + burst
            assert pool.zones and set(pool.zones) <= set(region.zones) & set(region.catalog.gpu_zones)
            assert pool.taints == (GPU_TAINT,)
            assert pool.labels[GPU_MODEL_LABEL] == spec.gpu_model == pool.gpu_model
            assert pool.gpu_count == spec.gpu_count > 0
            assert pool.initial_per_zone * len(pool.zones) <= pool.desired_nodes
            assert (pool.accelerator is not None) == (region.cloud == "gcp")
        system = cluster.system_pool
        assert not system.taints and system.zones == region.zones
        assert system.min_nodes <= system.desired_nodes <= system.max_nodes
        assert not cluster.public_endpoint and cluster.public_api_cidrs == ()
        assert cluster.api_access == "private" and cluster.runner_cidrs == ()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([r for r in range(len(REGIONS)) if REGIONS[r].cloud == "gcp"]),
                          st.integers(1, 4), st.sampled_from([None, 14, 15, 16, 17, 18])),
                min_size=1, max_size=5, unique_by=lambda t: t[0]))
def test_gke_control_plane_range_is_a_28_inside_the_block_that_no_range_of_the_plan_overlaps(picks):
    try:
        plan = make_plan(picks)
    except ConfigError:  # user blocks of this draw overlap each other: not this test's subject
        return
    clusters = plan_clusters(plan, {}, 0)
    ranges = all_ranges(plan.addresses)
    assert ranges
    for region in plan.regions:
        master = ipaddress.ip_network(clusters[region.name].master_ipv4_cidr)
        assert master.prefixlen == 28
        assert master.subnet_of(ipaddress.ip_network(region.addresses.block))
        clashes = [owner for owner, net in ranges if net.overlaps(master)]
        assert clashes == [], f"{master} overlaps {clashes}"


def test_the_default_plan_gets_pools_from_the_sizing_plan():
    plan = base_plan()
    clusters = plan_clusters(plan, plan.sizing.replicas, 2)
    total = sum(p.desired_nodes for c in clusters.values() for p in c.gpu_pools)
    assert total == sum(n for per in plan.sizing.replicas.values() for n in per.values()) > 0
    assert clusters["euw4"].master_ipv4_cidr == "10.68.255.240/28"
    assert clusters["use1"].master_ipv4_cidr is None and clusters["use1"].name == "rollout-dev-use1"


def test_dns_endpoint_mode_allow_lists_eks_for_the_deployer_only():
    plan = base_plan()
    clusters = plan_clusters(plan, {}, 0, api_access="dns-endpoint", deployer_cidrs=["203.0.113.0/24"])
    assert clusters["use1"].public_endpoint and clusters["use1"].public_api_cidrs == ("203.0.113.0/24",)
    assert not clusters["euw4"].public_endpoint and clusters["euw4"].dns_endpoint
    # the region's own range, never the whole supernet (a peer region cannot reach this API)
    assert clusters["euw4"].authorized_networks == ("10.68.0.0/16",)
    assert not clusters["use1"].dns_endpoint


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "0.0.0.0/1", "64.0.0.0/2", "128.0.0.0/7"])
def test_no_allow_list_entry_is_wider_than_a_slash_8(cidr):
    with pytest.raises(ConfigError, match=r"cluster.apiAccess.deployerCidrs\[0\].*internet"):
        plan_clusters(base_plan(), {}, 0, api_access="dns-endpoint", deployer_cidrs=[cidr])
    plan_clusters(base_plan(), {}, 0, api_access="dns-endpoint", deployer_cidrs=["10.0.0.0/8"])


def test_private_mode_needs_runner_ranges_inside_the_supernet():
    plan = base_plan()
    clusters = plan_clusters(plan, {}, 0, api_access="private", runner_cidrs=["10.1.2.0/24"])
    assert all(c.runner_cidrs == ("10.1.2.0/24",) and not c.public_endpoint for c in clusters.values())
    assert clusters["euw4"].authorized_networks == ("10.68.0.0/16", "10.1.2.0/24")
    for kwargs, field in (({}, "cluster.apiAccess.runnerCidrs"),
                          ({"runner_cidrs": ["192.168.0.0/24"]}, "cluster.apiAccess.runnerCidrs[0]"),
                          ({"runner_cidrs": ["10.1.2.0/24"], "deployer_cidrs": ["203.0.113.0/24"]},
                           "cluster.apiAccess.deployerCidrs")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.").replace("[", r"\[")):
            plan_clusters(plan, {}, 0, api_access="private", **kwargs)


def test_admin_roles_must_be_iam_role_arns_listed_once():
    plan = base_plan()
    good = "arn:aws:iam::123456789012:role/platform/admin"
    assert plan_clusters(plan, {}, 0, api_access="private", runner_cidrs=["10.1.2.0/24"],
                         admin_role_arns=[good])["use1"].admin_role_arns == (good,)
    for bad in (["arn:aws:iam::123456789012:root"], ["arn:aws:iam::123456789012:user/bob"], [good, good]):
        with pytest.raises(ConfigError, match=r"cluster\.adminRoleArns"):
            plan_clusters(plan, {}, 0, api_access="private", runner_cidrs=["10.1.2.0/24"], admin_role_arns=bad)


def test_bad_input_is_reported_all_at_once_with_field_paths():
    plan = base_plan()
    with pytest.raises(ConfigError) as error:
        plan_clusters(plan, {"nowhere": {"g5.xlarge": 1}, "use1": {"p9.huge": 1, "g5.xlarge": -1}}, -1,
                      kubernetes_version="1.20", api_access="dns-endpoint", deployer_cidrs=["not-a-cidr"])
    text = str(error.value)
    for fragment in ("sizing.replicas.nowhere", "sizing.replicas.use1.p9.huge", "sizing.replicas.use1.g5.xlarge",
                     "sizing.burstReplicas", "cluster.kubernetesVersion", "cluster.apiAccess.deployerCidrs[0]"):
        assert fragment in text


def test_a_region_whose_zones_offer_no_gpus_is_a_clear_error():
    index = next(i for i, r in enumerate(REGIONS) if r.location == "us-west3")
    assert REGIONS[index].gpu_zones == ("us-west3-b",)
    plan = make_plan([(index, 1, None)])
    with pytest.raises(ConfigError, match="none of the region's zones"):
        plan_clusters(plan, {"r0": {"g2-standard-4": 2}}, 1)
    assert plan_clusters(plan, {"r0": {"g2-standard-4": 0}}, 1)["r0"].gpu_pools == ()
