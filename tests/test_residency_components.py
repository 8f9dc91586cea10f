"""The zone-sharded cluster as the program declares it on prod (components/database/sharded.py): every
shard member in its zone's regions, config servers and routers, the flows each needs and no more, the
reconcile Job's sharding setup, per-shard backups in the zone, the `residency` output, the policy rule
on the captured run both ways, and `--lose` per shard."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from components.database.sharded import USER_DATA_NAMESPACE
from components.database.sharded_manifests import SET_LABEL, ZONE_LABEL
from infra.offline.preview import main as preview_main
from policies.rules.core import Resource
from policies.rules.residency import residency_in_zone
from tests.factories import ROOT
from tests.previews import run_cli, stack_preview

SHARDED = "rollout:database:RegionShards"
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def prod():
    return stack_preview("prod")


def labels_of(r) -> dict:
    return r.inputs["metadata"].get("labels") or {}


def in_component(run, typ: str) -> set[str]:
    by_urn = {r.urn: r for r in run.resources}
    out = set()
    for r in run.resources:
        node = by_urn.get(r.parent)
        while node is not None:
            if node.type == typ:
                out.add(r.urn)
                break
            node = by_urn.get(node.parent)
    return out


def test_every_shard_member_runs_in_its_zone_s_regions_one_protected_stateful_set_each(prod):
    run, plan = prod
    sets = {r.inputs["metadata"]["name"]: r for r in run.of_type("kubernetes:apps/v1:StatefulSet")
            if SET_LABEL in labels_of(r)}
    for shard in plan.residency.shards:
        for m in shard.replica_set.members:
            ss = sets[m.name]
            assert labels_of(ss)[ZONE_LABEL] == shard.zone and labels_of(ss)["rollout.dev/region"] == m.region
            assert m.region in shard.regions and ss.protect and m.region in ss.provider
            assert "--shardsvr" in json.dumps(ss.inputs["spec"]["template"]["spec"]["containers"][0]["args"])
    cfg = plan.residency.config_servers
    for m in cfg.members:
        assert ZONE_LABEL not in labels_of(sets[m.name]) and "--configsvr" in json.dumps(sets[m.name].inputs)
    assert len(sets) == sum(len(rs.members) for rs in plan.residency.sets())


def test_routers_run_in_every_region_two_over_two_zones_under_restricted_psa(prod):
    run, plan = prod
    routers = [r for r in run.of_type("kubernetes:apps/v1:Deployment") if r.inputs["metadata"]["name"] == "mongos"]
    assert sorted(labels_of(r)["rollout.dev/region"] for r in routers) == sorted(x.name for x in plan.regions)
    for r in routers:
        spec = r.inputs["spec"]
        pod = spec["template"]["spec"]
        assert spec["replicas"] == 2 and pod["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
        assert pod["securityContext"]["runAsNonRoot"] and pod["containers"][0]["securityContext"][
            "capabilities"] == {"drop": ["ALL"]}
        assert "--configdb" in pod["containers"][0]["args"] and r.custom_timeouts


def test_a_shard_member_dials_only_its_own_shard_and_the_config_servers(prod):
    run, plan = prod
    addresses = {rs.replica_set: {a for a in rs.member_addresses()} for rs in plan.residency.sets()}
    policies = [p for p in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.inputs["spec"]["podSelector"].get("matchLabels", {}).get(SET_LABEL, "").startswith("shard-")]
    assert policies
    for p in policies:
        own = p.inputs["spec"]["podSelector"]["matchLabels"][SET_LABEL]
        egress = {peer["ipBlock"]["cidr"] for rule in p.inputs["spec"]["egress"] for peer in rule.get("to", ())
                  if "ipBlock" in peer}
        assert egress == addresses[own] | addresses["cfg"], own
        ports = {port["port"] for rule in p.inputs["spec"]["ingress"] for port in rule["ports"]}
        assert ports == {27017}


def test_the_job_reconciles_every_set_then_shards_the_user_data_by_zone_through_mongos(prod):
    run, plan = prod
    mine = in_component(run, "rollout:database:ShardedCluster")
    (job,) = [r for r in run.of_type("kubernetes:batch/v1:Job") if r.urn in mine]
    (config,) = [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.urn in mine]
    command = job.inputs["spec"]["template"]["spec"]["containers"][0]["command"][2]
    order = [command.index(f"replicaSet={rs.replica_set}&") for rs in plan.residency.sets()]
    assert order == sorted(order) and command.index("sharding.js") > max(order)
    setup = json.loads(config.inputs["data"]["sharding.json"])
    assert setup["namespace"] == USER_DATA_NAMESPACE
    assert [s["name"] for s in setup["shards"]] == [s.name for s in plan.residency.shards]
    shard_collection = setup["commands"][-1]
    assert shard_collection == {"shardCollection": USER_DATA_NAMESPACE, "key": {"zone": 1, "_id": "hashed"},
                                "presplitHashedZones": True}
    ranges = [c for c in setup["commands"] if "updateZoneKeyRange" in c]
    assert sorted(c["zone"] for c in ranges) == sorted(s.zone for s in plan.residency.shards)
    assert json.loads(config.inputs["data"]["desired-cfg.json"])["configsvr"] is True
    stateful = {r.urn for r in run.of_type("kubernetes:apps/v1:StatefulSet") if SET_LABEL in labels_of(r)}
    sharded = {r.urn for r in run.resources if r.type == SHARDED}
    assert sharded <= set(job.dependencies) or stateful <= set(job.dependencies)


def test_each_shard_is_backed_up_to_buckets_in_its_own_regions_tagged_with_its_zone(prod):
    run, plan = prod
    out = run.outputs["residency"]["byZone"]
    for shard in plan.residency.shards:
        assert out[shard.zone]["backupRegions"] == list(shard.backup_regions())
        assert set(shard.backup_regions()) <= set(shard.regions)
        assert len(out[shard.zone]["backupBuckets"]) == len(shard.backup_regions())
    tagged = [b for b in run.of_type("aws:s3/bucket:Bucket") + run.of_type("gcp:storage/bucket:Bucket")
              if (b.inputs.get("tags") or b.inputs.get("labels") or {}).get("residency-zone")]
    assert len(tagged) == sum(len(s.backup_regions()) for s in plan.residency.shards)


def test_the_residency_output_has_each_zone_s_shard_regions_and_votes(prod):
    run, plan = prod
    out = run.outputs["residency"]
    assert out["zones"] == {"us": ["use1", "usw2"], "eu": ["euc1", "euw4"], "apac": ["ane1"]}
    for shard in plan.residency.shards:
        zone = out["byZone"][shard.zone]
        assert zone["shard"] == shard.name and zone["regions"] == list(shard.regions)
        assert sum(zone["votes"].values()) == shard.replica_set.total_votes
        assert zone["survivesRegionLoss"] is shard.survives_region_loss


def policy_view(run) -> list[Resource]:
    by_urn = {r.urn: Resource(type=r.type, props=json.loads(json.dumps(r.inputs, default=str)), urn=r.urn,
                              name=r.name) for r in run.resources}
    for r in run.resources:
        if r.parent in by_urn:
            by_urn[r.urn].parent = by_urn[r.parent]
    stack = Resource(type="pulumi:pulumi:Stack", props=json.loads(json.dumps(run.outputs, default=str)),
                     urn="urn:pulumi:prod::global-ai-rollout::pulumi:pulumi:Stack::global-ai-rollout-prod",
                     name="global-ai-rollout-prod")
    return [stack, *by_urn.values()]


def test_the_policy_passes_the_deployed_zones_and_fails_a_member_moved_out_of_its_zone(prod):
    run, _ = prod
    resources = policy_view(run)
    judged = [r for r in resources if r.type == "kubernetes:apps/v1:StatefulSet"
              and (r.props["metadata"].get("labels") or {}).get(ZONE_LABEL)]
    assert judged  # the rule has something to judge: the shard members carry their zone
    assert list(residency_in_zone.evaluate(resources)) == []
    moved = judged[0]
    zone = moved.props["metadata"]["labels"][ZONE_LABEL]
    foreign = next(r for r in ("ane1", "use1") if r not in run.outputs["residency"]["zones"][zone])
    moved.props["metadata"]["labels"]["rollout.dev/region"] = foreign
    assert [u for _, u in residency_in_zone.evaluate(resources)] == [moved.urn]


def test_preview_lose_reports_every_shard_and_the_config_servers():
    done = run_cli(preview_main, "--stack", "prod", "--lose", "euw4")
    assert done.returncode == 0, done.stderr
    assert "MongoDB replica set shard-eu: losing region euw4" in done.stdout
    assert "MongoDB replica set cfg: losing region euw4" in done.stdout
    assert "zone eu: survives the loss of euc1; CANNOT survive the loss of euw4" in done.stdout


def test_a_stack_without_zones_declares_no_sharded_cluster():
    run, plan = stack_preview("dev")
    assert plan.residency is None and "residency" not in run.outputs
    assert not [r for r in run.resources if r.type == SHARDED]


@pytest.mark.skipif(NODE is None, reason="node is not installed (the script's tests need it)")
def test_the_sharding_script_adds_only_what_is_missing_and_shards_the_collection_once(prod):
    _, plan = prod
    from components.database.sharded_manifests import sharding_setup

    setup = sharding_setup(plan.residency, USER_DATA_NAMESPACE)
    script = (ROOT / "components/database/scripts/sharding.js").resolve()
    driver = f"""
const {{ applySetup }} = require({json.dumps(str(script))});
const setup = {json.dumps(setup)};
const shards = new Set(["shard-us"]); let sharded = false; const seen = [];
const run = (c) => {{
  seen.push(Object.keys(c)[0]);
  if (c.listShards) return {{ ok: 1, shards: [...shards].map((_id) => ({{ _id }})) }};
  if (c.addShard) {{ shards.add(c.name); return {{ ok: 1 }}; }}
  if (c.find) return {{ ok: 1, cursor: {{ firstBatch: sharded ? [{{ _id: c.filter._id }}] : [] }} }};
  if (c.shardCollection) {{ sharded = true; }}
  return {{ ok: 1 }};
}};
const first = applySetup(setup, run); const second = applySetup(setup, run);
console.log(JSON.stringify({{ first, second }}));
"""
    done = subprocess.run([NODE, "-e", driver], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["first"][:2] == ["addShard shard-eu", "addShard shard-apac"]
    assert result["first"][-1] == "shardCollection"
    assert "shardCollection" not in result["second"] and not any(s.startswith("addShard ") for s in result["second"])


def test_no_sharded_member_takes_an_address_of_the_replica_set(prod):
    """The replica set's members keep address slots 0-3; shards count up from 4, config servers down."""
    _, plan = prod
    used = {m.address for m in plan.database.members}
    sharded = [m.address for rs in plan.residency.sets() for m in rs.members]
    assert not used & set(sharded) and len(sharded) == len(set(sharded))


def test_sharded_members_roll_one_at_a_time_in_one_chain_across_regions(prod):
    run, _ = prod
    members = [r for r in run.of_type("kubernetes:apps/v1:StatefulSet") if SET_LABEL in labels_of(r)]
    urns = {r.urn for r in members}
    before = {r.urn: [d for d in r.dependencies if d in urns] for r in members}
    assert sorted(len(v) for v in before.values()) == [0] + [1] * (len(members) - 1)
    followers = [v[0] for v in before.values() if v]
    assert len(set(followers)) == len(followers)  # a chain, not a tree
    assert all(r.custom_timeouts for r in members)


def test_every_region_s_routers_may_reach_every_sharded_member_s_load_balancer(prod):
    """mongos runs in every region and dials each shard member and config server at its load balancer:
    the load balancer admits every region's member ranges (the NetworkPolicy then narrows by pod)."""
    from infra.planning.database import member_ranges

    run, plan = prod
    everyone = {c for r in plan.regions for c in member_ranges(r)}
    names = {f"{m.name}-lb" for rs in plan.residency.sets() for m in rs.members}
    services = [s for s in run.of_type("kubernetes:core/v1:Service") if s.inputs["metadata"]["name"] in names]
    assert len(services) == len(names)
    assert all(set(s.inputs["spec"]["loadBalancerSourceRanges"]) == everyone for s in services)


def test_the_change_battery_grows_prod_s_zones_into_valid_stacks(tmp_path):
    """The battery's residency edits (rehearsed end to end by `python -m infra.change --battery --stack
    prod`) produce stack files that validate, with the new region in a new zone or in the smallest one."""
    import yaml

    from infra.config import PROJECT
    from infra.offline.change_battery import edits_for
    from infra.planning.plan import validated_config

    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    edits = {e.name: e for e in edits_for(doc)}
    for name, check in (("add a residency zone", lambda z, new: z["extra"] == [new]),
                        ("add a region to a residency zone", lambda z, new: z["apac"] == ["ane1", new])):
        edit = edits[name]
        edited = edit.apply(yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text()))
        deployed = edit.deployed(yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text()))
        new = edited["config"][f"{PROJECT}:regions"][-1]["name"]
        assert deployed["config"][f"{PROJECT}:regions"][-1]["name"] == new  # only the zones differ
        path = tmp_path / f"{name.replace(' ', '-')}.yaml"
        path.write_text(yaml.safe_dump(edited, sort_keys=False))
        assert check(validated_config(path).residency.zones, new), name
