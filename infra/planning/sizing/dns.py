"""Can Route 53 realise a sizing plan? The preview's own check, run on the sizing's result.

The record tree is built by infra.planning.traffic and judged by infra.planning.resolver exactly as
the preview does (`build_plan`); the sizing adds one stricter rule: whole-weight rounding may not put
any region above capacity x failover ceiling in any single-loss state (the preview tolerates a
rounding overshoot on pinned plans; a fresh plan leaves room for it, reserve.py).
"""

from __future__ import annotations

from infra.config import RolloutConfig
from infra.errors import ConfigError
from infra.planning.sizing.plan import SizingPlan


def dns_problems(cfg: RolloutConfig, sizing: SizingPlan, *, strict: bool = True) -> list[str]:
    """Why the stack's record tree cannot realise `sizing` (empty = it can), as the preview checks it."""
    # imported here: infra.planning.traffic imports the sizing package (plan types)
    from infra.planning.resolver import check_traffic
    from infra.planning.traffic import traffic_from_config

    try:
        traffic = traffic_from_config(cfg, sizing)
    except ConfigError as exc:
        weights = [p for p in exc.problems if "whole DNS weights" in p]
        if weights or not sizing.routing:
            return weights
        # The traffic section itself is invalid (the preview names it, whatever the plan): judge the
        # weights anyway, with one stand-in country per geography.
        try:
            traffic = _with_stand_in_locations(cfg, sizing)
        except ConfigError as again:
            return list(again.problems)
    problems = check_traffic(traffic)
    if strict and traffic.rounding_overshoot > 0:
        problems += [f"{line} (up to {traffic.rounding_overshoot:.3f} rps above the failover ceiling)"
                     for line in traffic.adapted if "rounding slack" in line]
    return problems


def _with_stand_in_locations(cfg: RolloutConfig, sizing: SizingPlan):
    from infra.planning.geolocations import COUNTRIES
    from infra.planning.traffic import plan_traffic

    countries = sorted(COUNTRIES)
    geos = [d.geography for d in cfg.demand]
    # The stand-ins judge the weights only: the countries they leave uncovered go to the counted rest of
    # the world when the config counts it, and are otherwise refused (a missing restOfWorld is one of the
    # config's own problems, named with the others by the preview, not in place of them).
    rest = cfg.rest_of_world
    counted = rest is not None and not rest.refuse and rest.rps is not None
    return plan_traffic(sizing, domain=cfg.domain, ceiling=cfg.utilization.failover_ceiling,
                        coordinates={d.geography: d.coordinates for d in cfg.planned_demand},
                        overrides={g: [countries[i % len(countries)]] for i, g in enumerate(geos)},
                        rest_of_world="counted" if counted else "refused")
