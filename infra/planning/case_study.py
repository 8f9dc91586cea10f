"""The design document's case study, its objective as written, and this program's sizing on the same numbers.

The case: three sites (Beijing, Shanghai, Silicon Valley), nodes rated 1000, 1500 and 2000 QPS, 500 QPS
of demand, and the stated outcome "2 nodes in Beijing, 1 in Shanghai, 1 in Silicon Valley". The
objective it gives is `maximize sum_i P(i) Q(i) - sum_i L(i) Q(i)  s.t.  sum_i Q(i) = T`. This module
shows (numerically; docs/sizing.md has the argument) why that linear program cannot produce a
deployment, what `infra.planning.sizing` answers for the same numbers, and which extra rules would
give 2/1/1. Pure: no pulumi import. `python -m infra.planning.case_study` prints the tables quoted in
docs/sizing.md ("The origin case study"); tests/test_case_study.py checks that they do not drift.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from infra.catalog import estimated_rtt_ms
from infra.planning.sizing import Candidate, Geo, SizingPlan, SizingProblem, check_plan, solve


@dataclass(frozen=True)
class Place:
    """A site or a demand geography: a city's coordinates (rounded city centres)."""

    name: str
    latitude: float
    longitude: float


# The three sites of the case. Silicon Valley = San Jose. Coordinates are the cities' centres.
SITES = (Place("beijing", 39.90, 116.41), Place("shanghai", 31.23, 121.47), Place("silicon-valley", 37.34, -121.89))
RATINGS_QPS = (1000.0, 1500.0, 2000.0)  # as listed in the case, in the sites' order
DEMAND_QPS = 500.0
STATED = (2, 1, 1)  # the case's outcome: nodes in Beijing, Shanghai, Silicon Valley

# Demand geographies (the case gives only "500 QPS, worldwide"): users in north China (Beijing),
# east China (Shanghai) and the US west coast (San Francisco, as infra.catalog.GEOGRAPHIES["us-west"]).
GEOS = (Place("china-north", 39.90, 116.41), Place("china-east", 31.23, 121.47), Place("us-west", 37.77, -122.42))
DEMANDS: dict[str, tuple[float, float, float]] = {
    "even": (DEMAND_QPS / 3, DEMAND_QPS / 3, DEMAND_QPS / 3),
    "china-north": (DEMAND_QPS, 0.0, 0.0),
    "us-west": (0.0, 0.0, DEMAND_QPS),
}

# The program's own numbers (Pulumi.prod.yaml): latency budgets and utilisation limits.
NORMAL_MS, FAILOVER_MS = 60.0, 160.0
UTIL_NORMAL, UTIL_FAILOVER = 0.7, 0.9

# Readings of "nodes rated 1000, 1500 and 2000 QPS":
#   "per-site": one node type per site, in the order the sites are listed (Beijing 1000, ...);
#   "any-site": three node types, each available at every site.
READINGS = ("per-site", "any-site")
# Prices: the case gives none. "node": every node costs the same (1 unit/h, so cost = node count);
# "qps": price proportional to the rating (1 unit/h per 1000 QPS), i.e. equal cost per QPS.
PRICINGS = ("node", "qps")


def rtt_table(geos: Sequence[Place] = GEOS, sites: Sequence[Place] = SITES) -> tuple[tuple[float, ...], ...]:
    """RTT estimate geography -> site: the repo's rule of thumb (infra.catalog.estimated_rtt_ms:
    5 ms + 1 ms per 100 km of great-circle distance x 1.4 path inflation)."""
    return tuple(tuple(estimated_rtt_ms(g.latitude, g.longitude, s.latitude, s.longitude) for s in sites)
                 for g in geos)


# ---------------------------------------------------------------------------------------------------
# Part 1: the objective as written.


def design_lp(value: Sequence[float], cost: Sequence[float], total: float,
              upper: Sequence[float] | None = None) -> np.ndarray:
    """argmax sum (P-L) Q s.t. sum Q = T, 0 <= Q (<= upper): the design document's program, by HiGHS."""
    c = -(np.asarray(value, dtype=float) - np.asarray(cost, dtype=float))
    bounds = [(0.0, None if upper is None else float(u)) for u in (upper or [None] * len(c))]
    result = linprog(c, A_eq=np.ones((1, len(c))), b_eq=[total], bounds=bounds, method="highs")
    if result.status != 0:
        raise ValueError(f"design LP: {result.message}")
    return np.asarray(result.x)


def vertex_sites(value: Sequence[float], cost: Sequence[float], *, tol: float = 1e-9) -> tuple[int, ...]:
    """The sites an optimum of the uncapacitated design LP may load: those with the largest P - L.
    (A linear objective on the simplex sum Q = T is maximised at a vertex, Q = T e_i, i = argmax.)"""
    margin = [p - ell for p, ell in zip(value, cost, strict=True)]
    best = max(margin)
    return tuple(i for i, m in enumerate(margin) if m >= best - tol)


def nodes_for_shares(shares: Sequence[float], ratings: Sequence[float], util: float) -> tuple[int, ...]:
    """The fewest nodes carrying each site's share at `util`: the step the design LP leaves out."""
    return tuple(math.ceil(q / (util * r) - 1e-9) if q > 0 else 0 for q, r in zip(shares, ratings, strict=True))


# ---------------------------------------------------------------------------------------------------
# Part 2: this program's formulation on the same numbers.


@dataclass(frozen=True)
class Scenario:
    reading: str
    pricing: str
    demand: str
    floor: int  # minimum nodes per site (config minReplicasPerRegion >= 1; 0 only through the API)
    survive_site_loss: bool


def problem_for(s: Scenario) -> SizingProblem:
    """The case as a SizingProblem: sites as regions, the ratings as rps_per_node, one GPU per node."""
    if s.reading not in READINGS or s.pricing not in PRICINGS:
        raise ValueError(f"unknown reading/pricing {s.reading!r}/{s.pricing!r}")
    candidates = []
    for i, site in enumerate(SITES):
        ratings = (RATINGS_QPS[i],) if s.reading == "per-site" else RATINGS_QPS
        for rating in ratings:
            price = 1.0 if s.pricing == "node" else rating / 1000.0
            candidates.append(Candidate(region=site.name, instance_type=f"node-{rating:.0f}",
                                        gpu_model=f"rated-{rating:.0f}", gpu_count=1, rps_per_node=rating,
                                        usd_per_hour=price))
    rtt = rtt_table()
    demand = DEMANDS[s.demand]
    kept = [i for i, d in enumerate(demand) if d > 0]
    return SizingProblem(
        regions=tuple(site.name for site in SITES),
        candidates=tuple(candidates),
        geos=tuple(Geo(GEOS[i].name, demand[i]) for i in kept),
        rtt_ms=tuple(rtt[i] for i in kept),
        normal_budget_ms=NORMAL_MS,
        failover_budget_ms=FAILOVER_MS,
        util_normal=UTIL_NORMAL,
        util_failover=UTIL_FAILOVER,
        min_replicas=s.floor,
        survive_region_loss=s.survive_site_loss,
    )


@dataclass(frozen=True)
class Answer:
    scenario: Scenario
    problem: SizingProblem
    plan: SizingPlan

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sum(self.plan.replicas.get(site.name, {}).values()) for site in SITES)

    @property
    def capacity_qps(self) -> float:
        return sum(g.capacity_rps for g in self.plan.node_groups)

    def site_cell(self, i: int) -> str:
        """Nodes at site i, with their ratings when a site may mix types (e.g. "1x2000")."""
        groups = sorted((g for g in self.plan.node_groups if g.region == SITES[i].name and g.nodes),
                        key=lambda g: g.capacity_rps / g.nodes)
        if not groups:
            return "0"
        if self.scenario.reading == "per-site":
            return str(sum(g.nodes for g in groups))
        return "+".join(f"{g.nodes}x{g.capacity_rps / g.nodes:.0f}" for g in groups)


def answer(s: Scenario) -> Answer:
    problem = problem_for(s)
    plan = solve(problem)
    bad = check_plan(problem, plan)  # solve() checks too; a study quoting numbers checks what it quotes
    if bad:
        raise AssertionError(f"{s}: {bad}")
    return Answer(s, problem, plan)


def min_failover_budget_ms(demand: str = "even") -> tuple[float, str, str]:
    """The smallest failover budget under which every single-site loss leaves every user a site in reach:
    (budget, geography, lost site) of the binding pair. Below it, N-1 is infeasible whatever the nodes."""
    rtt = rtt_table()
    worst = (0.0, "", "")
    for g, d in enumerate(DEMANDS[demand]):
        if d <= 0:
            continue
        for lost in range(len(SITES)):
            nearest = min(rtt[g][j] for j in range(len(SITES)) if j != lost)
            worst = max(worst, (nearest, GEOS[g].name, SITES[lost].name))
    return worst


def scenarios() -> list[Scenario]:
    """The table's rows. Floor 1 is the case's own shape (a node at every site); floor 0 is cost alone
    (API only); floor 2 is the program's default. Pricing and the any-site reading vary only where they
    can change the answer (with one type per site and a floor >= 1, pricing cannot)."""
    out = [Scenario("per-site", "node", d, floor, n1) for d in DEMANDS for floor in (0, 1) for n1 in (False, True)]
    out += [Scenario("per-site", "qps", d, 0, n1) for d in DEMANDS for n1 in (False, True)]
    out += [Scenario("any-site", p, "even", floor, n1) for p in PRICINGS for floor in (0, 1) for n1 in (False, True)]
    out.append(Scenario("per-site", "node", "even", 2, True))
    return out


@functools.cache
def answers() -> tuple[Answer, ...]:
    return tuple(answer(s) for s in scenarios())


# ---------------------------------------------------------------------------------------------------
# Part 3: which rules would give 2/1/1 (per-site reading, capacity only: every site may serve every
# user, true at the failover budget; brute force over 0..4 nodes per site, fewest nodes then lowest cost).


def fewest_nodes(floor: int, survive: int, util: float, ratings: Sequence[float] = RATINGS_QPS,
                 demand: float = DEMAND_QPS, max_nodes: int = 4) -> list[tuple[int, ...]]:
    """Every node vector (per site) with the fewest nodes such that each site has >= `floor` nodes and
    the demand fits at `util` in the surviving sites after the loss of any `survive` sites."""
    best: list[tuple[int, ...]] = []
    best_count = None
    k = len(ratings)
    for n in itertools.product(range(max_nodes + 1), repeat=k):
        if min(n) < floor:
            continue
        cap = [n[i] * ratings[i] * util for i in range(k)]
        if any(sum(cap[i] for i in range(k) if i not in lost) < demand - 1e-9
               for lost in itertools.combinations(range(k), survive)):
            continue
        count = sum(n)
        if best_count is None or count < best_count:
            best, best_count = [n], count
        elif count == best_count:
            best.append(n)
    return best


def utilisation_range_for(target: tuple[int, ...], floor: int, survive: int) -> tuple[float, float] | None:
    """The utilisation targets (grid of 0.01) at which `target` is the unique fewest-node answer."""
    hits = [u / 100 for u in range(5, 101) if fewest_nodes(floor, survive, u / 100) == [target]]
    return (min(hits), max(hits)) if hits else None


def vertex_with_spare(value: Sequence[float], cost: Sequence[float], util: float = UTIL_NORMAL,
                      floor: int = 1) -> tuple[int, ...]:
    """The design LP's answer made into nodes with node-level N+1: the loaded site gets the nodes its share
    needs at `util` plus one spare, every other site `floor` nodes."""
    shares = design_lp(value, cost, DEMAND_QPS)
    needed = nodes_for_shares(shares, RATINGS_QPS, util)
    return tuple(n + 1 if q > 0 else floor for n, q in zip(needed, shares, strict=True))


# ---------------------------------------------------------------------------------------------------
# The report (markdown, quoted verbatim in docs/sizing.md).


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 else f"{x:,.1f}"


def _mean_rtt_even() -> list[float]:
    """L(i) for the illustration: the mean RTT to site i of the even split's users."""
    rtt, even = rtt_table(), DEMANDS["even"]
    return [sum(even[g] * rtt[g][i] for g in range(len(GEOS))) / DEMAND_QPS for i in range(len(SITES))]


def report_lp() -> list[str]:
    rtt = rtt_table()
    mean_rtt = _mean_rtt_even()
    lines = ["RTT estimates (ms; 5 ms + 1.4 x great-circle km / 100):", "",
             "| from \\ to | " + " | ".join(s.name for s in SITES) + " |", "|---|" + "---|" * len(SITES)]
    lines += [f"| {g.name} | " + " | ".join(f"{v:.1f}" for v in rtt[i]) + " |" for i, g in enumerate(GEOS)]
    lines += ["", "The design LP, solved by HiGHS (T = 500; P(i) = rating, L(i) = mean RTT of the even split, "
              "an illustration: the case gives no P or L):", "",
              "| variant | P | L | Q (Beijing, Shanghai, Silicon Valley) | argmax P-L | nodes at 70% |",
              "|---|---|---|---|---|---|"]
    variants = [
        ("as written", list(RATINGS_QPS), mean_rtt, None),
        ("Q(i) <= one node at 70%", list(RATINGS_QPS), mean_rtt, [UTIL_NORMAL * r for r in RATINGS_QPS]),
        ("P equal, L = RTT", [1.0, 1.0, 1.0], mean_rtt, None),
        ("P - L tied", [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], None),
    ]
    for name, p, ell, upper in variants:
        q = design_lp(p, ell, DEMAND_QPS, upper)
        best = "/".join(SITES[i].name for i in vertex_sites(p, ell))
        nodes = nodes_for_shares(q, RATINGS_QPS, UTIL_NORMAL)
        lines.append(f"| {name} | {', '.join(_fmt(v) for v in p)} | {', '.join(f'{v:.1f}' for v in ell)} | "
                     f"{', '.join(_fmt(v) for v in q)} | {best} | {'/'.join(map(str, nodes))} |")
    return lines


def report_program(rows: Sequence[Answer]) -> list[str]:
    lines = ["This program's sizing (`infra.planning.sizing.solve`; normal budget 60 ms, failover 160 ms, "
             "utilisation 0.7 normal / 0.9 after a loss; cost = nodes for `node` pricing, "
             "sum of rating/1000 for `qps`):", "",
             "| reading | pricing | demand | floor | N-1 | Beijing | Shanghai | Silicon Valley | nodes | "
             "capacity QPS | cost/h | max normal util | worst util after a loss |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for a in rows:
        s, plan = a.scenario, a.plan
        used = [h for h in plan.headroom if h.capacity_rps > 0]
        worst = max((h.worst_failover_utilization for h in used), default=0.0)
        lines.append(
            f"| {s.reading} | {s.pricing} | {s.demand} | {s.floor} | {'yes' if s.survive_site_loss else 'no'} | "
            + " | ".join(a.site_cell(i) for i in range(3))
            + f" | {sum(a.nodes)} | {_fmt(a.capacity_qps)} | {plan.hourly_cost:.2f} | "
            f"{max(h.normal_utilization for h in used):.0%} | "
            + (f"{worst:.0%}" if s.survive_site_loss else "-") + " |")
    return lines


def report_failover(a: Answer) -> list[str]:
    s = a.scenario
    lines = [f"Where the load goes ({s.reading}, {s.pricing} pricing, {s.demand} demand, floor {s.floor}, "
             f"N-1; QPS per site):", "",
             "| state | " + " | ".join(site.name for site in SITES) + " |", "|---|" + "---|" * len(SITES)]

    def row(state: str, routing) -> str:
        load = [sum(per.get(site.name, 0.0) for per in routing.values()) for site in SITES]
        return f"| {state} | " + " | ".join(_fmt(round(v, 1)) for v in load) + " |"

    lines.append(row("normal", a.plan.routing))
    for site in SITES:
        if site.name in a.plan.failover:
            lines.append(row(f"{site.name} lost", a.plan.failover[site.name]))
    return lines


def report_rules() -> list[str]:
    lines = ["Which rules give 2/1/1 (per-site reading; fewest nodes such that every site has `floor` nodes "
             "and the 500 QPS fit at the utilisation target after losing any `lost` sites):", "",
             "| floor | sites lost | answer at 70% | utilisation targets giving exactly 2/1/1 |", "|---|---|---|---|"]
    for floor in (0, 1, 2):
        for survive in (0, 1, 2):
            found = fewest_nodes(floor, survive, UTIL_NORMAL)
            span = utilisation_range_for(STATED, floor, survive)
            answers_text = " or ".join("/".join(map(str, n)) for n in found)
            lines.append(f"| {floor} | {survive} | {answers_text} | "
                         + (f"{span[0]:.2f}-{span[1]:.2f}" if span else "none") + " |")
    mean_rtt = _mean_rtt_even()
    lines += ["", "| the design LP's site, + 1 spare node there, 1 node elsewhere | answer |", "|---|---|"]
    for name, p in (("P = rating, L = mean RTT", list(RATINGS_QPS)), ("P equal, L = mean RTT", [1.0, 1.0, 1.0])):
        lines.append(f"| {name} | {'/'.join(map(str, vertex_with_spare(p, mean_rtt)))} |")
    stated_cap = sum(n * r for n, r in zip(STATED, RATINGS_QPS, strict=True))
    lines += ["", f"2/1/1 read per site = {_fmt(stated_cap)} QPS of raw capacity for {_fmt(DEMAND_QPS)} QPS "
              f"({stated_cap / DEMAND_QPS:.0f}x); read as any type at any site, 4 nodes = "
              f"{_fmt(4 * min(RATINGS_QPS))}-{_fmt(4 * max(RATINGS_QPS))} QPS "
              f"({4 * min(RATINGS_QPS) / DEMAND_QPS:.0f}x-{4 * max(RATINGS_QPS) / DEMAND_QPS:.0f}x)."]
    return lines


FAILOVER_SHOWN = (Scenario("per-site", "node", "even", 1, True), Scenario("per-site", "node", "china-north", 0, True),
                  Scenario("any-site", "node", "even", 0, True))


def report() -> str:
    rows = answers()
    by_scenario = {a.scenario: a for a in rows}
    parts = [report_lp(), report_program(rows)]
    parts += [report_failover(by_scenario[s]) for s in FAILOVER_SHOWN]
    budget, geo, lost = min_failover_budget_ms("even")
    parts.append([f"N-1 with `even` demand needs a failover budget of at least {budget:.1f} ms ({geo} users "
                  f"when {lost} is lost); below it no number of nodes survives that loss."])
    parts.append(report_rules())
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


if __name__ == "__main__":
    print(report(), end="")
