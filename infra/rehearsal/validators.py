"""Updates the cloud APIs refuse although the provider sends them in place.

Each validator looks at the inputs the engine would send (`sent`: edited inputs with ignored paths
taken from the state) and returns violations with the API's own rule and its source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from infra.rehearsal.force_new import force_new_for, path_matches
from infra.rehearsal.model import Resource, RunView
from infra.rehearsal.report import Violation

EKS_SCALING = "https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html"
EKS_UPGRADE = "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html"
GKE_UPGRADE = "https://cloud.google.com/kubernetes-engine/docs/concepts/cluster-upgrades"
GKE_SKEW = "https://cloud.google.com/kubernetes-engine/versioning#version_skew"


def _minor(version: Any) -> tuple[int, int] | None:
    try:
        major, minor = str(version).split(".")[:2]
        return int(major), int(minor)
    except (ValueError, AttributeError):
        return None


def eks_node_group_scaling(old: Resource, new: Resource, sent: Mapping[str, Any], paths, run) -> Iterable[str]:
    """EKS refuses a scaling config with desiredSize outside [minSize, maxSize] ("Minimum capacity N
    can't be greater than desired size M"). With desiredSize ignored, the state's value is sent."""
    sc = sent.get("scalingConfig") or {}
    lo, want, hi = sc.get("minSize"), sc.get("desiredSize"), sc.get("maxSize")
    if not all(isinstance(x, int | float) for x in (lo, want, hi)):
        return
    if not lo <= want <= hi or hi < 1:
        yield (f"sends scalingConfig min {lo} desired {want} max {hi}: EKS requires min <= desired <= max "
               f"(desired {want} is the state's value: desiredSize is in ignoreChanges)")


def _version_step(field: str, product: str, source: str) -> Callable:
    def check(old: Resource, new: Resource, sent, paths, run) -> Iterable[str]:
        a, b = _minor(old.inputs.get(field)), _minor(sent.get(field))
        if a is None or b is None or a == b:
            return
        if b < a:
            yield f"{field} {old.inputs.get(field)} -> {sent.get(field)}: {product} cannot downgrade"
        elif b[0] != a[0] or b[1] - a[1] > 1:
            yield (f"{field} {old.inputs.get(field)} -> {sent.get(field)}: {product} upgrades one minor "
                   "version at a time; deploy each minor in its own `up`")
    check.__doc__ = f"{product} control-plane upgrades: one minor at a time, never down ({source})."
    return check


def _pool_skew(field: str, cluster_type: str, cluster_field: str, cluster_input: str, product: str) -> Callable:
    def check(old: Resource, new: Resource, sent, paths, run: RunView) -> Iterable[str]:
        pool = _minor(sent.get(field))
        cluster_urns = (new.options.get("propertyDependencies") or {}).get(cluster_input) or ()
        for urn in cluster_urns:
            cluster = run.by_urn.get(urn)
            if cluster is None or cluster.type != cluster_type:
                continue
            control = _minor(cluster.inputs.get(cluster_field))
            if pool and control and pool > control:
                yield (f"{field} {sent.get(field)} is newer than the control plane's "
                       f"{cluster.inputs.get(cluster_field)}: {product} nodes cannot run ahead of it")
    return check


VALIDATORS: dict[str, list[tuple[str, Callable]]] = {
    "aws:eks/nodeGroup:NodeGroup": [(EKS_SCALING, eks_node_group_scaling),
                                    (EKS_UPGRADE, _pool_skew("version", "aws:eks/cluster:Cluster", "version",
                                                             "clusterName", "EKS"))],
    "aws:eks/cluster:Cluster": [(EKS_UPGRADE, _version_step("version", "EKS", EKS_UPGRADE))],
    "gcp:container/cluster:Cluster": [(GKE_UPGRADE, _version_step("minMasterVersion", "GKE", GKE_UPGRADE))],
    "gcp:container/nodePool:NodePool": [(GKE_SKEW, _pool_skew("version", "gcp:container/cluster:Cluster",
                                                              "minMasterVersion", "cluster", "GKE"))],
}


def refused_updates(old: Resource, new: Resource, sent: Mapping[str, Any], paths: Iterable[str],
                    edited: RunView) -> list[Violation]:
    """Every reason the API would refuse this in-place update."""
    paths = tuple(paths)
    name = new.urn.rsplit("::", 1)[-1]
    out = [Violation("change/refused-update", new.urn, f"{new.type} {name}: {msg}", source)
           for source, check in VALIDATORS.get(new.type, ()) for msg in check(old, new, sent, paths, edited)]
    table = force_new_for(new.type)
    covered = [p.replace("[", ".").replace("]", "") for p in new.options.get("replaceOnChanges") or ()]
    for field in table.immutable if table else ():
        hit = [p for p in paths if path_matches(p, field) and not any(path_matches(p, c) for c in covered)]
        if hit:
            out.append(Violation("change/immutable-update", new.urn,
                                 f"{new.type} {name}: {field} cannot change in place and the provider does not "
                                 "replace it (add replaceOnChanges or a new name)", table.source))
    return out
