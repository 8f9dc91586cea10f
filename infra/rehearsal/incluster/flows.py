"""Flows: every row of `flow_table.FLOWS` in every cluster where both ends exist, through the
NetworkPolicies (`netpol.py`, exact semantics) and, where the flow enters the pod network from outside
the cluster, the cloud layer underneath:

- GCP: VPC firewall rules (`gcp:compute/firewall:Firewall`, ingress, allow) whose source ranges cover the
  source and whose target tags reach the GKE nodes; GKE itself creates only control plane -> nodes on
  443 and 10250 for private clusters (https://cloud.google.com/kubernetes-engine/docs/how-to/latest/network-isolation#add_firewall_rules).
  Ingress to GCP VMs is denied unless a rule allows it (https://cloud.google.com/firewall/docs/firewalls#default_firewall_rules).
- AWS: the EKS cluster security group admits all traffic between the control plane and the nodes
  (https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html); the load balancer reaches pods
  only through the rules the AWS Load Balancer Controller adds for a TargetGroupBinding's `networking`
  section or a `LoadBalancer` Service it owns
  (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/security_groups/);
  nothing else from outside the VPC reaches a pod unless a security group rule in the run admits it.
Egress through the cloud layer is open on both clouds by default (security groups allow all egress;
GCP has an implied allow-egress rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infra.rehearsal.incluster import flow_table as ft
from infra.rehearsal.incluster.inventory import Cluster, Inventory, Pod, cluster_of, inventory, region_of
from infra.rehearsal.incluster.netpol import FULL, NONE, PARTIAL, Endpoint, Policy, evaluate, index, net, selects
from infra.rehearsal.model import RunView
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

NETPOL_DOC = "https://kubernetes.io/docs/concepts/services-networking/network-policies/"
GCP_HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")  # https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges
GKE_CONTROL_PLANE_PORTS = (443, 10250)
PUBLIC = ("203.0.113.0/24",)
OBJECT_STORAGE = {"aws": ("52.216.0.0/15",), "gcp": ("142.250.0.0/15",)}
METADATA_ADDRESSES = {80: ("169.254.169.254/32",), 988: ("169.254.169.252/32",)}
SG_RULE_TYPES = ("aws:ec2/securityGroupRule:SecurityGroupRule",
                 "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
KUBE_DNS_PORTS = ({"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"})


@dataclass(frozen=True)
class Outcome:
    coverage: int  # netpol coverage (FULL/PARTIAL/NONE)
    cloud_open: bool
    detail: str


def pod_endpoint(inv: Inventory, pod: Pod) -> Endpoint:
    cluster = inv.cluster(pod.cluster)
    ports = tuple(p for c in pod.spec.get("containers") or () for p in c.get("ports") or ())
    return Endpoint(label=pod.describe(), cluster=pod.cluster, namespace=pod.namespace, labels=pod.labels,
                    namespace_labels=inv.namespace_labels(pod.cluster, pod.namespace),
                    addresses=cluster.pod_ranges, ports=ports, cloud=cluster.cloud, urn=pod.urn,
                    excluded=_nlb_addresses(inv, cluster))


def _synthetic_pod(inv: Inventory, cluster: Cluster, namespace: str, labels: Mapping[str, str], label: str,
                   ports: tuple = ()) -> Endpoint:
    return Endpoint(label=label, cluster=cluster.key, namespace=namespace, labels=labels,
                    namespace_labels=inv.namespace_labels(cluster.key, namespace), addresses=cluster.pod_ranges,
                    ports=ports, cloud=cluster.cloud, excluded=_nlb_addresses(inv, cluster))


def _members_elsewhere(inv: Inventory, cluster: Cluster) -> list[Cluster]:
    out = []
    for key, other in inv.clusters.items():
        if key != cluster.key and any(p.cluster == key and _matches(ft.MONGODB, p) for p in inv.pods):
            out.append(other)
    return out


def _matches(sel: ft.Pods, pod: Pod) -> bool:
    namespaces = sel.namespaces if sel.namespaces is not None else ft.ANY_NAMESPACE
    return pod.namespace in namespaces and selects({"matchLabels": dict(sel.labels)}, pod.labels)


def resolve(inv: Inventory, cluster: Cluster, end: ft.End, role: str, other_cloud_dest: str | None = None
            ) -> list[Endpoint]:
    """The endpoints of one end of a flow in one cluster (role: "source" or "dest")."""
    if isinstance(end, ft.Pods):
        return [pod_endpoint(inv, p) for p in inv.pods if p.cluster == cluster.key and _matches(end, p)]
    if end == ft.KUBE_DNS:
        return [_synthetic_pod(inv, cluster, "kube-system", {"k8s-app": "kube-dns"}, "kube-dns", KUBE_DNS_PORTS)]
    if end == ft.STRANGER:
        return [_synthetic_pod(inv, cluster, "default", {}, "a pod in namespace default")]
    if end == ft.API_SERVER:
        return [Endpoint("the API server", addresses=cluster.control_plane)]
    if end == ft.LOAD_BALANCER:
        ranges = (cluster.proxy_ranges + GCP_HEALTH_CHECK_RANGES) if cluster.cloud == "gcp" else cluster.lb_ranges
        return [Endpoint("the load balancer", addresses=ranges)]
    if end == ft.OBJECT_STORAGE:
        return [Endpoint("object storage", addresses=OBJECT_STORAGE.get(cluster.cloud or "", PUBLIC))]
    if end == ft.INTERNET:
        return [Endpoint("the internet", addresses=PUBLIC)]
    if end == ft.PEER_MEMBERS:
        others = _members_elsewhere(inv, cluster)
        if not others:
            return []
        if role == "dest":  # members dial peers by name, i.e. at their internal load balancers' addresses
            return [Endpoint(f"members in {o.region}", addresses=member_lb_addresses(inv, o) or o.network)
                    for o in others]
        # Arriving at this cluster's members: an NLB with IP targets shows its own VPC address (client IP
        # preservation is off for IP targets over TCP); GCP's internal passthrough LB keeps the client's.
        if cluster.cloud == "aws" and not _preserves_client_ip(inv, cluster):
            # Only the NLBs in front of these members: another set's (the sharded cluster's) carry other peers.
            nlb = member_lb_addresses(inv, cluster) or cluster.network
            return [Endpoint(f"members in {o.region} (via the NLB)", addresses=nlb) for o in others]
        return [Endpoint(f"members in {o.region}", addresses=o.pod_ranges) for o in others]
    return []


NLB_ADDRESSES = "service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses"


def _nlb_addresses(inv: Inventory, cluster: Cluster) -> tuple[str, ...]:
    """The fixed private addresses of the cluster's member NLBs (the source members' packets carry)."""
    key = ("nlb", cluster.key)
    if key not in inv.memo:
        inv.memo[key] = _nlb_addresses_of(inv, cluster)
    return inv.memo[key]


def _nlb_addresses_of(inv: Inventory, cluster: Cluster) -> tuple[str, ...]:
    return tuple(f"{a.strip()}/32" for s in inv.services.get(cluster.key, ())
                 for a in str(((s.inputs.get("metadata") or {}).get("annotations") or {}).get(NLB_ADDRESSES, "")
                              ).split(",") if a.strip())


def member_lb_addresses(inv: Inventory, cluster: Cluster) -> tuple[str, ...]:
    """Where the members of `cluster` are reached from outside it: the fixed addresses of the LoadBalancer
    Services sending 27017 to them (EKS: the NLB's `private-ipv4-addresses`; GKE: `loadBalancerIP`), as
    /32s. Empty when none is known (the caller then falls back to the whole network)."""
    members = [p for p in inv.pods if p.cluster == cluster.key and _matches(ft.MONGODB, p)]
    out: list[str] = []
    for svc in inv.services.get(cluster.key, ()):
        spec, meta = svc.inputs.get("spec") or {}, svc.inputs.get("metadata") or {}
        selector = spec.get("selector") or {}
        if spec.get("type") != "LoadBalancer" or not selector or not any(
                p.namespace == meta.get("namespace", "default") and selects({"matchLabels": selector}, p.labels)
                for p in members):
            continue
        if not any(p.get("targetPort", p.get("port")) in (27017, "27017") for p in spec.get("ports") or ()):
            continue
        raw = [*str((meta.get("annotations") or {}).get(NLB_ADDRESSES, "")).split(","),
               str(spec.get("loadBalancerIP") or "")]
        out += [f"{a.strip()}/32" for a in raw if a.strip()]
    return tuple(dict.fromkeys(out))


def _preserves_client_ip(inv: Inventory, cluster: Cluster) -> bool:
    """An NLB target group with preserve_client_ip.enabled=true shows the client's own address."""
    key = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
    return any("preserve_client_ip.enabled=true" in str(((s.inputs.get("metadata") or {}).get("annotations") or {})
                                                        .get(key, "")).replace(" ", "")
               for s in inv.services.get(cluster.key, ()))


def metadata_dest(port: int) -> Endpoint:
    return Endpoint("the GKE metadata server", addresses=METADATA_ADDRESSES.get(port, ()))


# ---- the cloud layer ---------------------------------------------------------------------------------------------

def _port_in(spec: str, port: int) -> bool:
    low, _, high = str(spec).partition("-")
    return int(low) <= port <= int(high or low)


def _covers(ranges: Iterable[str], addresses: Iterable[str]) -> int:
    nets = [net(r) for r in ranges]
    cover = []
    for a in (net(x) for x in addresses):
        if any(a.version == n.version and a.subnet_of(n) for n in nets):  # type: ignore[arg-type]
            cover.append(FULL)
        elif any(a.version == n.version and a.overlaps(n) for n in nets):
            cover.append(PARTIAL)
        else:
            cover.append(NONE)
    if not cover:
        return NONE
    return FULL if all(c == FULL for c in cover) else (PARTIAL if any(cover) else NONE)


def gcp_ingress(run: RunView, inv: Inventory, cluster: Cluster, source: Endpoint, dest: Endpoint, port: int,
                protocol: str,
                need: int) -> tuple[bool, str]:
    if source.addresses and cluster.control_plane and port in GKE_CONTROL_PLANE_PORTS and \
            _covers(cluster.control_plane, source.addresses) == FULL:
        return True, "GKE's own control plane rule"
    for svc, ranges in _lb_services(inv, cluster, dest, port):
        # GKE's service controller opens the Service's loadBalancerSourceRanges (default: all) to the nodes.
        if _covers(ranges or ("0.0.0.0/0",), source.addresses) >= need:
            return True, f"GKE's firewall rule for LoadBalancer Service {svc.name}"
    node_tags = {t for r in inv.of_type("gcp:container/nodePool:NodePool") if region_of(run, r) == cluster.region
                 for t in (r.inputs.get("nodeConfig") or {}).get("tags") or ()}
    for fw in inv.of_type("gcp:compute/firewall:Firewall"):
        i = fw.inputs
        if (i.get("direction") or "INGRESS") != "INGRESS" or i.get("disabled"):
            continue
        targets = set(i.get("targetTags") or ())
        if targets and node_tags and not targets & node_tags:
            continue
        if not any(a.get("protocol") in (protocol.lower(), "all") and
                   (not a.get("ports") or any(_port_in(p, port) for p in a["ports"])) for a in i.get("allows") or ()):
            continue
        if _covers(i.get("sourceRanges") or (), source.addresses) >= need:
            return True, f"firewall {fw.name}"
    sources = ", ".join(source.addresses) or "?"
    return False, f"no GCP firewall rule admits {protocol}/{port} from {sources} to the nodes"


def aws_ingress(run: RunView, inv: Inventory, cluster: Cluster, source_end: ft.End, dest: Endpoint, port: int,
                source: Endpoint, need: int) -> tuple[bool, str]:
    if source_end == ft.API_SERVER:
        return True, "the EKS cluster security group (control plane <-> nodes)"
    if source_end == ft.LOAD_BALANCER:
        for b in inv.of_type("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"):
            if cluster_of(b) != cluster.key:
                continue
            spec = b.inputs.get("spec") or {}
            rules = (spec.get("networking") or {}).get("ingress") or ()
            opened = any(p.get("port") in (port, str(port)) for rule_ in rules for p in rule_.get("ports") or ())
            service = (spec.get("serviceRef") or {}).get("name")
            if opened and _service_selects(inv, cluster, service, dest):
                return True, f"TargetGroupBinding {b.name} opens {port} from the ALB's security group"
        return False, f"no TargetGroupBinding opens {port} to {dest.label} from the load balancer"
    if source_end == ft.PEER_MEMBERS:
        for svc, _ in _lb_services(inv, cluster, dest, port):
            return True, f"the LB controller's backend rules for Service {svc.name}"
        return False, f"no LoadBalancer Service exposes {dest.label} on {port}"
    for r in (x for t in SG_RULE_TYPES for x in inv.of_type(t)):
        i = r.inputs
        if i.get("type", "ingress") != "ingress" or region_of(run, r) != cluster.region:
            continue
        ranges = [*(i.get("cidrBlocks") or ()), *([i["cidrIpv4"]] if i.get("cidrIpv4") else [])]
        if i.get("fromPort", 0) <= port <= i.get("toPort", 65535) and _covers(ranges, source.addresses) >= need:
            return True, f"security group rule {r.name}"
    return False, "the EKS cluster security group admits only itself and the control plane"


def _lb_services(inv: Inventory, cluster: Cluster, dest: Endpoint, port: int):
    """LoadBalancer Services of the cluster that send `port` to the destination pod, with their source ranges."""
    for svc in inv.services.get(cluster.key, ()):
        spec = svc.inputs.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        if (svc.inputs.get("metadata") or {}).get("namespace", "default") != dest.namespace:
            continue
        if spec.get("selector") and selects({"matchLabels": spec["selector"]}, dest.labels) and any(
                p.get("targetPort", p.get("port")) in (port, str(port)) for p in spec.get("ports") or ()):
            yield svc, tuple(spec.get("loadBalancerSourceRanges") or ())


def _service_selects(inv: Inventory, cluster: Cluster, name: str | None, dest: Endpoint) -> bool:
    for svc in inv.services.get(cluster.key, ()):
        meta = svc.inputs.get("metadata") or {}
        if meta.get("name") == name and meta.get("namespace", "default") == dest.namespace:
            sel = (svc.inputs.get("spec") or {}).get("selector") or {}
            return bool(sel) and selects({"matchLabels": sel}, dest.labels)
    return False


def cloud_layer(run: RunView, inv: Inventory, cluster: Cluster, flow: ft.Flow, source: Endpoint, dest: Endpoint,
                need: int) -> tuple[bool, str]:
    """Whether the cloud lets the flow reach the pod network (only for flows entering it from outside)."""
    if source.is_pod or not dest.is_pod:
        return True, ""
    if cluster.cloud == "gcp":
        return gcp_ingress(run, inv, cluster, source, dest, flow.port, flow.protocol, need)
    if cluster.cloud == "aws":
        return aws_ingress(run, inv, cluster, flow.source, dest, flow.port, source, need)
    return True, "cloud unknown"


# ---- evaluation --------------------------------------------------------------------------------------------------

def _policies(inv: Inventory) -> list[Policy]:
    out = []
    for cluster, resources in inv.policies.items():
        for r in resources:
            meta = r.inputs.get("metadata") or {}
            out.append(Policy(cluster, meta.get("namespace") or "default", meta.get("name") or r.name,
                              r.inputs.get("spec") or {}, r.urn))
    return out


def _why_blocked(verdict, flow: ft.Flow, source: Endpoint, dest: Endpoint) -> str:
    parts = []
    if verdict.egress.coverage < FULL:
        parts.append(f"egress of {source.label} (namespace {source.namespace}: "
                     f"{', '.join(verdict.egress.policies)} allow no {flow.protocol}/{flow.port} to {dest.label})")
    if verdict.ingress.coverage < FULL:
        parts.append(f"ingress of {dest.label} (namespace {dest.namespace}: "
                     f"{', '.join(verdict.ingress.policies)} admit no {flow.protocol}/{flow.port} from {source.label})")
    return "NetworkPolicy " + " and ".join(parts)


def check_flows(run: RunView, inv: Inventory, flows: Iterable[ft.Flow] = ft.FLOWS) -> list[Violation]:
    policies = index(_policies(inv))
    out: list[Violation] = []
    for cluster in ([*inv.clusters.values()] or [inv.cluster("")]):
        for flow in flows:
            if cluster.cloud is not None and cluster.cloud not in flow.clouds:
                continue
            sources = resolve(inv, cluster, flow.source, "source")
            dests = [metadata_dest(flow.port)] if flow.dest == ft.METADATA else resolve(inv, cluster, flow.dest, "dest")
            # A row applies where both ends exist and one of them is a pod of the run (not kube-dns/stranger).
            if not sources or not dests or not any(e.urn for e in (*sources, *dests)):
                continue
            for s in sources:
                for d in dests:
                    if s.is_pod and d.is_pod and s.label == d.label:
                        continue
                    v = evaluate(policies, s, d, flow.port, flow.protocol)
                    need = FULL if flow.required else PARTIAL
                    cloud_open, cloud_why = cloud_layer(run, inv, cluster, flow, s, d, need)
                    where = f"[{cluster.region or cluster.key or 'cluster'}] "
                    head = f"{where}flow {flow.id} ({flow.why}): {s.label} -> {d.label}:{flow.port}/{flow.protocol}"
                    urn = s.urn if (s.urn and v.egress.coverage < FULL) else (d.urn or s.urn)
                    if flow.required and (v.coverage < FULL or not cloud_open):
                        reasons = []
                        if v.coverage < FULL:
                            reasons.append(_why_blocked(v, flow, s, d))
                        if not cloud_open:
                            reasons.append(f"cloud layer: {cloud_why}")
                        out.append(Violation("incluster/flows-required", urn,
                                             f"{head} is blocked by " + "; ".join(reasons)))
                    elif not flow.required and v.reach > NONE and cloud_open:
                        opened = [f"egress {', '.join(v.egress.policies) or 'not isolated'}",
                                  f"ingress {', '.join(v.ingress.policies) or 'not isolated'}"]
                        if cloud_why:
                            opened.append(f"cloud layer: {cloud_why}")
                        out.append(Violation("incluster/flows-closed", d.urn or s.urn,
                                             f"{head} must be closed but is open: " + "; ".join(opened)))
    return out


@rule("incluster/flows-required", stage="incluster", source=NETPOL_DOC)
def flows_required(ctx: Context) -> Iterable[Violation]:
    """Every flow the system needs is allowed by the source's egress, the destination's ingress and the cloud."""
    inv = inventory(ctx.run)
    yield from (v for v in _cached(ctx.run, inv) if v.rule == "incluster/flows-required")


@rule("incluster/flows-closed", stage="incluster", source=NETPOL_DOC)
def flows_closed(ctx: Context) -> Iterable[Violation]:
    """Every flow that must stay closed is refused by a NetworkPolicy or the cloud layer."""
    inv = inventory(ctx.run)
    yield from (v for v in _cached(ctx.run, inv) if v.rule == "incluster/flows-closed")


_RESULT: dict[int, tuple[Inventory, list[Violation]]] = {}


def _cached(run: RunView, inv: Inventory) -> list[Violation]:
    hit = _RESULT.get(id(inv))
    if hit is None or hit[0] is not inv:
        _RESULT.clear()
        hit = (inv, check_flows(run, inv))
        _RESULT[id(inv)] = hit
    return hit[1]
