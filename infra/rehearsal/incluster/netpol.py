"""NetworkPolicy semantics, exactly as https://kubernetes.io/docs/concepts/services-networking/network-policies/
states them, over endpoints of the captured run.

- A pod is isolated for ingress (egress) only if some policy in its namespace selects it and has that
  policy type; `policyTypes` defaults to Ingress, plus Egress when the policy has egress rules.
- Rules are additive: a connection is allowed in one direction if any rule of any selecting policy allows it.
- A connection needs the source's egress AND the destination's ingress.
- Peers: podSelector (the policy's namespace), namespaceSelector (all pods there), both in one peer
  (AND), separate peers (OR), an empty selector matches all; ipBlock with except.
- Ports: protocol defaults to TCP; no port = every port; endPort gives a range; a named port is
  resolved against the destination pod's container ports.
- ipBlock and pods of the same cluster: GKE Dataplane V2 (Cilium) never matches CIDR rules to cluster
  endpoints (https://docs.cilium.io/en/stable/security/policy/language/#ip-cidr-based); the EKS VPC CNI
  policy agent matches pod IPs like any address, so on AWS an ipBlock covering the VPC admits pods.

Coverage is 2 (every address of the peer), 1 (some) or 0 (none), so a required flow can demand that
every source address is allowed and a must-be-closed flow can flag any allowed address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

FULL, PARTIAL, NONE = 2, 1, 0


@dataclass(frozen=True)
class Endpoint:
    """A pod (cluster + namespace + labels) or an address range outside any selected pod."""

    label: str
    cluster: str | None = None  # pods only
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    ports: tuple[Mapping[str, Any], ...] = ()  # container ports (name, containerPort, protocol)
    cloud: str | None = None
    urn: str = ""
    # Addresses inside `addresses` that are known not to be this endpoint (e.g. an NLB's fixed address in
    # the pods' subnet): an ipBlock within them does not reach it.
    excluded: tuple[str, ...] = ()

    @property
    def is_pod(self) -> bool:
        return self.cluster is not None


@dataclass(frozen=True)
class Policy:
    cluster: str
    namespace: str
    name: str
    spec: Mapping[str, Any]
    urn: str = ""

    @property
    def types(self) -> set[str]:
        given = self.spec.get("policyTypes")
        if given:
            return set(given)
        return {"Ingress", *(["Egress"] if self.spec.get("egress") else [])}


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Label selector semantics (matchLabels AND matchExpressions; {} selects everything)."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or ())
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


@lru_cache(maxsize=4096)
def net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def _nets(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [net(c) for c in cidrs]


def _addr_coverage(block: Mapping[str, Any], addresses: Sequence[str], excluded: Sequence[str] = ()) -> int:
    """How much of `addresses` the ipBlock covers (cidr minus except)."""
    if not addresses:
        return NONE
    cidr = net(block["cidr"])
    if any(cidr.version == e.version and cidr.subnet_of(e) for e in _nets(excluded)):  # type: ignore[arg-type]
        return NONE
    excepts = _nets(block.get("except") or ())
    cover = []
    for a in _nets(addresses):
        if a.version != cidr.version or not a.overlaps(cidr):
            cover.append(NONE)
            continue
        inside = a.subnet_of(cidr)  # type: ignore[arg-type]
        cut = [e for e in excepts if e.version == a.version and e.overlaps(a)]
        if any(a.subnet_of(e) for e in cut):  # type: ignore[arg-type]
            cover.append(NONE)
        elif inside and not cut:
            cover.append(FULL)
        else:
            cover.append(PARTIAL)
    if all(c == FULL for c in cover):
        return FULL
    return PARTIAL if any(c != NONE for c in cover) else NONE


def peer_coverage(peer: Mapping[str, Any], policy: Policy, other: Endpoint) -> int:
    if "ipBlock" in peer:
        if other.is_pod and other.cluster == policy.cluster and other.cloud != "aws":
            return NONE  # CIDR rules do not select the cluster's own pods (Cilium / Dataplane V2)
        return _addr_coverage(peer["ipBlock"], other.addresses, other.excluded)
    if not other.is_pod or other.cluster != policy.cluster:
        return NONE
    pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
    if ns_sel is None and other.namespace != policy.namespace:
        return NONE
    if ns_sel is not None and not selects(ns_sel, other.namespace_labels):
        return NONE
    if pod_sel is not None and not selects(pod_sel, other.labels):
        return NONE
    return FULL


def port_matches(entry: Mapping[str, Any], port: int, protocol: str, dest: Endpoint) -> bool:
    if (entry.get("protocol") or "TCP") != protocol:
        return False
    want = entry.get("port")
    if want is None:
        return True
    if isinstance(want, str) and not want.isdigit():
        return any(p.get("name") == want and int(p.get("containerPort", -1)) == port
                   and (p.get("protocol") or "TCP") == protocol for p in dest.ports)
    low = int(want)
    high = int(entry.get("endPort") or low)
    return low <= port <= high


def _rule_coverage(rule: Mapping[str, Any], key: str, policy: Policy, other: Endpoint, port: int, protocol: str,
                   dest: Endpoint) -> int:
    ports = rule.get("ports") or []
    if ports and not any(port_matches(p, port, protocol, dest) for p in ports):
        return NONE
    peers = rule.get(key)
    if not peers:  # absent or empty: every peer
        return FULL
    return max((peer_coverage(p, policy, other) for p in peers), default=NONE)


@dataclass(frozen=True)
class Side:
    """The verdict of one direction: coverage and the policies that decided it."""

    coverage: int
    isolated: bool
    policies: tuple[str, ...] = ()


def index(policies: Iterable[Policy]) -> dict[tuple[str, str], list[Policy]]:
    out: dict[tuple[str, str], list[Policy]] = {}
    for p in policies:
        out.setdefault((p.cluster, p.namespace), []).append(p)
    return out


def direction(policies: Mapping[tuple[str, str], Sequence[Policy]] | Iterable[Policy], subject: Endpoint,
              other: Endpoint, port: int, protocol: str, kind: str, dest: Endpoint) -> Side:
    """Ingress (kind="Ingress", subject=destination) or egress (kind="Egress", subject=source)."""
    if not subject.is_pod:
        return Side(FULL, False)
    candidates = policies.get((subject.cluster, subject.namespace), ()) if isinstance(policies, Mapping) else \
        [p for p in policies if p.cluster == subject.cluster and p.namespace == subject.namespace]
    selecting = [p for p in candidates if kind in p.types and selects(p.spec.get("podSelector"), subject.labels)]
    if not selecting:
        return Side(FULL, False)
    key, peer_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    best = NONE
    for pol in selecting:
        for r in pol.spec.get(key) or ():
            best = max(best, _rule_coverage(r, peer_key, pol, other, port, protocol, dest))
            if best == FULL:
                return Side(FULL, True, (pol.name,))
    return Side(best, True, tuple(p.name for p in selecting))


@dataclass(frozen=True)
class Verdict:
    egress: Side
    ingress: Side
    reach: int = NONE  # the best coverage over the ends' address ranges (any address allowed?)

    @property
    def coverage(self) -> int:
        """Every address range of both ends allowed in both directions (FULL), some (PARTIAL), none."""
        return min(self.egress.coverage, self.ingress.coverage)


def _split(e: Endpoint) -> list[Endpoint]:
    """One endpoint per address range: a range allowed by one rule and another by a second rule is covered."""
    if len(e.addresses) <= 1:
        return [e]
    return [replace(e, addresses=(a,)) for a in e.addresses]


def evaluate(policies: Sequence[Policy] | Mapping[tuple[str, str], Sequence[Policy]], source: Endpoint, dest: Endpoint,
             port: int, protocol: str = "TCP") -> Verdict:
    if not isinstance(policies, Mapping):
        policies = index(policies)
    egress_all, ingress_all, reach = [], [], NONE
    for s in _split(source):
        for d in _split(dest):
            eg = direction(policies, s, d, port, protocol, "Egress", d)
            ig = direction(policies, d, s, port, protocol, "Ingress", d)
            egress_all.append(eg)
            ingress_all.append(ig)
            reach = max(reach, min(eg.coverage, ig.coverage))

    def worst(sides: list[Side]) -> Side:
        low = min(sides, key=lambda x: x.coverage)
        return Side(low.coverage, any(x.isolated for x in sides),
                    tuple(dict.fromkeys(n for x in sides for n in x.policies)))

    return Verdict(egress=worst(egress_all), ingress=worst(ingress_all), reach=reach)
