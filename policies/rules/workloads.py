"""Kubernetes objects (model server, MongoDB, add-ons): no privileged pods, pinned images and charts,
probes and resources on serving containers, PDBs that still allow node drains, namespaces under Pod
Security admission (the namespace rule lives in k8s_security.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .core import ADVISORY, HIGH, LOW, MANDATORY, MEDIUM, Resource, as_list, get, is_unknown, rule

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
WORKLOADS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET)
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"


def _pod_spec(props: Any) -> dict[str, Any]:
    spec = get(props, "spec.template.spec", {})
    return spec if isinstance(spec, dict) else {}


def _containers(props: Any) -> list[dict[str, Any]]:
    spec = _pod_spec(props)
    return [c for c in as_list(spec.get("containers")) + as_list(spec.get("initContainers")) if isinstance(c, dict)]


@rule("k8s-no-privileged-pods", "Pods never run privileged or in the host's network / PID namespaces.",
      enforcement=MANDATORY, severity=HIGH, types=WORKLOADS)
def no_privileged(r: Resource, config) -> Iterator[str]:
    spec = _pod_spec(r.props)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield f"spec.template.spec.{key} is true"
    for c in _containers(r.props):
        if get(c, "securityContext.privileged") is True:
            yield f"container {c.get('name')} is privileged"
        if get(c, "securityContext.allowPrivilegeEscalation") is True:
            yield f"container {c.get('name')} allows privilege escalation"


def _pinned(image: Any) -> bool:
    if not isinstance(image, str) or is_unknown(image):
        return True
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and not name.endswith(":latest")


@rule("k8s-image-pinned", "Container images are pinned to a version tag or digest (never ':latest' or untagged).",
      enforcement=ADVISORY, severity=MEDIUM, types=WORKLOADS)
def image_pinned(r: Resource, config) -> Iterator[str]:
    for c in _containers(r.props):
        if not _pinned(c.get("image")):
            yield f"container {c.get('name')} image {c.get('image')!r} is not pinned"


@rule("k8s-serving-containers-ready", "Long-running containers declare resource requests/limits and a readiness probe.",
      enforcement=ADVISORY, severity=LOW, types=(DEPLOYMENT, STATEFUL_SET))
def serving_ready(r: Resource, config) -> Iterator[str]:
    for c in as_list(_pod_spec(r.props).get("containers")):
        if not isinstance(c, dict):
            continue
        if not get(c, "resources.limits"):
            yield f"container {c.get('name')} has no resources.limits"
        if not c.get("readinessProbe"):
            yield f"container {c.get('name')} has no readinessProbe"


@rule("k8s-pdb-allows-drain", "PodDisruptionBudgets protect availability but still let nodes drain (upgrades).",
      enforcement=ADVISORY, severity=LOW, types=(PDB,))
def pdb_allows_drain(r: Resource, config) -> Iterator[str]:
    spec = r.props.get("spec") or {}
    if is_unknown(spec):
        return
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is None and max_unavailable is None:
        yield "neither minAvailable nor maxUnavailable is set"
    if max_unavailable in (0, "0", "0%") or min_available == "100%":
        yield "the budget allows no disruption at all: node drains will hang"


@rule("helm-chart-pinned", "Helm releases and charts pin the chart version.",
      enforcement=ADVISORY, severity=LOW, types=(HELM_RELEASE, HELM_CHART))
def helm_chart_pinned(r: Resource, config) -> Iterator[str]:
    if r.props.get("version") in (None, ""):
        yield f"chart {r.props.get('chart')!r} has no version"


RULES = [no_privileged, image_pinned, serving_ready, pdb_allows_drain, helm_chart_pinned]
