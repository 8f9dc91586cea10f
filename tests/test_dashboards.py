"""Dashboards from the plan: every query is valid (PromQL parsed, CloudWatch bodies and Cloud Monitoring
dashboards checked against their documented structure), every line drawn is the number the alerts use,
and the stacks declare a global view and one per region."""

from __future__ import annotations

import copy
import json
from functools import cache

import promql_parser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.planning import dashboards as dash
from infra.planning.dashboards import DashboardPlan, DashboardRegion
from infra.planning.monitoring import MonitoringPlan, RegionTargets, Slo, region_alerts
from infra.planning.plan import plan_for_stack_file
from infra.rehearsal.names import NAME_RULES, UNNAMED, name_problems
from tests.factories import ROOT

CW = "aws:cloudwatch/dashboard:Dashboard"
GCP = "gcp:monitoring/dashboard:Dashboard"


@cache
def views(stack: str) -> DashboardPlan:
    plan = plan_for_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    out = dash.dashboard_plan(plan, stack)
    assert out is not None
    return out


def lbs(d: DashboardPlan) -> dict[str, str]:
    return {r.region: f"app/{r.region}-alb-1a2b3c4/0123456789abcdef" for r in d.aws}


def every_body(d: DashboardPlan):
    yield "global", dash.cloudwatch_global_body(d, lbs(d))
    for r in d.aws:
        yield r.region, dash.cloudwatch_region_body(d, r, lbs(d)[r.region])


# ---- the queries are valid ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_grafana_expression_parses_as_promql(stack):
    d = views(stack)
    for r in d.regions.values():
        exprs = dash.grafana_expressions(dash.grafana_region_dashboard(d, r))
        assert len(exprs) > 20
        for expr in exprs:
            promql_parser.parse(expr)  # raises on a syntax error


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_cloudwatch_body_follows_the_documented_structure(stack):
    d = views(stack)
    bodies = dict(every_body(d))
    assert set(bodies) == {"global", *(r.region for r in d.aws)}
    for scope, body in bodies.items():
        assert dash.cloudwatch_body_problems(body) == [], scope
        assert cw_name_ok(d.cloudwatch_name(scope))


def cw_name_ok(name: str) -> bool:
    return dash.CLOUDWATCH_NAME.match(name) is not None and not name_problems(NAME_RULES[CW], name, 0)


@pytest.mark.parametrize("broken, complaint", [
    (lambda b: b.update(widgets=[]), "non-empty array"),
    (lambda b: b["widgets"][1].update(x=20, width=12), "24-column grid"),
    (lambda b: b["widgets"][1].update(type="graph"), "type 'graph'"),
    (lambda b: b["widgets"][1]["properties"].pop("region"), "needs `region`"),
    (lambda b: b["widgets"][1]["properties"].update(period=90), "multiple of 60"),
    (lambda b: b["widgets"][1]["properties"].update(metrics="RequestCount"), "array of arrays"),
    (lambda b: b["widgets"][1]["properties"]["metrics"][0].__setitem__(-1, {"id": "Requests"}), "lowercase"),
    (lambda b: b["widgets"][1]["properties"]["metrics"].append(["AWS/ApplicationELB", "RequestCount", "LoadBalancer"]),
     "dimension name/value pairs"),
    (lambda b: b["widgets"][1]["properties"]["metrics"].append([{"label": "no expression"}]), "`expression`"),
    (lambda b: b["widgets"][0]["properties"].pop("markdown"), "needs `markdown`"),
    (lambda b: b["widgets"][1]["properties"]["annotations"]["horizontal"].append({"value": "70"}), "numeric"),
])
def test_a_body_off_the_documented_structure_is_caught(broken, complaint):
    d = views("prod")
    body = copy.deepcopy(dash.cloudwatch_region_body(d, d.aws[0], "app/x/1"))
    broken(body)
    problems = dash.cloudwatch_body_problems(body)
    assert any(complaint in p for p in problems), problems


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_gcp_dashboard_has_a_valid_layout_and_queries(stack):
    d = views(stack)
    boards = [dash.gcp_global_dashboard(d)] + [dash.gcp_region_dashboard(d, r) for r in d.gcp]
    assert len(boards) == 1 + len(d.gcp) > 1
    for board in boards:
        assert dash.gcp_dashboard_problems(board) == [], board["displayName"]


def test_a_gcp_dashboard_off_its_shape_is_caught():
    d = views("prod")
    board = dash.gcp_region_dashboard(d, d.gcp[0])
    bad = copy.deepcopy(board)
    bad["mosaicLayout"]["tiles"][1]["xPos"] = 40
    assert any("outside" in p for p in dash.gcp_dashboard_problems(bad))
    bad = copy.deepcopy(board)
    del bad["mosaicLayout"]["tiles"][1]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"][
        "timeSeriesFilter"]["aggregation"]
    assert any("aggregation" in p for p in dash.gcp_dashboard_problems(bad))


# ---- the lines are the plan's numbers ---------------------------------------------------------------------

def test_load_lines_are_the_thresholds_the_alerts_fire_at():
    d = views("prod")
    for r in d.regions.values():
        alerts = {a["alert"]: a["expr"] for a in region_alerts(r.targets, d.monitoring.load_tolerance)}
        lines = dict(dash.plan_lines(r.targets, d.monitoring.load_tolerance))
        above = next(v for k, v in lines.items() if k.startswith("load above plan"))
        n1 = next(v for k, v in lines.items() if k.startswith("N-1"))
        assert float(alerts["RegionLoadAbovePlan"].rsplit(">", 1)[1]) == pytest.approx(above, rel=1e-4)
        assert float(alerts["FleetN1HeadroomGone"].rsplit(">", 1)[1]) == pytest.approx(n1, rel=1e-4)
        assert lines["planned"] == pytest.approx(r.targets.planned_rps, rel=1e-4)


def test_a_region_dashboard_draws_its_floor_budget_and_concurrency():
    d = views("prod")
    r = d.regions["use1"]
    body = dash.cloudwatch_region_body(d, r, "app/use1/1")
    annotations = {w["properties"]["title"]: {a["label"]: a["value"] for a in
                                              w["properties"].get("annotations", {}).get("horizontal", [])}
                   for w in body["widgets"] if w["type"] == "metric"}
    assert annotations["use1: healthy servers vs floor"] == {"servers floor (plan)": r.targets.servers_floor}
    budget = annotations["use1: response time percentiles vs budget (s)"]
    assert budget == {"latency budget (TTFT SLO)": d.monitoring.slo.ttft_seconds}
    grafana = {p["title"]: [t["expr"] for t in p["targets"]] for p in dash.grafana_region_dashboard(d, r)["panels"]}
    assert f"vector({r.targets.concurrency_per_server})" in grafana["Queue and running per server vs concurrency"]
    assert f"vector({r.targets.servers_floor})" in grafana["Model servers vs floor"]
    assert "vector(2.5)" in grafana["Time to first token vs budget (s)"]
    assert {"Database members healthy", "GPU last XID error (0 = none)", "KV cache usage (max over servers)",
            "Error ratio (5xx of model requests)"} <= set(grafana)


def test_the_global_views_show_every_region_and_point_at_each_other():
    d = views("prod")
    body = dash.cloudwatch_global_body(d, lbs(d))
    table = body["widgets"][0]["properties"]["markdown"]
    assert all(f"| {r} |" in table for r in d.regions)
    assert d.gcp_name("global") in table, "the AWS global view names where the GCP regions' load is"
    health = body["widgets"][1]["properties"]
    assert health["region"] == "us-east-1" and "HealthCheckStatus" in health["metrics"][0][0]["expression"]
    loads = [w["properties"]["region"] for w in body["widgets"][2:]]
    assert loads == [r.location for r in d.aws]
    gcp = dash.gcp_global_dashboard(d)
    assert d.cloudwatch_name("global") in gcp["mosaicLayout"]["tiles"][0]["widget"]["text"]["content"]


@settings(max_examples=40, deadline=None)
@given(planned=st.floats(0.1, 1e4), util=st.floats(0.05, 0.95), floor=st.integers(1, 500),
       n1=st.one_of(st.just(float("inf")), st.floats(1.0, 5.0)), seqs=st.integers(1, 1024),
       regions=st.integers(1, 12))
def test_any_plan_gives_valid_bodies_with_no_overlapping_widgets(planned, util, floor, n1, seqs, regions):
    names = [f"r{i}" for i in range(regions)]
    targets = {n: RegionTargets(n, planned, planned / util, floor, n1, seqs) for n in names}
    d = DashboardPlan("prod", MonitoringPlan(Slo(), targets), {
        n: DashboardRegion(n, "aws" if i % 2 == 0 else "gcp", "us-east-1" if i % 2 == 0 else "europe-west4",
                           targets[n], util, min(util * 1.3, 1.0), (("gpu", floor, floor * 2, seqs),))
        for i, n in enumerate(names)})
    for _, body in every_body(d):
        assert dash.cloudwatch_body_problems(body) == []
        cells = set()
        for w in body["widgets"]:
            mine = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
            assert not cells & mine, "widgets overlap"
            cells |= mine
    for board in [dash.gcp_global_dashboard(d)] + [dash.gcp_region_dashboard(d, r) for r in d.gcp]:
        assert dash.gcp_dashboard_problems(board) == []


# ---- declared by the stacks --------------------------------------------------------------------------------

def test_dashboard_types_have_name_rules():
    assert CW in NAME_RULES and NAME_RULES[CW].suffix == 0, "dashboard_name is required: no auto-naming"
    assert GCP in UNNAMED
    assert name_problems(NAME_RULES[CW], "rollout prod use1", 0), "a space is not allowed in a dashboard name"
    assert name_problems(NAME_RULES[CW], "x" * 256, 0)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_declares_a_global_and_a_per_region_dashboard(stack, request):
    run = request.getfixturevalue(f"{stack}_run")
    d = views(stack)
    cw = {r.inputs["dashboardName"]: r.inputs for r in run.of_type(CW)}
    assert set(cw) == {d.cloudwatch_name(s) for s in ["global", *(r.region for r in d.aws)]}
    assert cw[d.cloudwatch_name("global")]["region"] == "us-east-1"
    for r in d.aws:
        inputs = cw[d.cloudwatch_name(r.region)]
        assert inputs["region"] == r.location
        body = json.loads(inputs["dashboardBody"])
        assert dash.cloudwatch_body_problems(body) == []
        dims = {m[3] for w in body["widgets"] for m in w["properties"].get("metrics", [])
                if len(m) > 3 and m[2] == "LoadBalancer"}
        assert len(dims) == 1 and next(iter(dims)).startswith("app/"), "the ALB's own ARN suffix, not a guess"
    boards = {json.loads(r.inputs["dashboardJson"])["displayName"] for r in run.of_type(GCP)}
    assert boards == {d.gcp_name(s) for s in ["global", *(r.region for r in d.gcp)]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_aws_serving_region_has_its_load_balancer_5xx_alarm(stack, request):
    run = request.getfixturevalue(f"{stack}_run")
    d = views(stack)
    alarms = {a.inputs["region"]: a.inputs for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if a.name.endswith("-alb-5xx")}
    assert set(alarms) == {r.location for r in d.aws}
    for loc, alarm in alarms.items():
        dims = {q["metric"]["dimensions"]["LoadBalancer"] for q in alarm["metricQueries"] if q.get("metric")}
        assert len(dims) == 1 and next(iter(dims)).startswith("app/"), loc


def test_the_grafana_model_of_a_region_prints_from_the_stack_file():
    from infra.planning.dashboards_cli import main
    from tests.previews import run_cli

    done = run_cli(main, "--stack", "prod", "--region", "euw4")
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert model["uid"] == "rollout-prod-euw4" and model["templating"]["list"][0]["type"] == "datasource"
    wrong = run_cli(main, "--stack", "prod", "--region", "mars1")
    assert wrong.returncode == 2 and "use1" in wrong.stderr
