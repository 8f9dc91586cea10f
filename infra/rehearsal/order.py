"""The engine's creation order, replayed: which resources `pulumi up` creates in parallel, in which
wave, and the longest chain (critical path) of a first deploy.

What the engine waits for before creating a resource (Pulumi's SDK and engine, pulumi/pulumi
sdk/python/lib/pulumi/runtime/resource.py `_expand_dependencies` and `prepare_resource`):
- its `dependsOn` and every resource an input Output came from (property dependencies);
- a dependency on a component means a dependency on every custom resource below it;
- its parent: a child registers only once its parent's URN is known, so it also waits for what the
  parent (and each ancestor component) waits for, and for a custom parent's creation;
- its provider (a first-class provider resource, e.g. the Kubernetes provider waits for its cluster).
Everything else runs in parallel (the engine's default `--parallel` is unbounded for `up`).

One index by URN, each set computed once: O(resources + edges) plus the closures rules ask for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.rehearsal.model import Resource, RunView

ENGINE_SOURCE = "https://github.com/pulumi/pulumi/blob/master/sdk/python/lib/pulumi/runtime/resource.py"

# Typical creation times (seconds) of the slow types, for the critical-path estimate only. A type not
# listed counts TYPICAL_DEFAULT_SECONDS. Workloads the plan sizes get their own time (waits.py).
TYPICAL_SECONDS: Mapping[str, int] = {
    # EKS control plane: "averages 15 minutes" https://github.com/aws/containers-roadmap/issues/1227
    "aws:eks/cluster:Cluster": 900,
    # Managed node group: an Auto Scaling group boots and joins nodes; the provider polls until ACTIVE
    # (https://docs.aws.amazon.com/eks/latest/userguide/create-managed-node-group.html), ~3-5 min.
    "aws:eks/nodeGroup:NodeGroup": 300,
    "aws:eks/addon:Addon": 120,
    # GKE regional cluster: one long-running operation, typically 5-8 minutes
    # (https://cloud.google.com/kubernetes-engine/docs/how-to/creating-a-regional-cluster).
    "gcp:container/cluster:Cluster": 420,
    "gcp:container/nodePool:NodePool": 300,
    # NAT gateway: pending -> available in a few minutes
    # (https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-working-with.html).
    "aws:ec2/natGateway:NatGateway": 120,
    # Transit gateway and attachments: pending -> available in minutes
    # (https://docs.aws.amazon.com/vpc/latest/tgw/tgw-transit-gateways.html).
    "aws:ec2transitgateway/transitGateway:TransitGateway": 180,
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": 120,
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment": 180,
    # Site-to-site VPN connection: pending -> available, "can take several minutes"
    # (https://docs.aws.amazon.com/vpn/latest/s2svpn/SetUpVPNConnections.html).
    "aws:ec2/vpnConnection:VpnConnection": 300,
    "gcp:compute/vPNTunnel:VPNTunnel": 60,
    # ACM DNS validation once the CNAME resolves publicly: usually minutes; the provider waits up to
    # 75 min (terraform-provider-aws internal/service/acm/certificate_validation.go, DefaultTimeout).
    "aws:acm/certificateValidation:CertificateValidation": 300,
    "gcp:certificatemanager/certificate:Certificate": 300,
    # ALB: provisioning -> active, a few minutes
    # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/create-application-load-balancer.html).
    "aws:lb/loadBalancer:LoadBalancer": 180,
    # Helm: installs and waits for its workloads, up to `timeout` (default 300 s)
    # (https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/).
    "kubernetes:helm.sh/v3:Release": 120,
    "gcp:projects/service:Service": 60,
}
TYPICAL_DEFAULT_SECONDS = 10


def provider_urn(reference: str | None) -> str | None:
    """A provider reference is `<urn>::<id>`: the URN is everything before the last `::`."""
    if not reference:
        return None
    return reference.rsplit("::", 1)[0]


@dataclass
class EngineOrder:
    """Immediate and transitive creation dependencies of every resource, and its wave."""

    run: RunView
    children: dict[str, list[str]] = field(default_factory=dict)
    _waits: dict[str, frozenset[str]] = field(default_factory=dict)
    _closure: dict[str, frozenset[str]] = field(default_factory=dict)
    _descendants: dict[str, frozenset[str]] = field(default_factory=dict)
    _wave: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, run: RunView) -> EngineOrder:
        order = cls(run=run)
        for r in run:
            order.children.setdefault(r.parent, []).append(r.urn)
        return order

    def _custom_below(self, urn: str) -> frozenset[str]:
        """What a dependency on `urn` means: itself if custom, else every custom resource below it."""
        if urn in self._descendants:
            return self._descendants[urn]
        node = self.run.by_urn.get(urn)
        if node is None:
            out: frozenset[str] = frozenset()
        elif node.custom:
            out = frozenset({urn})
        else:
            acc: set[str] = set()
            for child in self.children.get(urn, ()):
                acc |= self._custom_below(child)
            out = frozenset(acc)
        self._descendants[urn] = out
        return out

    def waits_for(self, urn: str) -> frozenset[str]:
        """Custom resources the engine must have created before it starts `urn` (immediate edges)."""
        if urn in self._waits:
            return self._waits[urn]
        r = self.run.by_urn[urn]
        acc: set[str] = set()
        for dep in r.dependencies:
            acc |= self._custom_below(dep)
        provider = provider_urn(r.options.get("provider"))
        if provider in self.run.by_urn:
            acc.add(provider)
        parent = self.run.by_urn.get(r.parent)
        if parent is not None:
            if parent.custom:
                acc.add(parent.urn)
            acc |= self.waits_for(parent.urn)
        acc.discard(urn)
        self._waits[urn] = frozenset(acc)
        return self._waits[urn]

    def before(self, urn: str) -> frozenset[str]:
        """Every custom resource created before `urn` in any schedule the engine may pick."""
        if urn in self._closure:
            return self._closure[urn]
        acc: set[str] = set()
        for dep in self.waits_for(urn):
            acc.add(dep)
            acc |= self.before(dep)
        self._closure[urn] = frozenset(acc)
        return self._closure[urn]

    def wave(self, urn: str) -> int:
        """1 for resources that wait for nothing, else one more than the latest thing they wait for."""
        if urn not in self._wave:
            self._wave[urn] = 1 + max((self.wave(d) for d in self.waits_for(urn)), default=0)
        return self._wave[urn]

    def waves(self) -> list[list[Resource]]:
        custom = [r for r in self.run if r.custom]
        out: list[list[Resource]] = [[] for _ in range(max((self.wave(r.urn) for r in custom), default=0))]
        for r in custom:
            out[self.wave(r.urn) - 1].append(r)
        return out

    def critical_path(self, seconds: Mapping[str, int] | None = None) -> tuple[int, list[Resource]]:
        """(estimated seconds, chain) of the longest creation chain, typical durations per type; a
        resource in `seconds` (by URN) gets that time instead (e.g. a model server's ready time)."""
        finish: dict[str, int] = {}
        via: dict[str, str | None] = {}
        custom = sorted((r for r in self.run if r.custom), key=lambda r: self.wave(r.urn))
        for r in custom:
            prev = max(self.waits_for(r.urn), key=lambda d: finish.get(d, 0), default=None)
            own = (seconds or {}).get(r.urn, TYPICAL_SECONDS.get(r.type, TYPICAL_DEFAULT_SECONDS))
            finish[r.urn] = (finish.get(prev, 0) if prev else 0) + own
            via[r.urn] = prev
        if not finish:
            return 0, []
        end = max(finish, key=finish.__getitem__)
        chain, node = [], end
        while node is not None:
            chain.append(self.run.by_urn[node])
            node = via[node]
        return finish[end], chain[::-1]


_CACHE: dict[int, tuple[RunView, EngineOrder]] = {}


def engine_order(run: RunView) -> EngineOrder:
    """One EngineOrder per run (rules share it; the run is kept alive with it, one entry)."""
    hit = _CACHE.get(id(run))
    if hit is not None and hit[0] is run:
        return hit[1]
    _CACHE.clear()
    order = EngineOrder.of(run)
    _CACHE[id(run)] = (run, order)
    return order


def summary(order: EngineOrder, ready_seconds: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The notes the report carries: waves, their sizes, the critical path and its estimate."""
    waves = order.waves()
    total, chain = order.critical_path(ready_seconds)
    return {
        "waves": len(waves),
        "resourcesPerWave": [len(w) for w in waves],
        "criticalPathMinutes": round(total / 60, 1),
        "criticalPath": [f"{r.type.rsplit(':', 1)[-1]} {r.name}" for r in chain
                         if TYPICAL_SECONDS.get(r.type) or (ready_seconds or {}).get(r.urn)],
    }
