"""Helm releases: every release's pods are described (else the rehearsal could not see them), and the
cluster autoscaler's RBAC matches its image.

cluster-autoscaler 1.35 and later list `resource.k8s.io` objects (DRA: resourceslices, deviceclasses,
resourceclaims) and wait for those informers to sync; the chart grants them from chart 9.54.0 on
(kubernetes/autoscaler#8827, "CA: update k8s deps to 1.35.0-rc.0"). An older chart with a newer image
leaves the autoscaler forbidden on those resources: it never scales up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from infra.rehearsal.incluster.inventory import Release, inventory
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

DRA_RESOURCES = ("resourceslices", "deviceclasses", "resourceclaims")
DRA_FROM = (1, 35)


def image_version(release: Release) -> tuple[int, int] | None:
    tag = str(((release.values.get("image") or {}).get("tag")) or
              (release.description.app_version if release.description else ""))
    m = re.match(r"v?(\d+)\.(\d+)", tag)
    return (int(m.group(1)), int(m.group(2))) if m else None


def grants(rules: Iterable[Mapping[str, Any]], group: str, resource: str, verbs: Iterable[str]) -> bool:
    needed = set(verbs)
    for r in rules:
        groups, resources = r.get("apiGroups") or (), r.get("resources") or ()
        if (group in groups or "*" in groups) and (resource in resources or "*" in resources) \
                and not r.get("resourceNames"):
            needed -= set(r.get("verbs") or ())
            if "*" in (r.get("verbs") or ()):
                needed.clear()
    return not needed


@rule("incluster/chart-described", stage="incluster", source="infra/planning/chart_pods.py")
def chart_described(ctx: Context) -> Iterable[Violation]:
    """Every Helm release's chart and version (and every enabled subchart) has a pod description."""
    for rel in inventory(ctx.run).releases:
        if rel.description is None:
            yield Violation("incluster/chart-described", rel.resource.urn,
                            f"Helm release {rel.chart}@{rel.version} has no pod description in "
                            "infra/planning/chart_pods.py: its pods are not rehearsed")
            continue
        for key, chart in rel.description.undescribed_subcharts.items():
            if (rel.values.get(key) or {}).get("enabled", True):
                yield Violation("incluster/chart-described", rel.resource.urn,
                                f"Helm release {rel.chart}@{rel.version} enables subchart {chart} "
                                f"({key}.enabled), whose pods are not described")


@rule("incluster/chart-rbac", stage="incluster",
      source="https://github.com/kubernetes/autoscaler/pull/8827")
def autoscaler_rbac(ctx: Context) -> Iterable[Violation]:
    """A cluster-autoscaler image >= 1.35 runs under a chart whose ClusterRole grants resource.k8s.io reads."""
    for rel in inventory(ctx.run).releases:
        if rel.chart != "cluster-autoscaler" or rel.description is None:
            continue
        version = image_version(rel)
        if version is None or version < DRA_FROM:
            continue
        rules = rel.description.cluster_rules(rel.values)
        missing = [r for r in DRA_RESOURCES if not grants(rules, "resource.k8s.io", r, ("get", "list", "watch"))]
        if missing:
            yield Violation("incluster/chart-rbac", rel.resource.urn,
                            f"cluster-autoscaler image {version[0]}.{version[1]} under chart {rel.version} "
                            f"(app {rel.description.app_version}): the ClusterRole lacks resource.k8s.io "
                            f"{', '.join(missing)} (get/list/watch); the autoscaler waits for them and never "
                            "scales: use a chart made for the image (>= 9.54.0 for 1.35+)")
