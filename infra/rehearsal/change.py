"""Change rehearsal: what a `pulumi up` from the deployed stack to the edited one would do, per resource.

Two captured runs (the stack as deployed and as edited, each the preview's JSON document) become one
action per URN, decided as the engine decides it:

- a URN only in the edited run is created, one only in the deployed run is deleted;
- otherwise the inputs are diffed (paths under `ignoreChanges` take the deployed value, as the engine
  sends it); a changed path listed in the type's force-new table (`force_new.py`) or in
  `replaceOnChanges` makes a replacement, any other change an in-place update;
- a replacement cascades: an input fed by a replaced resource is unknown until that one is recreated,
  so if that input is force-new the dependent is replaced too; a replaced cluster replaces its
  Kubernetes provider and every object on it.

It then fails, with reasons, where the real `up` would stop or lose something: a protected resource
replaced or deleted, a stateful resource (cluster, node pool, network, tunnel, StatefulSet, zone,
bucket, key, secret material) replaced, or deleted outside the regions the edit removes on purpose,
and updates the API refuses (`validators`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.rehearsal.force_new import PROVIDER_PREFIX, force_new_for, path_matches
from infra.rehearsal.model import Resource, RunView
from infra.rehearsal.report import Violation
from infra.rehearsal.validators import refused_updates

# Replacing these is an outage (cluster, its pools, the network and the links under it) ...
OUTAGE_TYPES = frozenset({
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "gcp:container/cluster:Cluster",
    "gcp:container/nodePool:NodePool", "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "gcp:compute/network:Network",
    "gcp:compute/subnetwork:Subnetwork", "gcp:compute/vPNTunnel:VPNTunnel", "aws:ec2/vpnConnection:VpnConnection",
    "gcp:compute/haVpnGateway:HaVpnGateway", "aws:ec2transitgateway/transitGateway:TransitGateway",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment", "aws:lb/loadBalancer:LoadBalancer",
})
# ... and replacing or deleting these loses data or identity (volumes, zones, keys, secret material).
DATA_TYPES = frozenset({
    "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim", "aws:route53/zone:Zone",
    "gcp:dns/managedZone:ManagedZone", "aws:s3/bucket:Bucket", "gcp:storage/bucket:Bucket", "aws:kms/key:Key",
    "gcp:kms/cryptoKey:CryptoKey", "gcp:kms/keyRing:KeyRing", "random:index/randomPassword:RandomPassword",
    "tls:index/selfSignedCert:SelfSignedCert",
})
CA_CERT = "tls:index/selfSignedCert:SelfSignedCert"


def ca_keys(run: RunView) -> frozenset[str]:
    """Private keys that sign a CA certificate: losing one re-issues every certificate below it."""
    return frozenset(u for r in run.of_type(CA_CERT)
                     for u in (r.options.get("propertyDependencies") or {}).get("privateKeyPem", ()))
# Deleting a whole pool is fine when the plan stops using its instance type: the new pool is created
# first (the engine deletes last), and the servers move by their Deployment.
DELETABLE_OUTAGE_TYPES = frozenset({"aws:eks/nodeGroup:NodeGroup", "gcp:container/nodePool:NodePool"})

SOURCE_ENGINE = "https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/"
SOURCE_PROTECT = "https://www.pulumi.com/docs/iac/concepts/options/protect/"


@dataclass(frozen=True)
class Change:
    urn: str
    type: str
    action: str  # create | update | replace | delete | same
    paths: tuple[str, ...] = ()  # the input paths that differ (after ignoreChanges)
    reasons: tuple[str, ...] = ()  # why a replacement

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "action": self.action, "paths": list(self.paths),
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ChangeReport:
    changes: tuple[Change, ...]
    violations: tuple[Violation, ...]
    steps: tuple[str, ...] = field(default=())  # manual steps an acknowledged removal needs, in order

    @property
    def ok(self) -> bool:
        return not self.violations

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ("create", "update", "replace", "delete", "same")}
        for c in self.changes:
            out[c.action] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts(), "steps": list(self.steps),
                "violations": [v.to_json() for v in self.violations],
                "changes": [c.to_json() for c in self.changes if c.action != "same"]}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a wire-form value: `{"a": {"b": [1]}}` -> `{"a.b.0": 1}`; empty containers are leaves."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: value}


def _pulumi_path(path: str) -> str:
    """`a[0].b` / `a["b"]` (ignoreChanges spelling) -> `a.0.b`."""
    return path.replace('["', ".").replace('"]', "").replace("[", ".").replace("]", "").strip(".")


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    parts = path.split(".")
    return any(parts[:len(p.split("."))] == p.split(".") for p in ignore)


def sent_inputs(old: Resource, new: Resource) -> dict[str, Any]:
    """The inputs the engine sends for an update: the edited ones, with ignored paths from the state."""
    ignore = [_pulumi_path(p) for p in new.options.get("ignoreChanges") or ()]
    if not ignore:
        return dict(new.inputs)
    flat_old = flatten(old.inputs)
    flat_new = {p: v for p, v in flatten(new.inputs).items() if not _ignored(p, ignore)}
    flat_new.update({p: v for p, v in flat_old.items() if _ignored(p, ignore)})
    return unflatten(flat_new)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten` for the shapes it produces (numeric keys become list indexes)."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def changed_paths(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    a, b = flatten(old), flatten(new)
    return tuple(sorted(p for p in a.keys() | b.keys() if a.get(p, _MISSING) != b.get(p, _MISSING)))


_MISSING = object()


def _replace_reasons(res: Resource, paths: Iterable[str]) -> list[str]:
    table = force_new_for(res.type)
    listed = list(table.paths) if table else []
    listed += [_pulumi_path(p) for p in res.options.get("replaceOnChanges") or ()]
    return [f"{p} is force-new" for p in paths if any(path_matches(p, f) for f in listed)]


def classify(deployed: RunView, edited: RunView) -> list[Change]:
    """One Change per URN in either run, in the edited run's registration order then the deletions."""
    replaced: set[str] = set()
    changes: list[Change] = []
    for new in edited:
        old = deployed.by_urn.get(new.urn)
        if old is None:
            changes.append(Change(new.urn, new.type, "create"))
            continue
        if not new.custom:
            changes.append(Change(new.urn, new.type, "same"))
            continue
        sent = sent_inputs(old, new)
        paths = changed_paths(old.inputs, sent)
        reasons = _replace_reasons(new, paths)
        # Inputs fed by a replaced resource are unknown until it is recreated: force-new ones replace.
        for key, urns in (new.options.get("propertyDependencies") or {}).items():
            hit = sorted(u for u in urns if u in replaced)
            if hit:
                if _replace_reasons(new, [key]):
                    reasons.append(f"{key} comes from replaced {hit[0].rsplit('::', 1)[-1]}")
                paths = tuple(sorted({*paths, key}))
        provider = (new.options.get("provider") or "").rsplit("::", 1)[0]  # a reference is `urn::id`
        if provider in replaced:
            reasons.append("its provider's cluster is replaced")
        if new.type.startswith(PROVIDER_PREFIX) and any(u in replaced for u in new.dependencies):
            reasons.append("the cluster it points at is replaced")
        action = "replace" if reasons else ("update" if paths else "same")
        if action == "replace":
            replaced.add(new.urn)
        changes.append(Change(new.urn, new.type, action, paths, tuple(reasons)))
    for old in deployed:
        if old.urn not in edited.by_urn:
            changes.append(Change(old.urn, old.type, "delete"))
    return changes


HA_VPN = "rollout:links:HaVpn"


def redundant_repairings(deployed: RunView, edited: RunView, links: tuple[Any, Any] | None) -> dict[str, str]:
    """Deleted HA VPN components whose AWS region keeps another, untouched VPN through the change.

    `links` are the deployed and edited topologies' VPN links (`Topology.vpns`); a component is matched
    to its link by the link id its name ends with. Such a VPN is re-paired, not lost: the new one is
    created before the engine deletes the old (deletions come last), and the region stays on its kept
    VPN meanwhile. Returns component URN -> the kept link's id."""
    if links is None:
        return {}
    before, after = links
    kept = {v.id for v in after} & {v.id for v in before}
    kept_by_region = {v.aws_region: v.id for v in before if v.id in kept}
    out = {}
    for comp in deployed.of_type(HA_VPN):
        if comp.urn in edited.by_urn:
            continue
        link = next((v for v in before if comp.name.endswith(v.id)), None)
        if link is not None and link.id not in kept and link.aws_region in kept_by_region:
            out[comp.urn] = kept_by_region[link.aws_region]
    return out


def _owned_by(run: RunView, resource: Resource, names: frozenset[str], locations: frozenset[str]) -> str | None:
    """The removed region a resource exists for: its Region component, or a stack-wide resource named for
    it (a link `...-vpn-<aws>-<gcp>-...`, a per-location alarm `...-<location>-...`)."""
    region = run.region_of(resource)
    if region in names:
        return region
    for node in (resource, *run.ancestors(resource)):
        tokens = f"-{node.name}-"
        for key in (*names, *locations):
            if f"-{key}-" in tokens:
                return key
    return None


def rehearse_change(deployed_document: Mapping[str, Any] | RunView, edited_document: Mapping[str, Any] | RunView,
                    *, removing: Iterable[str] = (), links: tuple[Any, Any] | None = None,
                    removing_locations: Iterable[str] = ()) -> ChangeReport:
    """Classify every resource and judge the change. `removing` names regions whose removal is
    intended: their resources may be deleted (protected ones become manual steps, not violations).
    `links` (deployed and edited `Topology.vpns`) lets a redundant VPN re-pairing through."""
    deployed = _view(deployed_document)
    edited = _view(edited_document)
    removing = frozenset(removing)
    # The removed regions' provider locations, from the deployed run's `regions` output when not given.
    regions_out = deployed.outputs.get("regions") or {}
    locations = frozenset(removing_locations) | frozenset(
        regions_out[r]["location"] for r in removing if isinstance(regions_out.get(r), dict)
        and regions_out[r].get("location"))
    changes = classify(deployed, edited)
    violations: list[Violation] = []
    steps: list[str] = []
    keys = ca_keys(deployed) | ca_keys(edited)
    repaired = redundant_repairings(deployed, edited, links)
    for urn, kept in sorted(repaired.items()):
        steps.append(f"re-pairing: {urn.rsplit('::', 1)[-1]} is deleted after its replacement exists; "
                     f"the region stays connected over {kept}")
    for c in changes:
        old, new = deployed.by_urn.get(c.urn), edited.by_urn.get(c.urn)
        name = c.urn.rsplit("::", 1)[-1]
        if c.action == "replace":
            why = "; ".join(c.reasons)
            if (old and old.protect) or (new and new.protect):
                violations.append(Violation("change/protected-replace", c.urn,
                                            f"{c.type} {name} is protected and would be replaced ({why}): "
                                            "the engine stops", SOURCE_PROTECT))
            elif c.type in OUTAGE_TYPES | DATA_TYPES or c.urn in keys:
                violations.append(Violation("change/stateful-replace", c.urn,
                                            f"{c.type} {name} would be replaced ({why})", SOURCE_ENGINE))
        elif c.action == "delete":
            assert old is not None
            region = _owned_by(deployed, old, removing, locations) if removing else deployed.region_of(old)
            intended = (region is not None and region in removing | locations) \
                or any(a.urn in repaired for a in deployed.ancestors(old))
            if old.protect:
                if intended:
                    steps.append(f"pulumi state unprotect '{c.urn}'  # {c.type} of removed region {region}")
                else:
                    violations.append(Violation("change/protected-delete", c.urn,
                                                f"{c.type} {name} is protected and would be deleted: the engine "
                                                "stops (remove its region on purpose with --removing)",
                                                SOURCE_PROTECT))
            elif (c.type in DATA_TYPES or c.urn in keys or c.type in OUTAGE_TYPES - DELETABLE_OUTAGE_TYPES) \
                    and not intended:
                violations.append(Violation("change/stateful-delete", c.urn,
                                            f"{c.type} {name} would be deleted"
                                            + (f" (region {region} is not being removed)" if region else ""),
                                            SOURCE_ENGINE))
        elif c.action == "update":
            assert old is not None and new is not None
            violations.extend(refused_updates(old, new, sent_inputs(old, new), c.paths, edited))
    return ChangeReport(changes=tuple(changes), violations=tuple(sorted(set(violations))), steps=tuple(steps))


def _view(document: Mapping[str, Any] | RunView) -> RunView:
    return document if isinstance(document, RunView) else RunView.from_document(document)
