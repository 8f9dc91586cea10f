"""Whole-stack properties the design promises: flow logs on every VPC; once clusters exist, a cluster
in every region and a private path between every pair of regions; GPU capacity at least the sizing
plan; a MongoDB voting layout that survives the loss of any one region.

Rules that judge something the program does not emit yet (clusters, GPU pools, MongoDB) report
"not applicable" with the reason instead of passing silently or failing today's stacks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from .core import HIGH, MANDATORY, NotApplicable, Resource, StackFinding, as_list, get, is_unknown, stack_rule
from .gpu import eks_node_group_is_gpu, gke_node_pool_is_gpu

STACK = "pulumi:pulumi:Stack"
REGION = "rollout:region:Region"
VPC, FLOW_LOG = "aws:ec2/vpc:Vpc", "aws:ec2/flowLog:FlowLog"
EKS_CLUSTER, GKE_CLUSTER = "aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster"
EKS_NODE_GROUP, GKE_NODE_POOL = "aws:eks/nodeGroup:NodeGroup", "gcp:container/nodePool:NodePool"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
LINK_TYPES = frozenset({
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
    "aws:ec2/vpnConnection:VpnConnection", "aws:ec2/customerGateway:CustomerGateway",
    "gcp:compute/vPNTunnel:VPNTunnel", "gcp:compute/haVpnGateway:HaVpnGateway",
    "gcp:compute/externalVpnGateway:ExternalVpnGateway", "gcp:compute/routerPeer:RouterPeer",
})


def stack_outputs(resources: Iterable[Resource]) -> dict[str, Any]:
    """The root stack's outputs (its props in AnalyzeStack)."""
    for r in resources:
        if r.type == STACK:
            return dict(r.props)
    return {}


def region_of(r: Resource) -> str | None:
    """The `Region` component a resource was declared in (the program parents everything regional)."""
    for node in (r, *r.ancestors()):
        if node.type == REGION:
            return node.name
    return None


def regions(resources: list[Resource]) -> dict[str, Resource]:
    return {r.name: r for r in resources if r.type == REGION}


def region_clouds(resources: list[Resource]) -> dict[str, str]:
    """Region name -> "aws" | "gcp", from the `regions` output, else from the types inside the region."""
    declared = stack_outputs(resources).get("regions")
    if isinstance(declared, dict):
        return {name: str(v.get("cloud")) for name, v in declared.items() if isinstance(v, dict)}
    clouds: dict[str, str] = {}
    for r in resources:
        name = region_of(r)
        if name and ":" in r.type and r.type.split(":")[0] in ("aws", "gcp"):
            clouds.setdefault(name, r.type.split(":")[0])
    return clouds


@stack_rule("vpc-flow-logs-on", "Every AWS VPC has a flow log (GCP subnetworks: see gcp-subnetwork-flow-logs).",
            enforcement=MANDATORY, severity=HIGH, reads=(VPC, FLOW_LOG))
def vpc_flow_logs_on(resources: list[Resource], config) -> Iterator[StackFinding]:
    for vpc in (r for r in resources if r.type == VPC):
        if not any(r.type == FLOW_LOG and vpc in r.depends_on("vpcId") for r in resources):
            yield "no FlowLog is attached to this VPC", vpc.urn


def _transitive(r: Resource, limit: int = 6) -> set[Resource]:
    seen: set[Resource] = set()
    frontier = [r]
    for _ in range(limit):
        frontier = [d for node in frontier for d in node.dependencies if d not in seen]
        seen.update(frontier)
    return seen


def link_graph(resources: list[Resource]) -> dict[str, set[str]]:
    """Which regions a private link joins: a link resource joins its own region with every region it
    was computed from (peer gateway ids, tunnel addresses). GCP regions share the stack's global VPC."""
    clouds = region_clouds(resources)
    graph: dict[str, set[str]] = {name: set() for name in clouds}
    gcp = [n for n, c in clouds.items() if c == "gcp"]
    for a in gcp:
        graph[a].update(b for b in gcp if b != a)
    for link in (r for r in resources if r.type in LINK_TYPES):
        ends = {region_of(n) for n in (link, *_transitive(link))} - {None}
        for a in ends:
            graph.setdefault(a, set()).update(b for b in ends if b != a)  # type: ignore[misc]
    return graph


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    left, parts = set(graph), []
    while left:
        todo, part = [left.pop()], set()
        while todo:
            node = todo.pop()
            part.add(node)
            todo.extend(n for n in graph.get(node, ()) if n not in part)
        left -= part
        parts.append(part)
    return parts


@stack_rule("regions-have-cluster",
            "Once clusters exist: every region of the stack has a Kubernetes cluster.",
            enforcement=MANDATORY, severity=HIGH, reads=(REGION, EKS_CLUSTER, GKE_CLUSTER))
def regions_have_cluster(resources: list[Resource], config) -> Iterator[StackFinding]:
    clusters = [r for r in resources if r.type in (EKS_CLUSTER, GKE_CLUSTER)]
    if not clusters:
        raise NotApplicable("no EKS/GKE cluster in the stack yet; checked once the cluster components land")
    with_cluster = {region_of(c) for c in clusters}
    for name, region in sorted(regions(resources).items()):
        if name not in with_cluster:
            yield f"region {name} has no Kubernetes cluster", region.urn


@stack_rule("regions-linked",
            "Once private links exist: every region has a private path (TGW peering, HA VPN) to every other region.",
            enforcement=MANDATORY, severity=HIGH, reads=(REGION, *sorted(LINK_TYPES)))
def regions_linked(resources: list[Resource], config) -> Iterator[StackFinding]:
    if not any(r.type in LINK_TYPES for r in resources):
        raise NotApplicable("no private link (TGW peering, VPN) in the stack yet; checked once the links land")
    parts = _components(link_graph(resources))
    if len(parts) > 1:
        groups = " | ".join(", ".join(sorted(p)) for p in sorted(parts, key=sorted))
        yield f"regions are not all linked privately; isolated groups: {groups}", None


def _node_capacity(pool: Resource, zones: int) -> tuple[str | None, float | None]:
    """(instance type, most nodes the pool can scale to) of a GPU pool; None when unknown."""
    if pool.type == EKS_NODE_GROUP:
        types = [t for t in as_list(pool.props.get("instanceTypes")) if isinstance(t, str) and not is_unknown(t)]
        ceiling = get(pool.props, "scalingConfig.maxSize")
        return (types[0] if types else None), (None if is_unknown(ceiling) or ceiling is None else float(ceiling))
    machine = get(pool.props, "nodeConfig.machineType")
    total = get(pool.props, "autoscaling.totalMaxNodeCount")
    per_zone = get(pool.props, "autoscaling.maxNodeCount", pool.props.get("nodeCount"))
    locations = as_list(pool.props.get("nodeLocations"))
    if total is not None and not is_unknown(total):
        ceiling: float | None = float(total)
    elif per_zone is not None and not is_unknown(per_zone):
        ceiling = float(per_zone) * (len(locations) or zones)
    else:
        ceiling = None
    return (machine if isinstance(machine, str) and not is_unknown(machine) else None), ceiling


@stack_rule("gpu-capacity-meets-sizing",
            "GPU pools can scale to at least the replicas the sizing plan (stack output `sizing`) puts in each region.",
            enforcement=MANDATORY, severity=HIGH, reads=(STACK, EKS_NODE_GROUP, GKE_NODE_POOL))
def gpu_capacity_meets_sizing(resources: list[Resource], config) -> Iterator[StackFinding]:
    outputs = stack_outputs(resources)
    replicas = get(outputs, "sizing.replicas")
    if not isinstance(replicas, dict):
        raise NotApplicable("the stack exports no `sizing.replicas` plan to compare with")
    pools = [r for r in resources if (r.type == EKS_NODE_GROUP and eks_node_group_is_gpu(r.props))
             or (r.type == GKE_NODE_POOL and gke_node_pool_is_gpu(r.props))]
    if not pools:
        raise NotApplicable("no GPU node pools in the stack yet; checked once the GPU pool components land")
    zones = {name: len(as_list(v.get("zones"))) for name, v in (outputs.get("regions") or {}).items()
             if isinstance(v, dict)}
    capacity: dict[tuple[str, str], float] = defaultdict(float)
    for pool in pools:
        instance_type, ceiling = _node_capacity(pool, zones.get(region_of(pool) or "", 1) or 1)
        if instance_type is None or ceiling is None:
            return  # decided at update time
        capacity[(region_of(pool) or "", instance_type)] += ceiling
    region_urns = {name: r.urn for name, r in regions(resources).items()}
    for region, per_type in sorted(replicas.items()):
        for instance_type, wanted in sorted((per_type or {}).items()):
            have = capacity.get((region, instance_type), 0.0)
            if have < float(wanted):
                yield (f"region {region}: {instance_type} pools scale to {have:g} nodes, the plan needs {wanted:g}",
                       region_urns.get(region))


def mongo_members(resources: list[Resource]) -> list[dict[str, Any]] | None:
    """Voting layout: the `mongodb.members` output ({region, votes, priority}) or, failing that, one
    voting member per replica of each MongoDB StatefulSet (label app.kubernetes.io/name=mongodb)."""
    declared = get(stack_outputs(resources), "mongodb.members")
    if isinstance(declared, list):
        return [m for m in declared if isinstance(m, dict)]
    members = []
    for s in resources:
        if s.type != STATEFUL_SET or get(s.props, "metadata.labels", {}).get("app.kubernetes.io/name") != "mongodb":
            continue
        count = get(s.props, "spec.replicas", 1)
        if is_unknown(count):
            return []
        members += [{"region": region_of(s), "votes": 1, "priority": 1}] * int(count)
    return members or None


@stack_rule("mongodb-voting-layout",
            "MongoDB has an odd number (<= 7) of voting members, priority > 0 only with a vote, and keeps a "
            "majority if any one region or zone is lost (a dev stack may opt out; prod never).",
            enforcement=MANDATORY, severity=HIGH, reads=(STACK, STATEFUL_SET))
def mongodb_voting_layout(resources: list[Resource], config) -> Iterator[StackFinding]:
    members = mongo_members(resources)
    if members is None:
        raise NotApplicable("no MongoDB replica set in the stack yet (no `mongodb.members` output or StatefulSet)")
    declared = get(stack_outputs(resources), "mongodb") or {}
    opted_out = isinstance(declared, dict) and declared.get("surviveRegionLoss") is False
    if opted_out and declared.get("environment") != "dev":
        yield (f"surviveRegionLoss is false in a {declared.get('environment')} stack: only dev may accept "
               f"losing its majority with one region"), None
    votes_by_region: dict[str, int] = defaultdict(int)
    votes_by_zone: dict[tuple[str, str], int] = defaultdict(int)
    for m in members:
        votes = int(m.get("votes", 1))
        if votes not in (0, 1):
            yield f"member in {m.get('region')} has {votes} votes; a member has 0 or 1", None
        if votes == 0 and float(m.get("priority", 0)) > 0:
            yield f"member in {m.get('region')} has priority > 0 but no vote", None
        votes_by_region[str(m.get("region"))] += votes
        if m.get("zone"):
            votes_by_zone[(str(m.get("region")), str(m.get("zone")))] += votes
    total = sum(votes_by_region.values())
    if total == 0:
        return
    if total % 2 == 0 or total > 7:
        yield f"{total} voting members; use an odd number no larger than 7", None
    if opted_out and declared.get("environment") == "dev":
        return  # dev accepted the risk in its stack file; the count rules above still apply
    for region, votes in sorted(votes_by_region.items()):
        if (total - votes) * 2 <= total:
            yield f"losing region {region} leaves {total - votes} of {total} votes: no majority", None
    for (region, zone), votes in sorted(votes_by_zone.items()):
        if (total - votes) * 2 <= total:
            yield f"losing zone {zone} of {region} leaves {total - votes} of {total} votes: no majority", None


RULES = [vpc_flow_logs_on, regions_have_cluster, regions_linked, gpu_capacity_meets_sizing, mongodb_voting_layout]
