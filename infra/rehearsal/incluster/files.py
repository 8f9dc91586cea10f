"""Files: every mounted Secret, ConfigMap, downward API or projected file is readable by the user its
container runs as.

The kubelet writes these files owned by root (uid 0, gid 0) with the item's `mode` or the volume's
`defaultMode` (0644 when unset). With a pod `fsGroup` it gives the files that group and adds group read
(the volume is read-only: mask 0440), and the fsGroup is a supplemental group of every container.
Without fsGroup a non-root user reads only through the "other" bits: a 0400 Secret is unreadable.
Sources: https://kubernetes.io/docs/concepts/configuration/secret/#secret-files-permissions ,
https://kubernetes.io/docs/tasks/configure-pod-container/security-context/ (fsGroup), kubelet
SetVolumeOwnership (pkg/volume/volume_linux.go: roMask 0440).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.rehearsal.incluster.inventory import inventory
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

DEFAULT_MODE = 0o644
FILE_VOLUMES = ("secret", "configMap", "downwardAPI", "projected")


def file_modes(volume: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(file, mode) of a Secret/ConfigMap/downwardAPI/projected volume; "*" stands for every key."""
    out: list[tuple[str, int]] = []
    for kind in ("secret", "configMap", "downwardAPI"):
        if kind in volume:
            src = volume[kind] or {}
            default = src.get("defaultMode", DEFAULT_MODE)
            items = src.get("items") or []
            out += [(i.get("path", "?"), i.get("mode", default)) for i in items] or [("*", default)]
    if "projected" in volume:
        proj = volume["projected"] or {}
        default = proj.get("defaultMode", DEFAULT_MODE)
        for source in proj.get("sources") or ():
            for kind, src in source.items():
                if kind == "serviceAccountToken":
                    continue  # the kubelet owns the token file for the pod's user
                items = (src or {}).get("items") or []
                out += [(i.get("path", "?"), i.get("mode", default)) for i in items] or [(f"{kind}/*", default)]
    return out


def readable(mode: int, uid: int, groups: set[int], file_gid: int) -> bool:
    if uid == 0:
        return bool(mode & 0o400)
    if file_gid in groups:
        return bool(mode & 0o040)
    return bool(mode & 0o004)


def unreadable(spec: Mapping[str, Any]) -> list[str]:
    """One finding per (container, volume file) whose user cannot read it."""
    pod_sc = spec.get("securityContext") or {}
    fs_group = pod_sc.get("fsGroup")
    volumes = {v.get("name"): v for v in spec.get("volumes") or ()}
    out = []
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        sc = c.get("securityContext") or {}
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if uid is None:
            continue  # the image's user: not knowable from the manifest
        gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
        groups = {g for g in (gid, fs_group, *(pod_sc.get("supplementalGroups") or ())) if g is not None}
        for m in c.get("volumeMounts") or ():
            v = volumes.get(m.get("name"))
            if not v or not any(k in v for k in FILE_VOLUMES):
                continue
            for path, mode in file_modes(v):
                effective = mode | 0o440 if fs_group is not None else mode
                file_gid = fs_group if fs_group is not None else 0
                if not readable(effective, int(uid), groups, file_gid):
                    out.append(f"container {c.get('name')} (uid {uid}, groups {sorted(groups) or 'none'}) cannot "
                               f"read {m.get('mountPath')}/{path} (volume {m.get('name')}, mode {mode:04o}, owner 0:"
                               f"{file_gid}{', fsGroup adds group read' if fs_group is not None else ', no fsGroup'})")
    return out


@rule("incluster/files-readable", stage="incluster",
      source="https://kubernetes.io/docs/concepts/configuration/secret/#secret-files-permissions")
def files_readable(ctx: Context) -> Iterable[Violation]:
    """Mounted Secret/ConfigMap files are readable by the container's user under their mode and fsGroup."""
    for pod in inventory(ctx.run).pods:
        for finding in unreadable(pod.spec):
            yield Violation("incluster/files-readable", pod.urn, f"{pod.describe()}: {finding}")
