"""The Pulumi program: config -> plan -> GlobalRollout -> stack outputs.

Runs the same under `pulumi up` and under the offline mocks (`infra.offline.preview`, the tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.rollout import GlobalRollout, GlobalRolloutArgs
from infra.config import RolloutConfig, config_from_engine, stack_file_path
from infra.errors import ConfigError
from infra.planning.plan import RolloutPlan, build_plan
from infra.planning.sizing.lock import SizingLock, lock_path, read_lock

# Where the sizing lock is when it is not beside the stack file in the project (the offline runner
# sets it to the lock beside the stack file it previews).
SIZING_LOCK_ENV = "GLOBAL_AI_ROLLOUT_SIZING_LOCK"


def engine_config_values() -> dict[str, Any]:
    """Every config value the engine handed this program (`project:key` -> text)."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def sizing_lock() -> SizingLock | None:
    """The stack's pinned sizing plan: `Pulumi.<stack>.sizing.json` beside the stack file, if present."""
    path = os.environ.get(SIZING_LOCK_ENV) or lock_path(stack_file_path(pulumi.get_stack()))
    return read_lock(Path(path))


def plan_stack() -> tuple[RolloutConfig, RolloutPlan]:
    """Load and plan; a ConfigError becomes a RunError so `pulumi up` prints the text, no traceback."""
    try:
        cfg = config_from_engine(engine_config_values())
        return cfg, build_plan(cfg, sizing_lock(), stack=pulumi.get_stack())
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def region_outputs(plan: RolloutPlan) -> dict[str, Any]:
    return {
        r.name: {"cloud": r.cloud, "location": r.location, "zones": list(r.zones),
                 "cidr": r.addresses.block, "network": r.addresses.network}
        for r in plan.regions
    }


def sizing_output(plan: RolloutPlan) -> dict[str, Any]:
    """What a reviewer wants from the optimizer in `pulumi stack output`: the fleet and its price."""
    summary = plan.sizing.summary()
    # No solve time here: an output that changes on every run would show as a diff in every `pulumi up`.
    return {key: summary[key] for key in ("replicas", "hourly_cost", "lower_bound", "gap",
                                          "status", "routing")}


def rollout_output(plan: RolloutPlan) -> dict[str, Any]:
    """What each region runs and whether it takes traffic: the deploy reads it back between waves."""
    return {name: {"model": r.model, "image": r.image, "traffic": r.traffic} for name, r in plan.releases.items()}


def links_output(plan: RolloutPlan) -> dict[str, Any]:
    topology = plan.topology
    out = {"awsMode": topology.mode,
           "tgwPeerings": [f"{p.requester}<->{p.accepter}" for p in topology.peerings],
           "haVpns": [f"{v.aws_region}<->{v.gcp_region}" for v in topology.vpns]}
    if topology.partition_links:  # only stacks with regions in another AWS partition (docs/partitions.md)
        out["partitionVpns"] = [f"{x.global_region}<->{x.remote_region}" for x in topology.partition_links]
    return out


def check_real_path(plan: RolloutPlan) -> None:
    """What only matters against real clouds (the offline mocks stand in for both): a GCP project from
    config, and at least one EKS cluster admin, since the cluster creator gets no implicit admin."""
    from components.deploy_context import aws_identity, gcp_project, offline

    try:
        identity = aws_identity()  # a malformed aws:assumeRoles is a config error on either path
        if offline():
            return
        if plan.gcp_regions:
            gcp_project()
        admins = [c for c in plan.clusters.values() if c.cloud == "aws" and c.admin_role_arns]
        if plan.aws_regions and not admins and identity.role_arn is None:
            raise ConfigError(["cluster.adminRoleArns: no EKS cluster admin: set aws:assumeRoles (the role pulumi "
                               "runs as becomes admin) or list roles here; the cluster creator gets no "
                               "implicit admin"], title="invalid pulumi config")
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def traffic_output(plan: RolloutPlan, rollout: GlobalRollout) -> dict[str, Any]:
    """The zone to delegate to, each region's certificate, and whether the records exist yet."""
    certs = rollout.certificates.by_region if rollout.certificates else {}
    return {"zoneId": rollout.zone.zone_id, "nameServers": rollout.zone.name_servers,
            "certificates": {r: t.certificate for r, t in certs.items()},
            "records": len(plan.traffic.records) if rollout.records else 0,
            "weights": {geo: dict(w) for geo, w in plan.traffic.normal_weights.items()},
            "geolocations": {geo: [loc.code for loc in locs] for geo, locs in plan.traffic.locations.items()}}


def main() -> None:
    _, plan = plan_stack()
    check_real_path(plan)
    rollout = GlobalRollout("rollout", GlobalRolloutArgs(plan))
    pulumi.export("regions", region_outputs(plan))
    pulumi.export("networks", {name: r.summary for name, r in rollout.regions.items()})
    pulumi.export("sizing", sizing_output(plan))
    pulumi.export("links", links_output(plan))
    pulumi.export("rollout", rollout_output(plan))
    pulumi.export("caCertificate", rollout.ca.cert_pem)  # the CA certificate only, never a key
    pulumi.export("serving", serving_output(rollout))
    if plan.traffic is not None and rollout.zone is not None:
        pulumi.export("serviceUrl", f"https://{plan.domain}/")
        pulumi.export("traffic", traffic_output(plan, rollout))
    if plan.database is not None:
        pulumi.export("mongodb", plan.database.output(plan.stack_environment))  # no credentials
    if plan.residency is not None and rollout.sharded is not None:
        pulumi.export("residency", residency_output(plan, rollout))


def serving_output(rollout: GlobalRollout) -> dict[str, Any]:
    """Each serving region's public endpoint (hostname, load balancer address) and its pools."""
    return {name: r.serving.summary for name, r in rollout.regions.items() if r.serving is not None}


def residency_output(plan: RolloutPlan, rollout: GlobalRollout) -> dict[str, Any]:
    """Per zone: its shard, regions, voting layout and backup buckets (docs/residency.md); `zones` is what
    the policy residency-in-zone reads."""
    assert plan.residency is not None
    out = plan.residency.output()
    buckets: dict[str, list[Any]] = {}
    for r in rollout.regions.values():
        for shard, bucket in (r.shards.backup_buckets.items() if r.shards is not None else ()):
            buckets.setdefault(shard, []).append(bucket)
    out["byZone"] = {s.zone: {"shard": s.name, "regions": list(s.regions),
                              "votes": {m.name: m.votes for m in s.replica_set.members},
                              "primaryRegion": s.replica_set.primary_region,
                              "survivesRegionLoss": s.survives_region_loss, "regionLoss": s.region_loss(),
                              "backupRegions": list(s.backup_regions()),
                              "backupBuckets": buckets.get(s.name, [])}
                     for s in plan.residency.shards}
    return out
