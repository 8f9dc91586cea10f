"""`python -m infra.ops.verify --stack prod [--json]`: after `pulumi up`, does what runs match the plan?

Compares live resources with the plan and prints the drift: per AWS region the VPC and its CIDR, the
Transit Gateway peerings (accepted), the HA VPN connections (every tunnel UP with BGP routes accepted),
the EKS node groups (limits, instance type, status, and the nodes actually running: EC2 instances of the
group in state `running`, not the desired size); per GCP region the subnetwork's ranges and the GKE
node pools (the managed instances RUNNING, not the target size); the public DNS records against the
traffic plan's records (`expected_dns_records`); and live capacity per serving region, through the
cluster's API server (infra/ops/kube.py): each GPU pool's Deployment has at least the plan's floor of
servers ready, and the load the region's Prometheus measures (requests/s over 5 minutes) is within its
planned share by the monitoring tolerance (`--no-live` skips it, e.g. off the clusters' networks).
Every listing is read page by page.
Resources are found the way the program names and tags them: AWS `Name` and `stack` tags,
EKS/GKE cluster names from the cluster plan, node pools by their `rollout.dev/pool` label.

Exit codes: 0 no drift; 1 drift (or a cloud API error); 2 bad config.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from infra.errors import ConfigError
from infra.ops.clouds import AwsClients, GcpApi, GoogleRestApi, page_all
from infra.ops.kube import PROMETHEUS_SERVICE, ClusterApi, PrometheusUnreachable, cluster_connector
from infra.ops.preflight import cloud_error, lazy_gcp
from infra.ops.report import Check, Step, exit_code, failed, passed, render_table, run_steps, to_json
from infra.ops.stack import StackTarget, add_stack_arguments, load_target
from infra.planning.cluster_plan import POOL_LABEL, ClusterPlan
from infra.planning.monitoring import MODEL_ROUTES
from infra.planning.plan import RolloutPlan
from infra.planning.regions import RegionPlan
from infra.planning.serving import SERVING_NAMESPACE, RegionServing
from infra.planning.serving_versions import PROMETHEUS
from infra.planning.topology import TgwPeering, VpnLink

GONE = ("deleting", "deleted", "failed", "rejected", "rejecting")


# ---- DNS: the records the traffic plan expects ---------------------------------------------------------

@dataclass(frozen=True)
class ExpectedRecord:
    """One public DNS record the stack should serve. `set_identifier` and `weight` for routed records
    (weighted, geolocation, failover); `targets` are record values or the alias target's DNS name."""

    name: str
    type: str
    set_identifier: str | None = None
    weight: int | None = None
    targets: tuple[str, ...] = ()


def expected_dns_records(plan: RolloutPlan) -> tuple[ExpectedRecord, ...]:
    """The seam to the traffic plan: the public records the zone should hold, one per record set.

    Every record of `plan.traffic` is an A record (`components/traffic/records.py`). Routed records
    (geolocation, weighted, failover) are aliases to another name of the plan, so their set identifier,
    weight and target are checked. A regional endpoint record points at the load balancer or address
    the cloud assigned, which the plan cannot know, so only its presence is checked."""
    if plan.traffic is None:
        return ()
    out = []
    for rec in plan.traffic.records:
        if rec.kind == "endpoint":
            out.append(ExpectedRecord(rec.name, "A"))
        else:
            out.append(ExpectedRecord(rec.name, "A", rec.set_identifier, rec.weight,
                                      (rec.target,) if rec.target else ()))
    return tuple(out)


def dns_zone_name(plan: RolloutPlan) -> str:
    """The public hosted zone holding the records: the traffic plan's zone (the domain or a parent)."""
    return (plan.traffic.zone_name if plan.traffic and plan.traffic.zone_name else plan.domain)


def _dns_name(name: str) -> str:
    return name.lower().rstrip(".") + "."


def check_dns(route53: Any, domain: str, expected: Sequence[ExpectedRecord]) -> list[Check]:
    if not expected:
        return [Check("dns-records", domain, "skip", "no expected records: the plan has no traffic plan")]
    zones = [z for z in route53.list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
             if z["Name"] == _dns_name(domain) and not z.get("Config", {}).get("PrivateZone")]
    if not zones:
        return [failed("dns-records", domain, f"no public hosted zone {domain}", "run `pulumi up`")]
    live: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zones[0]["Id"]):
        for r in page["ResourceRecordSets"]:
            live[(_dns_name(r["Name"]), r["Type"], r.get("SetIdentifier"))] = r
    out: list[Check] = []
    wanted = set()
    for e in expected:
        key = (_dns_name(e.name), e.type, e.set_identifier)
        wanted.add(key)
        label = f"{e.name} {e.type}" + (f" [{e.set_identifier}]" if e.set_identifier else "")
        record = live.get(key)
        if record is None:
            out.append(failed("dns-records", label, "missing", "run `pulumi up`"))
            continue
        problems = []
        if e.weight is not None and record.get("Weight") != e.weight:
            problems.append(f"weight {record.get('Weight')} != planned {e.weight}")
        if e.targets:
            values = {_dns_name(v["Value"]) if e.type in ("CNAME",) else v["Value"]
                      for v in record.get("ResourceRecords", [])}
            if "AliasTarget" in record:
                values.add(_dns_name(record["AliasTarget"]["DNSName"]))
            want = {_dns_name(t) if e.type in ("CNAME",) or "AliasTarget" in record else t for t in e.targets}
            if values != want:
                problems.append(f"targets {sorted(values)} != planned {sorted(want)}")
        out.append(failed("dns-records", label, "; ".join(problems), "run `pulumi up`") if problems
                   else passed("dns-records", label, "as planned"))
    names = {k[:2] for k in wanted}
    for key in sorted(set(live) - wanted, key=str):
        if key[:2] in names:
            out.append(failed("dns-records", f"{key[0]} {key[1]} [{key[2]}]", "record set not in the plan",
                              "delete it, or add it to the traffic plan"))
    return out


# ---- AWS ------------------------------------------------------------------------------------------------

def _filters(name: str) -> list[dict[str, Any]]:
    # One tag filter on the server; the stack tag is checked here (moto 5.2 mishandles two tag filters).
    return [{"Name": "tag:Name", "Values": [name]}]


def _of_stack(items: Sequence[dict[str, Any]], stack: str) -> list[dict[str, Any]]:
    return [i for i in items if {"Key": "stack", "Value": stack} in (i.get("Tags") or [])]


def check_vpc(ec2: Any, region: RegionPlan, stack: str) -> list[Check]:
    vpcs = _of_stack(page_all(ec2, "describe_vpcs", "Vpcs", Filters=_filters(f"{region.name}-vpc")), stack)
    planned = region.addresses.network
    if not vpcs:
        return [failed("vpc", region.name, f"no VPC tagged Name={region.name}-vpc, stack={stack}", "run `pulumi up`")]
    cidrs = sorted({v["CidrBlock"] for v in vpcs})
    if len(vpcs) > 1 or cidrs != [planned]:
        return [failed("vpc", region.name, f"{len(vpcs)} VPC(s) with CIDR {', '.join(cidrs)}; planned {planned}",
                       "replace the VPC through `pulumi up`; a CIDR change recreates the region's network")]
    return [passed("vpc", region.name, f"{vpcs[0]['VpcId']} {planned}")]


def check_peering(ec2: Any, peering: TgwPeering, stack: str) -> list[Check]:
    found = [a for a in _of_stack(page_all(ec2, "describe_transit_gateway_peering_attachments",
                                           "TransitGatewayPeeringAttachments", Filters=_filters(peering.id)), stack)
             if a["State"] not in GONE]
    if not found:
        return [failed("tgw-peering", peering.id, f"no peering attachment {peering.id} in {peering.requester}",
                       "run `pulumi up`")]
    state = found[0]["State"]
    if state != "available":
        return [failed("tgw-peering", peering.id, f"{found[0]['TransitGatewayAttachmentId']} is {state}, not accepted",
                       f"accept it in {peering.accepter} (`pulumi up` creates the accepter)")]
    return [passed("tgw-peering", peering.id, f"{found[0]['TransitGatewayAttachmentId']} available")]


def check_vpn(ec2: Any, link: VpnLink, stack: str) -> list[Check]:
    """Every tunnel UP with BGP routes accepted: routes can only arrive over the tunnel's BGP session, so
    AcceptedRouteCount > 0 is the API's evidence that BGP is established, beyond the tunnel's UP
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VgwTelemetry.html)."""
    out: list[Check] = []
    for conn in (0, 1):
        name = f"{link.id}-connection-{conn}"
        found = [c for c in _of_stack(page_all(ec2, "describe_vpn_connections", "VpnConnections",
                                               Filters=_filters(name)), stack) if c["State"] not in GONE]
        if not found:
            out.append(failed("vpn-tunnels", name, f"no VPN connection {name} in {link.aws_region}", "run `pulumi up`"))
            continue
        c = found[0]
        telemetry = c.get("VgwTelemetry") or []
        down = [f"{t.get('OutsideIpAddress', '?')} {t.get('Status')}"
                + (f" ({t['StatusMessage']})" if t.get("StatusMessage") else "")
                for t in telemetry if t.get("Status") != "UP"]
        no_bgp = [t.get("OutsideIpAddress", "?") for t in telemetry
                  if t.get("Status") == "UP" and not t.get("AcceptedRouteCount")]
        if c["State"] != "available" or len(telemetry) != len(link.connection(conn)) or down or no_bgp:
            problems = [f"state {c['State']}"] if c["State"] != "available" else []
            if len(telemetry) != len(link.connection(conn)):
                problems.append(f"{len(telemetry)} tunnels reported, planned {len(link.connection(conn))}")
            problems += [f"tunnel {d}" for d in down] + [f"tunnel {ip} UP but no BGP routes accepted" for ip in no_bgp]
            out.append(failed("vpn-tunnels", name, f"{c['VpnConnectionId']}: " + "; ".join(problems),
                              f"check the HA VPN tunnels and Cloud Router BGP peers of {link.gcp_region} "
                              "(pre-shared keys, inside ranges, ASNs); `pulumi up` restores changed settings"))
        else:
            routes = ", ".join(str(t["AcceptedRouteCount"]) for t in telemetry)
            out.append(passed("vpn-tunnels", name, f"{c['VpnConnectionId']}: {len(telemetry)} tunnels UP, "
                              f"BGP routes accepted {routes}"))
    return out


def _pool_problems(pool_name: str, planned_min: int, planned_max: int, live_min: int, live_max: int,
                   running: int, desired: int, machine: str, live_machine: str, status: str, ok_status: str
                   ) -> list[str]:
    problems = []
    if (live_min, live_max) != (planned_min, planned_max):
        problems.append(f"min/max {live_min}/{live_max}, planned {planned_min}/{planned_max}")
    if running < planned_min:
        problems.append(f"{running} nodes running (desired {desired}), fewer than the planned minimum {planned_min}")
    if live_machine != machine:
        problems.append(f"instance type {live_machine}, planned {machine}")
    if status != ok_status:
        problems.append(f"status {status}")
    return problems


def running_instances(ec2: Any, cluster: str, nodegroup: str) -> int:
    """EC2 instances of a managed node group that run now: EKS tags them `eks:nodegroup-name` and
    `eks:cluster-name` (https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html);
    a launch that failed for capacity leaves the desired size up and this count down."""
    reservations = page_all(ec2, "describe_instances", "Reservations", Filters=[
        {"Name": "tag:eks:nodegroup-name", "Values": [nodegroup]},
        {"Name": "instance-state-name", "Values": ["running"]}])
    return sum(1 for r in reservations for i in r["Instances"]
               if {"Key": "eks:cluster-name", "Value": cluster} in (i.get("Tags") or []))


def check_eks_pools(eks: Any, cluster: ClusterPlan, ec2: Any) -> list[Check]:
    try:
        eks.describe_cluster(name=cluster.name)
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
            return [failed("node-pools", cluster.region, f"no EKS cluster {cluster.name}", "run `pulumi up`")]
        raise
    names = [n for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster.name)
             for n in page["nodegroups"]]
    groups = [eks.describe_nodegroup(clusterName=cluster.name, nodegroupName=n)["nodegroup"] for n in names]
    running = {g["nodegroupName"]: running_instances(ec2, cluster.name, g["nodegroupName"]) for g in groups}
    by_pool = {g.get("labels", {}).get(POOL_LABEL): g for g in groups}
    out = []
    for pool in cluster.pools:
        scope = f"{cluster.region}/{pool.name}"
        group = by_pool.get(pool.name)
        if group is None:
            out.append(failed("node-pools", scope, f"no node group labelled {POOL_LABEL}={pool.name}",
                              "run `pulumi up`"))
            continue
        scaling = group.get("scalingConfig", {})
        problems = _pool_problems(pool.name, pool.min_nodes, pool.max_nodes, scaling.get("minSize", 0),
                                  scaling.get("maxSize", 0), running[group["nodegroupName"]],
                                  scaling.get("desiredSize", 0), pool.machine_type,
                                  ",".join(group.get("instanceTypes") or []), group.get("status", "?"), "ACTIVE")
        out.append(failed("node-pools", scope, "; ".join(problems),
                          "`pulumi up` restores min/max; a pool below its minimum means nodes cannot launch "
                          "(capacity or quota: run preflight)") if problems else
                   passed("node-pools", scope, f"{running[group['nodegroupName']]} x {pool.machine_type} running "
                          f"(desired {scaling.get('desiredSize')}, min {pool.min_nodes}, max {pool.max_nodes})"))
    out += [failed("node-pools", f"{cluster.region}/{label}", "node group not in the plan",
                   "delete it or add it to the plan") for label in by_pool if label and label not in
            {p.name for p in cluster.pools}]
    return out


# ---- GCP ------------------------------------------------------------------------------------------------

def check_subnetwork(gcp: GcpApi, region: RegionPlan) -> list[Check]:
    a = region.addresses
    mine = [s for s in gcp.subnetworks(region.location) if s.get("name", "").startswith(f"{region.name}-subnet")]
    if not mine:
        return [failed("subnetwork", region.name, f"no subnetwork {region.name}-subnet-* in {region.location}",
                       "run `pulumi up`")]
    s = mine[0]
    problems = []
    if s.get("ipCidrRange") != a.primary:
        problems.append(f"primary {s.get('ipCidrRange')} != planned {a.primary}")
    secondary = sorted(r["ipCidrRange"] for r in s.get("secondaryIpRanges", []))
    if secondary != sorted(x for x in (a.pods, a.services) if x):
        problems.append(f"secondary ranges {secondary} != planned pods {a.pods}, services {a.services}")
    if problems:
        return [failed("subnetwork", region.name, "; ".join(problems), "`pulumi up` (a primary range change "
                       "recreates the subnetwork)")]
    return [passed("subnetwork", region.name, f"{s['name']} {a.primary} (+ {a.pods}, {a.services})")]


def check_gke_pools(gcp: GcpApi, cluster: ClusterPlan) -> list[Check]:
    pools = gcp.node_pools(cluster.location, cluster.name)
    if pools is None:
        return [failed("node-pools", cluster.region, f"no GKE cluster {cluster.name}", "run `pulumi up`")]
    by_pool = {p.get("config", {}).get("labels", {}).get(POOL_LABEL): p for p in pools}
    out = []
    for pool in cluster.pools:
        scope = f"{cluster.region}/{pool.name}"
        live = by_pool.get(pool.name)
        if live is None:
            out.append(failed("node-pools", scope, f"no node pool labelled {POOL_LABEL}={pool.name}",
                              "run `pulumi up`"))
            continue
        auto = live.get("autoscaling", {})
        problems = _pool_problems(pool.name, pool.min_nodes, pool.max_nodes, int(auto.get("totalMinNodeCount", 0)),
                                  int(auto.get("totalMaxNodeCount", 0)), int(live.get("runningCount", 0)),
                                  int(live.get("nodeCount", 0)),
                                  pool.machine_type, live.get("config", {}).get("machineType", "?"),
                                  live.get("status", "?"), "RUNNING")
        out.append(failed("node-pools", scope, "; ".join(problems),
                          "`pulumi up` restores the limits; a pool below its minimum means nodes cannot start "
                          "(capacity or quota: run preflight)") if problems else
                   passed("node-pools", scope, f"{live.get('runningCount', 0)} x {pool.machine_type} running "
                          f"(target {live.get('nodeCount')}, min {pool.min_nodes}, max {pool.max_nodes})"))
    return out


# ---- live capacity ------------------------------------------------------------------------------------------

# The region's model request rate: the expression of the `rollout:requests:rate5m` recording rule
# (infra/planning/monitoring.py), evaluated directly so the check holds before the rules are loaded.
LOAD_QUERY = f"sum(rate(http_requests_total{{{MODEL_ROUTES}}}[5m]))"


def check_live_capacity(api: ClusterApi, serving: RegionServing, planned_rps: float | None, fleet_rps: float,
                        tolerance: float) -> list[Check]:
    """Servers ready per GPU pool against the plan's floor; measured load against the region's planned
    load (`planned_rps`, its share of the fleet's `fleet_rps`) plus `tolerance`."""
    region, out = serving.region, []
    for pool in serving.pools:
        scope = f"{region}/{pool.pool}"
        ready = api.ready_replicas(SERVING_NAMESPACE, pool.name)
        if ready is None:
            out.append(failed("live-replicas", scope, f"no Deployment {SERVING_NAMESPACE}/{pool.name}",
                              "run `pulumi up`"))
        elif ready < pool.floor:
            out.append(failed("live-replicas", scope, f"{ready} servers ready, under the plan's floor of "
                              f"{pool.floor} (ceiling {pool.ceiling})",
                              f"`kubectl -n {SERVING_NAMESPACE} describe deployment {pool.name}`: pods pending for "
                              "GPUs (run preflight: capacity, quota) or failing their probes (server logs)"))
        else:
            out.append(passed("live-replicas", scope, f"{ready} servers ready (floor {pool.floor}, ceiling "
                              f"{pool.ceiling})"))
    if planned_rps is None:
        return [*out, Check("live-load", region, "skip", "no monitoring plan for this region")]
    try:
        rps = api.prometheus_scalar(LOAD_QUERY)
    except PrometheusUnreachable as error:
        return [*out, failed(
            "live-load", region, f"Prometheus of {region} unreachable ({PROMETHEUS.namespace}/{PROMETHEUS_SERVICE} "
            f"through the API server's service proxy): {error}",
            f"`kubectl -n {PROMETHEUS.namespace} get pods,svc`: the Prometheus release must run; the identity "
            "running verify needs `get` on services/proxy in that namespace")]
    if rps is None:
        return [*out, Check("live-load", region, "warn", "no request series in Prometheus (no model request "
                            "in 5 minutes, or the servers are not scraped)", "")]
    share = f"{planned_rps / fleet_rps:.0%} of the fleet" if fleet_rps > 0 else "no planned fleet load"
    limit = planned_rps * (1 + tolerance)
    if rps > limit:
        return [*out, failed("live-load", region, f"{rps:.4g} requests/s, above the planned {planned_rps:.4g} "
                             f"({share}) by more than {tolerance:.0%}",
                             "re-size (`python -m infra.sizing --diff`) or check the traffic weights: the "
                             "region carries more than its share")]
    return [*out, passed("live-load", region, f"{rps:.4g} requests/s of the planned {planned_rps:.4g} ({share}), "
                         f"limit {limit:.4g}")]


def live_capacity_steps(plan: RolloutPlan, clusters: Callable[[ClusterPlan], ClusterApi]) -> list[Step]:
    monitoring = plan.monitoring
    targets = monitoring.regions if monitoring else {}
    fleet = sum(t.planned_rps for t in targets.values())
    tolerance = monitoring.load_tolerance if monitoring else 0.0
    steps = []
    for r in plan.regions:
        serving = plan.serving.get(r.name)
        if serving is None or not serving.pools or r.name not in plan.clusters:
            continue
        planned = targets[r.name].planned_rps if r.name in targets else None
        steps.append(Step(f"{r.name}: live capacity", lambda r=r, s=serving, p=planned: check_live_capacity(
            clusters(plan.clusters[r.name]), s, p, fleet, tolerance)))
    return steps


# ---- the command -------------------------------------------------------------------------------------------

def verify_steps(target: StackTarget, aws: AwsClients, gcp: Callable[[], GcpApi],
                 records: Callable[[RolloutPlan], Sequence[ExpectedRecord]] = expected_dns_records,
                 clusters: Callable[[ClusterPlan], ClusterApi] | None = None) -> list[Step]:
    """Every check of the stack; the live-capacity ones when `clusters` connects to the clusters."""
    plan, stack = target.plan, target.name
    steps: list[Step] = []
    for r in plan.aws_regions:
        ec2 = aws.client("ec2", r.location)
        steps.append(Step(f"{r.name}: VPC", lambda ec2=ec2, r=r: check_vpc(ec2, r, stack)))
        if r.name in plan.clusters:
            steps.append(Step(f"{r.name}: node groups", lambda r=r: check_eks_pools(
                aws.client("eks", r.location), plan.clusters[r.name], aws.client("ec2", r.location))))
    for p in plan.topology.peerings:
        ec2 = aws.client("ec2", plan.region(p.requester).location)
        steps.append(Step(f"{p.id}: peering", lambda ec2=ec2, p=p: check_peering(ec2, p, stack)))
    for v in plan.topology.vpns:
        ec2 = aws.client("ec2", plan.region(v.aws_region).location)
        steps.append(Step(f"{v.id}: VPN tunnels", lambda ec2=ec2, v=v: check_vpn(ec2, v, stack)))
    for r in plan.gcp_regions:
        steps.append(Step(f"{r.name}: subnetwork", lambda r=r: check_subnetwork(gcp(), r)))
        if r.name in plan.clusters:
            steps.append(Step(f"{r.name}: node pools", lambda r=r: check_gke_pools(gcp(), plan.clusters[r.name])))
    steps.append(Step("DNS records", lambda: check_dns(aws.client("route53", "us-east-1"), dns_zone_name(plan),
                                                       records(plan))))
    if clusters is not None:
        steps += live_capacity_steps(plan, clusters)
    return steps


def main(argv: Sequence[str] | None = None, *, aws: AwsClients | None = None,
         gcp_factory: Callable[[str], GcpApi] = GoogleRestApi, env: Mapping[str, str] | None = None,
         records: Callable[[RolloutPlan], Sequence[ExpectedRecord]] = expected_dns_records,
         clusters: Callable[[ClusterPlan], ClusterApi] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.verify", description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    parser.add_argument("--no-live", action="store_true",
                        help="skip the live-capacity checks (they need the clusters' API servers)")
    args = parser.parse_args(argv)
    try:
        target = load_target(args, os.environ if env is None else env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect, not bad input: say what, without a traceback
        print(f"error: loading the stack failed: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return 1
    aws = aws or AwsClients()
    gcp = lazy_gcp(target.gcp_project, gcp_factory)
    live = None if args.no_live else (clusters or cluster_connector(aws, gcp))
    steps = verify_steps(target, aws, gcp, records, live)
    checks = run_steps(steps, on_error=cloud_error)
    if args.json:
        print(to_json("verify", target.name, checks))
        return exit_code(checks)
    console = Console()
    render_table(f"Verify: stack {target.name} against its plan", checks, console)
    drift = [c for c in checks if c.blocking]
    if drift:
        console.print(f"[bold red]Drift ({len(drift)}):[/]")
        for c in drift:
            console.print(f"  - {c.check} {c.scope}: {c.detail}")
    else:
        console.print("[green]No drift: live resources match the plan.[/]")
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
