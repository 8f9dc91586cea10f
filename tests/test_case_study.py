"""Specification of the origin case study (infra.planning.case_study, docs/sizing.md "The origin case study").

The design document's objective is a linear program on the simplex, so its optimum is a vertex; this
program's sizing meets the demand (and every single-site loss when asked); the rules the docs name as
giving 2/1/1 do; and the tables in the docs are the ones the command prints.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.errors import ConfigError
from infra.planning import case_study as cs
from infra.planning.sizing import check_plan, solve

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- case-study:begin -->", "<!-- case-study:end -->"

values = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(st.lists(values, min_size=n, max_size=n),
                                                     st.lists(values, min_size=n, max_size=n))),
       st.floats(min_value=1.0, max_value=1e5))
def test_the_design_objective_puts_all_load_on_the_sites_with_the_best_p_minus_l(pl, total):
    p, ell = pl
    q = cs.design_lp(p, ell, total)
    margin = np.asarray(p) - np.asarray(ell)
    best = margin.max()
    assert q.sum() == pytest.approx(total, rel=1e-9)
    assert float(margin @ q) == pytest.approx(best * total, rel=1e-7, abs=1e-6 * total)
    # every site whose margin is clearly worse than the best gets nothing
    clearly_worse = margin < best - 1e-6 * max(1.0, abs(best))
    assert q[clearly_worse].sum() <= 1e-6 * total
    assert set(np.flatnonzero(q > 1e-6 * total)) <= set(cs.vertex_sites(p, ell, tol=1e-6 * max(1.0, abs(best))))


def test_a_tie_leaves_the_split_open_and_the_lp_has_no_node_counts():
    assert cs.vertex_sites([1, 1, 1], [0, 0, 0]) == (0, 1, 2)
    q = cs.design_lp([1, 1, 1], [0, 0, 0], 500)
    assert q.sum() == pytest.approx(500)
    # even the best case of "shares to nodes" gives one node for 500 QPS, not four
    assert sum(cs.nodes_for_shares(q, cs.RATINGS_QPS, 0.7)) == 1


def test_every_answer_of_the_program_meets_the_demand_and_passes_the_independent_check():
    for a in cs.answers():
        assert check_plan(a.problem, a.plan) == []
        served = sum(sum(per.values()) for per in a.plan.routing.values())
        assert served == pytest.approx(a.problem.total_rps, rel=1e-6)
        assert all(n >= a.scenario.floor for n in a.nodes)


def _survives_every_site_loss(a: cs.Answer) -> bool:
    """Capacity-only N-1 oracle: every user reaches every site within the failover budget here, so a
    loss is survivable iff the other sites' capacity at the failover ceiling covers all demand."""
    cap = [sum(g.capacity_rps for g in a.plan.node_groups if g.region == site.name) for site in cs.SITES]
    assert max(max(row) for row in a.problem.rtt_ms) <= cs.FAILOVER_MS
    return all((sum(cap) - lost) * cs.UTIL_FAILOVER >= cs.DEMAND_QPS - 1e-6 for lost in cap)


def test_n_minus_1_answers_survive_each_site_loss_and_the_flag_matters():
    with_n1 = [a for a in cs.answers() if a.scenario.survive_site_loss]
    assert with_n1 and all(_survives_every_site_loss(a) for a in with_n1)
    for a in with_n1:
        assert {site for site, types in a.plan.replicas.items() if any(types.values())} <= set(a.plan.failover)
        for lost, routing in a.plan.failover.items():
            assert all(per.get(lost, 0.0) == 0.0 for per in routing.values())
            assert sum(sum(per.values()) for per in routing.values()) == pytest.approx(cs.DEMAND_QPS, rel=1e-6)
    assert any(not _survives_every_site_loss(a) for a in cs.answers() if not a.scenario.survive_site_loss)


def test_the_program_never_answers_2_1_1_for_these_numbers():
    assert all(a.nodes != cs.STATED for a in cs.answers())


@pytest.mark.parametrize("util", [0.34, 0.4, 0.49])
def test_each_site_carrying_everything_below_50_percent_gives_2_1_1(util):
    assert cs.fewest_nodes(floor=0, survive=2, util=util) == [cs.STATED]


def test_the_bands_that_give_2_1_1_end_where_the_docs_say():
    assert cs.fewest_nodes(floor=0, survive=2, util=0.5) == [(1, 1, 1)]  # 500 QPS = 50% of a 1000-QPS node
    assert cs.fewest_nodes(floor=0, survive=2, util=0.33) != [cs.STATED]  # Shanghai needs 2 below 1/3
    assert cs.fewest_nodes(floor=1, survive=1, util=0.15) == [cs.STATED]  # N-1 only at 1/7 <= u < 1/6
    assert cs.fewest_nodes(floor=1, survive=1, util=0.7) == [(1, 1, 1)]
    assert cs.vertex_with_spare([1.0, 1.0, 1.0], cs._mean_rtt_even()) == cs.STATED


def test_docs_quote_what_the_command_prints():
    """`python -m infra.planning.case_study` prints `report()`; the docs quote it between the markers."""
    printed = cs.report()
    docs = (ROOT / "docs" / "sizing.md").read_text()
    quoted = docs.split(BEGIN, 1)[1].split(END, 1)[0]
    assert quoted.strip() == printed.strip()


def test_the_stated_minimum_failover_budget_is_where_the_program_stops_refusing_n_minus_1():
    budget, _, lost = cs.min_failover_budget_ms("even")
    assert lost == "silicon-valley"  # the only site on its side of the Pacific
    base = cs.problem_for(cs.Scenario("per-site", "node", "even", 1, True))
    assert check_plan(base, solve(replace(base, failover_budget_ms=budget))) == []
    with pytest.raises(ConfigError):
        solve(replace(base, failover_budget_ms=budget - 0.1))
