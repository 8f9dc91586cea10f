"""The rounding reserve: failover room kept free so Route 53's whole weights can realise the plan.

The sizing routes in continuous fractions; the record tree (infra.planning.traffic) realises them
with integer weights of at most 255 per weighted set. Filling a region's failover capacity to the
exact ceiling leaves no room for that rounding ("... cannot be placed in whole DNS weights"). So,
when `SizingProblem.weight_units` is set, every region r keeps `reserve[f, r]` rps of its failover
room (util_failover x K[r]) free in every single-loss state, in the capacity cuts and in the
routing tables alike.

Bound (N = weight_units, the fewest units a weighted set is rounded to; the planner uses
floor(255 / largest share) >= 255). While region f is lost, region r's realised load exceeds the
plan's failover table by less than 3 x D_r / N, D_r = demand of the geographies that may reach r:
  - normal weights: largest-remainder shares are within 1/N of the plan's, so each geography g
    routed to r puts less than d_g / N above its planned rps there;
  - g's displaced share (its weight on f) is then d_g / N above plan at most, and it is spread over
    the regions the failover table adds traffic to in units of (displaced / N), each region getting
    fewer than share x units + 1 units: less than (d_g / N) x share + d_g / N above the table.
That needs the failover table to keep every surviving region's normal traffic in place (no chain
of moves), which the routing's reduced form does whenever it fits; the sizing CLI and the preview
check the realised tree anyway (infra.planning.sizing.dns_problems), so no unrealisable plan is
accepted even where the bound's premise fails.
"""

from __future__ import annotations

import numpy as np

from infra.planning.sizing.problem import SizingProblem


# Route 53 weighted records take weights 0-255
# (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-weighted.html);
# problem.DNS_WEIGHT_UNITS is that number.
def rounding_reserve(problem: SizingProblem) -> np.ndarray:
    """reserve[f, r]: rps of region r's failover room left free while region f is lost (0 without
    `weight_units`). Only geographies that can be on r normally (normal budget) add their normal
    rounding, only those that can be on f normally and reach r in failover add the displaced terms."""
    n_reg = len(problem.regions)
    if not problem.weight_units or not problem.geos:
        return np.zeros((n_reg, n_reg))
    rtt = np.asarray(problem.rtt_ms, dtype=float).reshape(len(problem.geos), n_reg)
    normal = (rtt <= problem.normal_budget_ms).astype(float)
    failover = (rtt <= problem.failover_budget_ms).astype(float)
    demand = np.array([g.rps for g in problem.geos], dtype=float)
    on_r = demand @ normal  # per region r: demand that may be routed to r normally
    displaced = (normal * demand[:, None]).T @ failover  # [f, r]: demand on f normally that may move to r
    reserve = (on_r[None, :] + 2.0 * displaced) / problem.weight_units
    np.fill_diagonal(reserve, 0.0)
    return reserve


def leaves_reserve(problem: SizingProblem, capacity: dict[str, float],
                   failover: dict[str, dict[str, dict[str, float]]]) -> bool:
    """Do the plan's failover tables keep the rounding reserve free in every region (weight_units of
    `problem`)? Then whole weights realise them within the ceiling (the bound above)."""
    reserve = rounding_reserve(problem)
    index = {r: j for j, r in enumerate(problem.regions)}
    for lost, table in failover.items():
        load = dict.fromkeys(problem.regions, 0.0)
        for per in table.values():
            for region, rps in per.items():
                load[region] += rps
        f = index[lost]
        if any(load[r] > problem.util_failover * capacity[r] - reserve[f, index[r]] + 1e-9
               for r in problem.regions if r != lost):
            return False
    return True
