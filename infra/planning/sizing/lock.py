"""The pinned fleet: a reviewed sizing plan in `Pulumi.<stack>.sizing.json`, beside the stack file.

`python -m infra.sizing --stack S --write` solves and writes the lock; the program then deploys the
lock, not a fresh solve, so a price, catalog or solver change never moves GPU nodes by itself. Each
run checks the pinned replicas and routing tables with the independent checker (`check.py`) against
the current inputs; when they no longer meet demand, latency or N-1 the run fails with a ConfigError
that lists the violations and shows the re-solved plan to review and pin. `--diff` compares the lock
with a re-solve, per region and instance type (docs/rollout.md).

Pure planning: reads and writes JSON, no pulumi import.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infra.errors import ConfigError
from infra.planning.sizing.check import check_plan, region_capacity
from infra.planning.sizing.plan import NodeGroup, RegionHeadroom, Routing, SizingPlan
from infra.planning.sizing.problem import SizingProblem
from infra.planning.sizing.solver import SolveOptions, solve

LOCK_VERSION = 1
_DIGITS = 6  # routing rps in the lock; the checker's tolerance (1e-3 rps) absorbs the rounding


def lock_path(stack_file: Path | str) -> Path:
    """`Pulumi.prod.yaml` -> `Pulumi.prod.sizing.json` in the same directory."""
    path = Path(stack_file)
    return path.with_name(path.name.removesuffix(".yaml") + ".sizing.json")


@dataclass(frozen=True)
class SizingLock:
    """A pinned plan as written: replicas, the routing they imply, and $/h per group when written."""

    replicas: Mapping[str, Mapping[str, int]]
    routing: Routing
    failover: Mapping[str, Routing]
    usd_per_hour: Mapping[str, Mapping[str, float]]  # region -> type -> $/h of the group when written
    source: str = "sizing lock"
    lower_bound: float | None = None  # the solve's proven bound when written ...
    inputs_sha256: str | None = None  # ... for these sizing inputs (`inputs_digest`): valid while they match

    @property
    def hourly_cost(self) -> float:
        return sum(v for per in self.usd_per_hour.values() for v in per.values())


def inputs_digest(problem: SizingProblem) -> str:
    """Fingerprint of every sizing input (prices, capacities, RTTs, quotas, budgets): equal digests, equal
    problems, so a bound proven for one holds for the other (floats' repr is exact)."""
    return hashlib.sha256(repr(problem).encode()).hexdigest()


def lock_of(plan: SizingPlan, problem: SizingProblem | None = None) -> SizingLock:
    """The plan as a lock; with the `problem` it was solved for, the lock keeps its lower bound."""
    usd: dict[str, dict[str, float]] = {}
    for g in plan.node_groups:
        usd.setdefault(g.region, {})[g.instance_type] = g.usd_per_hour
    return SizingLock(replicas=plan.replicas, routing=plan.routing, failover=plan.failover, usd_per_hour=usd,
                      lower_bound=plan.lower_bound if problem is not None else None,
                      inputs_sha256=inputs_digest(problem) if problem is not None else None)


def lock_document(lock: SizingLock, stack: str) -> dict[str, Any]:
    def plain(routing: Routing) -> dict[str, dict[str, float]]:
        return {geo: {r: round(v, _DIGITS) for r, v in sorted(per.items())} for geo, per in routing.items()}

    proof = ({"lower_bound": lock.lower_bound, "inputs_sha256": lock.inputs_sha256}
             if lock.lower_bound is not None and lock.inputs_sha256 else {})
    return {
        "version": LOCK_VERSION,
        "stack": stack,
        "comment": "Pinned sizing plan: written by `python -m infra.sizing --stack "
        f"{stack} --write`, reviewed in pull requests. The program deploys it after checking it.",
        "hourly_cost": round(lock.hourly_cost, 4),
        "replicas": {r: dict(sorted(per.items())) for r, per in lock.replicas.items()},
        "usd_per_hour": {r: {t: round(v, 4) for t, v in sorted(per.items())} for r, per in lock.usd_per_hour.items()},
        "routing": plain(lock.routing),
        "failover": {lost: plain(t) for lost, t in lock.failover.items()},
        **proof,
    }


def write_lock(path: Path, lock: SizingLock, stack: str) -> None:
    path.write_text(json.dumps(lock_document(lock, stack), indent=2) + "\n")


MAX_LOCK_BYTES = 5_000_000
MAX_NODES = 1_000_000  # per region and instance type: the config's quota bound
LOCK_KEYS = ("version", "stack", "comment", "hourly_cost", "replicas", "usd_per_hour", "routing", "failover",
             "lower_bound", "inputs_sha256")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} is given twice")
        seen[key] = value
    return seen


def _number(value: Any, where: str, problems: list[str], *, integer: bool = False) -> float | int | None:
    """A finite, non-negative number (an integer for node counts), else a problem naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        problems.append(f"{where}: expected {'an integer' if integer else 'a number'}, got {_short(value)}")
        return None
    if not math.isfinite(value) or value < 0:
        problems.append(f"{where}: {value!r} must be finite and >= 0")
        return None
    if integer and value > MAX_NODES:
        problems.append(f"{where}: {value} nodes is more than {MAX_NODES:,}")
        return None
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _table(value: Any, where: str, problems: list[str], *, integer: bool = False) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a mapping of mappings, got {_short(value)}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for k, per in value.items():
        if not isinstance(per, dict):
            problems.append(f"{where}.{k}: expected a mapping, got {_short(per)}")
            continue
        row = {}
        for k2, v in per.items():
            number = _number(v, f"{where}.{k}.{k2}", problems, integer=integer)
            if number is not None:
                row[str(k2)] = int(number) if integer else float(number)
        out[str(k)] = row
    return out


def read_lock(path: Path, stack: str | None = None) -> SizingLock | None:
    """The lock beside a stack file, or None when the stack is not pinned. Validated like the stack file:
    UTF-8 JSON of the lock's shape, finite non-negative numbers, whole node counts. It is bound to its
    stack by content, not by file name (tests and reviews copy locks between files): `lock_problems`
    refuses every region, instance type and geography the stack does not have, and the checker refuses a
    pin that does not serve this stack's demand. Every problem comes in one ConfigError."""
    stack = stack or path.name.removeprefix("Pulumi.").removesuffix(".sizing.json")
    title = "invalid sizing lock"
    try:
        if not path.exists():
            return None
        if path.is_dir():
            raise ConfigError([f"{path.name}: is a directory, not a sizing lock"], title=title)
        if path.stat().st_size > MAX_LOCK_BYTES:
            raise ConfigError([f"{path.name}: larger than {MAX_LOCK_BYTES} bytes; not a sizing lock"], title=title)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})"], title=title) from None
    except OSError as exc:
        raise ConfigError([f"{path.name}: cannot be read: {exc.strerror or exc}"], title=title) from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise ConfigError([f"{path.name}: not valid JSON: {exc}"], title=title) from None
    if not isinstance(doc, dict):
        raise ConfigError([f"{path.name}: expected a JSON object, got {type(doc).__name__}"], title=title)
    problems: list[str] = []
    if doc.get("version") != LOCK_VERSION:
        problems.append(f"{path.name}: version must be {LOCK_VERSION}, got {_short(doc.get('version'))}")
    if not isinstance(doc.get("stack"), str) or not doc.get("stack"):
        problems.append(f"{path.name}: stack: the name of the stack the lock was written for, got "
                        f"{_short(doc.get('stack'))} (write it with `python -m infra.sizing --stack {stack} --write`)")
    for key in doc:
        if key not in LOCK_KEYS:
            problems.append(f"{path.name}: {key}: unknown field; valid: {', '.join(LOCK_KEYS)}")
    if "hourly_cost" in doc:
        _number(doc["hourly_cost"], f"{path.name}: hourly_cost", problems)
    for key in ("replicas", "routing"):
        if key not in doc:
            problems.append(f"{path.name}: {key}: required")
    replicas = _table(doc.get("replicas", {}), f"{path.name}: replicas", problems, integer=True)
    routing = _table(doc.get("routing", {}), f"{path.name}: routing", problems)
    usd = _table(doc.get("usd_per_hour", {}), f"{path.name}: usd_per_hour", problems)
    failover_doc = doc.get("failover", {})
    failover: dict[str, dict[str, dict[str, Any]]] = {}
    if not isinstance(failover_doc, dict):
        problems.append(f"{path.name}: failover: expected a mapping, got {_short(failover_doc)}")
    else:
        failover = {str(lost): _table(t, f"{path.name}: failover.{lost}", problems)
                    for lost, t in failover_doc.items()}
    if problems:
        raise ConfigError(problems, title=title)
    bound, digest = doc.get("lower_bound"), doc.get("inputs_sha256")
    if bound is not None:
        _number(bound, f"{path.name}: lower_bound", problems)
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                   and all(c in "0123456789abcdef" for c in digest)):
        problems.append(f"{path.name}: inputs_sha256: a SHA-256 hex digest, got {_short(digest)}")
    if problems:
        raise ConfigError(problems, title=title)
    return SizingLock(replicas=replicas, routing=routing, failover=failover, usd_per_hour=usd, source=path.name,
                      lower_bound=float(bound) if bound is not None else None, inputs_sha256=digest)


def lock_problems(problem: SizingProblem, lock: SizingLock) -> list[str]:
    """Names in the lock the stack does not have: regions, instance types (per cloud, in the catalog) and
    geographies, in every table. Checked before the plan is priced or checked, so none can crash it."""
    from infra.catalog import load_catalog

    catalog = load_catalog()
    regions = set(problem.regions)
    cloud = {r: label.split()[0] for r, label in zip(problem.regions, problem.region_labels, strict=False)}
    geos = {g.name for g in problem.geos}
    out: list[str] = []
    for r, per in lock.replicas.items():
        if r not in regions:
            out.append(f"{lock.source}: replicas.{r}: no such region in the stack ({', '.join(sorted(regions))})")
            continue
        for t in per:
            known = any(c.instance_type == t for c in problem.candidates) or \
                any(name == t and (r not in cloud or c == cloud[r]) for c, name in catalog.instance_types)
            if not known:
                out.append(f"{lock.source}: replicas.{r}.{t}: unknown instance type")
    tables = [("routing", lock.routing)] + [(f"failover.{lost}", t) for lost, t in lock.failover.items()]
    for lost in lock.failover:
        if lost not in regions:
            out.append(f"{lock.source}: failover.{lost}: no such region in the stack")
    for name, table in tables:
        for geo, per in table.items():
            if geo not in geos:
                out.append(f"{lock.source}: {name}.{geo}: no such geography in the stack's demand "
                           f"({', '.join(sorted(geos))})")
            for r in per:
                if r not in regions:
                    out.append(f"{lock.source}: {name}.{geo}.{r}: no such region in the stack")
    return out


def _headroom(
    problem: SizingProblem, plan_capacity: Mapping[str, float], lock: SizingLock
) -> tuple[RegionHeadroom, ...]:
    def load(table: Routing, region: str) -> float:
        return sum(per.get(region, 0.0) for per in table.values())

    out = []
    for region in problem.regions:
        cap = plan_capacity[region]
        normal = load(lock.routing, region)
        worst, worst_lost = 0.0, None
        for lost, table in lock.failover.items():
            if lost != region and cap > 0 and load(table, region) / cap > worst:
                worst, worst_lost = load(table, region) / cap, lost
        out.append(RegionHeadroom(region, cap, normal, normal / cap if cap else 0.0, worst, worst_lost))
    return tuple(out)


def plan_from_lock(problem: SizingProblem, lock: SizingLock, lower_bound: float = 0.0) -> SizingPlan:
    """The pinned plan priced at the current inputs (not yet checked; see `pinned_plan`)."""
    by_key = {(c.region, c.instance_type): c for c in problem.candidates}
    groups = tuple(
        NodeGroup(region=r, instance_type=t, gpu_model=by_key[r, t].gpu_model, nodes=k,
                  gpus=k * by_key[r, t].gpu_count, capacity_rps=k * by_key[r, t].rps_per_node,
                  usd_per_hour=k * by_key[r, t].usd_per_hour)
        for r in problem.regions
        for t, k in sorted(lock.replicas.get(r, {}).items())
        if k > 0 and (r, t) in by_key
    )
    cost = sum(g.usd_per_hour for g in groups)
    return SizingPlan(node_groups=groups, routing=lock.routing, failover=lock.failover, hourly_cost=cost,
                      lower_bound=min(cost, max(0.0, lower_bound)), solve_seconds=0.0,
                      headroom=_headroom(problem, region_capacity(problem, lock.replicas), lock),
                      status="pinned")


def describe_plan(plan: SizingPlan) -> str:
    """One line per node group, for error messages."""
    rows = [f"{g.region}: {g.nodes} x {g.instance_type} (${g.usd_per_hour:,.2f}/h)" for g in plan.node_groups]
    return "; ".join(rows) + f"; total ${plan.hourly_cost:,.2f}/h"


def pinned_plan(problem: SizingProblem, lock: SizingLock, options: SolveOptions | None = None,
                *, stack: str = "<stack>") -> SizingPlan:
    """The lock as the stack's plan, after the independent checker accepts it at the current inputs.

    Checked, not re-solved: the gap is quoted against the bound the lock was written with while the
    inputs are those it was solved for (`inputs_sha256`); only when they changed is the problem solved
    again for a bound. Raises ConfigError listing what the pin violates (demand, latency, N-1, quotas,
    candidates) and the re-solved plan to review.
    """
    unknown = lock_problems(problem, lock)
    unknown += [f"{lock.source}: replicas.{r}.{t}: not a candidate now (no price, not offered, or filtered)"
                for r, per in lock.replicas.items() if r in problem.regions for t, n in per.items()
                if n > 0 and not any(c.region == r and c.instance_type == t for c in problem.candidates)
                and not any(f"replicas.{r}.{t}:" in u for u in unknown)]
    violations = list(unknown)
    if not unknown:
        violations += [f"{lock.source}: {v}" for v in check_plan(problem, plan_from_lock(problem, lock))]
    if not violations and lock.lower_bound is not None and lock.inputs_sha256 == inputs_digest(problem):
        return plan_from_lock(problem, lock, lower_bound=lock.lower_bound)
    try:  # the plain problem (no rounding reserve): its bound holds for every plan meeting the rules
        resolved = solve(replace(problem, weight_units=0), options)
    except ConfigError as exc:
        raise ConfigError([*violations, *exc.problems] if violations else exc.problems,
                          title="the pinned sizing plan cannot be checked") from None
    if violations:
        violations.append(f"re-solved plan: {describe_plan(resolved)}. Review it with "
                          f"`python -m infra.sizing --stack {stack} --diff`, pin it with `--write`")
        raise ConfigError(violations, title=f"the pinned sizing plan ({lock.source}) no longer holds")
    return plan_from_lock(problem, lock, lower_bound=resolved.lower_bound)


@dataclass(frozen=True)
class DiffRow:
    """One region and instance type: the pin (as written and at today's prices) vs a re-solve."""

    region: str
    instance_type: str
    pinned_nodes: int
    resolved_nodes: int
    pinned_usd_written: float
    pinned_usd_now: float
    resolved_usd: float

    @property
    def changed(self) -> bool:
        return (self.pinned_nodes != self.resolved_nodes or not math.isfinite(self.pinned_usd_now)
                or abs(self.pinned_usd_written - self.pinned_usd_now) > 5e-5
                or abs(self.pinned_usd_now - self.resolved_usd) > 5e-5)


def sizing_diff(problem: SizingProblem, lock: SizingLock, resolved: SizingPlan) -> list[DiffRow]:
    """Every region and type in the lock or the re-solve, in stack region order."""
    now = {(c.region, c.instance_type): c.usd_per_hour for c in problem.candidates}
    new = {(g.region, g.instance_type): g for g in resolved.node_groups}
    keys = {(r, t) for r, per in lock.replicas.items() for t, n in per.items() if n > 0} | set(new)
    order = {r: i for i, r in enumerate(problem.regions)}
    rows = []
    for r, t in sorted(keys, key=lambda k: (order.get(k[0], len(order)), k[0], k[1])):
        pinned = lock.replicas.get(r, {}).get(t, 0)
        g = new.get((r, t))
        rows.append(DiffRow(
            region=r, instance_type=t, pinned_nodes=pinned, resolved_nodes=g.nodes if g else 0,
            pinned_usd_written=lock.usd_per_hour.get(r, {}).get(t, 0.0),
            pinned_usd_now=pinned * now.get((r, t), float("nan")) if pinned else 0.0,
            resolved_usd=g.usd_per_hour if g else 0.0,
        ))
    return rows
