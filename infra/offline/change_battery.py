"""The edits every stack must take without an outage, rehearsed against the stack as it is.

    python -m infra.change --battery --stack prod      # every edit below; exit 1 if any is unsafe

Each edit is a function of the stack file's YAML document, written with the sizing lock a user would
commit with it (`sizing --write` re-solved where the edit changes sizing inputs, the current lock
otherwise). The deployed side is the stack file and lock as they are.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.catalog import load_catalog
from infra.config import PROJECT
from infra.planning.sizing.lock import lock_of, lock_path, write_lock

NS = f"{PROJECT}:"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Edit:
    name: str
    apply: Callable[[Doc], Doc]
    resolve: bool = False  # re-pin the sizing (the edit changes demand, regions or prices)
    price_factor: float = 1.0  # re-solve with the cheapest candidate's price times this factor
    removing: tuple[str, ...] = ()  # regions the edit removes on purpose
    deployed: Callable[[Doc], Doc] | None = None  # the deployed side, when it is not the file as is
    deployed_resolve: bool = False  # re-pin the deployed side too (it differs in sizing inputs)
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext  # around both previews


@contextlib.contextmanager
def next_kubernetes_minor() -> Iterator[str]:
    """Pin a rehearsal-only next minor (a copy of the newest pinned row) for the upgrade edit.

    It checks what the engine does with a minor bump (in-place updates, no replacement, one minor at a
    time), not that the next minor exists: a real upgrade adds its own row (docs/clusters.md)."""
    from infra.planning import cluster_versions, serving_versions

    current = cluster_versions.DEFAULT_KUBERNETES_VERSION
    major, minor = current.split(".")
    nxt = f"{major}.{int(minor) + 1}"
    tables = (cluster_versions.SUPPORTED, cluster_versions.SUPPORT_WINDOWS, serving_versions.CLUSTER_AUTOSCALER_IMAGE,
              serving_versions.CLUSTER_AUTOSCALER_CHARTS)
    added = [t for t in tables if nxt not in t]
    for table in added:
        table[nxt] = table[current]
    try:
        yield nxt
    finally:
        for table in added:
            table.pop(nxt, None)


def _cfg(doc: Doc) -> Doc:
    return doc["config"]


def demand(delta: float) -> Callable[[Doc], Doc]:
    def edit(doc: Doc) -> Doc:
        rows = _cfg(doc)[NS + "demand"]
        rows[0]["rps"] = max(0.1, float(rows[0]["rps"]) + delta)
        return doc
    return edit


def add_region(cloud: str) -> Callable[[Doc], Doc]:
    """Append the first catalog region of `cloud` the stack does not use yet (catalog order)."""
    def edit(doc: Doc) -> Doc:
        regions = _cfg(doc)[NS + "regions"]
        used = {r["location"] for r in regions}
        names = {r["name"] for r in regions}
        region = next(r for r in load_catalog().regions.values() if r.cloud == cloud and r.location not in used)
        name = f"{cloud}{region.number}"
        assert name not in names
        regions.append({"name": name, "cloud": cloud, "location": region.location, "zones": 3})
        return doc
    return edit


def remove_region(name: str) -> Callable[[Doc], Doc]:
    def edit(doc: Doc) -> Doc:
        _cfg(doc)[NS + "regions"] = [r for r in _cfg(doc)[NS + "regions"] if r["name"] != name]
        rollout = _cfg(doc).get(NS + "rollout") or {}
        if rollout.get("canary") == name:
            rollout.pop("canary")
        return doc
    return edit


def removable_region(doc: Doc) -> str | None:
    """The last region (in file order) whose removal still leaves a feasible plan, if any."""
    import tempfile

    from infra.errors import ConfigError
    from infra.planning.plan import validated_config
    from infra.planning.sizing import problem_from_config, solve

    for region in reversed(_cfg(doc)[NS + "regions"]):
        edited = remove_region(region["name"])(copy.deepcopy(doc))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "Pulumi.probe.yaml"
            path.write_text(yaml.safe_dump(edited, sort_keys=False))
            try:
                solve(problem_from_config(validated_config(path)))
            except ConfigError:
                continue
        return region["name"]
    return None


def residency_growth(kind: str) -> Callable[[Doc], Doc]:
    """On top of an added AWS region (the deployed side has it, in no zone): make it a new residency zone
    (`kind` "zone") or add it to the zone with the fewest regions ("region"). Only the zones change
    between the sides, so the rehearsal judges exactly that (new shard members, re-voted shard)."""
    def edit(doc: Doc) -> Doc:
        doc = add_region("aws")(doc)
        name = _cfg(doc)[NS + "regions"][-1]["name"]
        zones = _cfg(doc)[NS + "residency"]["zones"]
        if kind == "zone":
            zones["extra"] = [name]
        else:
            min(zones.values(), key=len).append(name)
        return doc
    return edit


def kubernetes_minor(offset: int) -> Callable[[Doc], Doc]:
    def edit(doc: Doc) -> Doc:
        from infra.planning.cluster_versions import DEFAULT_KUBERNETES_VERSION

        cluster = _cfg(doc).setdefault(NS + "cluster", {})
        major, minor = str(cluster.get("kubernetesVersion", DEFAULT_KUBERNETES_VERSION)).split(".")
        cluster["kubernetesVersion"] = f"{major}.{int(minor) + offset}"
        return doc
    return edit


def model_image(doc: Doc) -> Doc:
    model = _cfg(doc)[NS + "model"]
    repo, _, tag = model["image"].rpartition(":")
    model["image"] = f"{repo}:{tag}-rebuild"
    return doc


def edits_for(doc: Doc) -> list[Edit]:
    gone = removable_region(doc)
    added_aws = add_region("aws")(copy.deepcopy(doc))["config"][NS + "regions"][-1]["name"]
    return [
        Edit("demand +3 rps", demand(+3), resolve=True),
        Edit("demand -3 rps", demand(-3), resolve=True),
        Edit("price x1.5 on the most used GPU type", lambda d: d, resolve=True, price_factor=1.5),
        Edit("add an AWS region", add_region("aws"), resolve=True),
        Edit("add a GCP region", add_region("gcp"), resolve=True),
        # Removing a region: one of the stack's own when the rest can still serve every user; otherwise
        # (prod: no region can go within the latency budgets) the AWS region added above, removed again.
        Edit(f"remove region {gone}", remove_region(gone), resolve=True, removing=(gone,)) if gone else
        Edit(f"remove region {added_aws} (after adding it)", lambda d: d, resolve=False, removing=(added_aws,),
             deployed=add_region("aws"), deployed_resolve=True),
        Edit("Kubernetes minor upgrade", kubernetes_minor(+1), context=next_kubernetes_minor),
        Edit("model image change", model_image),
        *([Edit("add a residency zone", residency_growth("zone"), resolve=True, deployed=add_region("aws"),
                deployed_resolve=True),
           Edit("add a region to a residency zone", residency_growth("region"), resolve=True,
                deployed=add_region("aws"), deployed_resolve=True)]
          if _cfg(doc).get(NS + "residency") else []),
    ]


def most_used_type(stack_file: Path, candidates) -> str | None:
    """The pinned instance type with the most nodes among those with an alternative in their region (a
    price move there can move the plan)."""
    from collections import Counter

    from infra.planning.sizing.lock import read_lock

    lock = read_lock(lock_path(stack_file))
    if lock is None:
        return None
    types_in = Counter(c.region for c in candidates)
    nodes: Counter = Counter()
    for region, types in lock.replicas.items():
        if types_in[region] > 1:
            nodes.update(types)
    return nodes.most_common(1)[0][0] if nodes else None


def write_side(doc: Doc, stack_file: Path, into: Path, *, resolve: bool, price_factor: float = 1.0) -> Path:
    """Write `doc` as `into/<stack file name>` with the lock a user would commit beside it."""
    into.mkdir(parents=True, exist_ok=True)
    path = into / stack_file.name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    if resolve:
        from infra.planning.plan import validated_config
        from infra.planning.sizing import problem_from_config, solve

        problem = problem_from_config(validated_config(path))
        if price_factor != 1.0:
            busiest = most_used_type(stack_file, problem.candidates)
            problem = dataclasses.replace(problem, candidates=tuple(
                dataclasses.replace(c, usd_per_hour=c.usd_per_hour * price_factor)
                if c.instance_type == busiest else c for c in problem.candidates))
        write_lock(lock_path(path), lock_of(solve(problem)), stack)
    elif lock_path(stack_file).exists():
        shutil.copy(lock_path(stack_file), lock_path(path))
    return path


def sides(edit: Edit, stack_file: Path, workdir: Path) -> tuple[Path, Path]:
    """(deployed, edited) stack files for one edit, written under `workdir`."""
    base = yaml.safe_load(stack_file.read_text())
    deployed = stack_file
    if edit.deployed is not None:
        deployed = write_side(edit.deployed(copy.deepcopy(base)), stack_file, workdir / "deployed",
                              resolve=edit.deployed_resolve)
    edited = write_side(edit.apply(copy.deepcopy(base)), stack_file, workdir / "edited", resolve=edit.resolve,
                        price_factor=edit.price_factor)
    return deployed, edited
