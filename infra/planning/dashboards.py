"""Dashboards as code, from the plan: one global view and one per region, in the consoles an operator
already has (docs/monitoring.md "Dashboards" says why these and not a Grafana to install).

Pure (no pulumi import). Three renderings of the same plan numbers:

- CloudWatch dashboard bodies (AWS side): a global view in the Route 53 metrics region (every region's
  health check, every AWS region's load against its plan, the plan table with the N-1 factor) and one
  per AWS region (load vs plan, latency percentiles vs the latency budget, 5xx share, healthy servers vs
  the floor, VPN tunnels, certificate days). Body structure:
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
- Cloud Monitoring dashboards (GCP side): a global view of the GCP regions and one per GCP region, in
  the `projects.dashboards` JSON (https://cloud.google.com/monitoring/api/ref_v3/rest/v1/projects.dashboards).
- A Grafana dashboard JSON model per region over the region's own Prometheus: the model servers' own
  series (servers vs floor, time-to-first-token percentiles vs budget, queue and running requests vs the
  per-server concurrency, KV cache, error ratio), GPUs (DCGM exporter) and the database (MongoDB
  exporter). https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/

The plan's numbers appear as threshold lines (CloudWatch horizontal annotations, Cloud Monitoring
thresholds, Grafana constant series), so "above the line" means what the alerts of
infra/planning/monitoring.py mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.planning.monitoring import MODEL_ROUTES, MonitoringPlan, RegionTargets

ROUTE53_METRICS_REGION = "us-east-1"  # Route 53 publishes health-check metrics only there
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-status.html

# CloudWatch PutDashboard: DashboardName up to 255 characters, A-Z a-z 0-9 - _
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
CLOUDWATCH_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
CLOUDWATCH_GRID = 24  # the body's grid is 24 columns wide (Body-Structure: "x ... 0-23", "width ... 1-24")
GCP_COLUMNS = 48  # mosaicLayout columns (https://cloud.google.com/monitoring/api/ref_v3/rest/v1/projects.dashboards#mosaiclayout)

# Exporter series the Grafana panels read (names at the exporters' pinned defaults):
# NVIDIA dcgm-exporter etc/default-counters.csv: DCGM_FI_DEV_GPU_UTIL (%), DCGM_FI_DEV_FB_USED/FREE (MiB),
# DCGM_FI_DEV_XID_ERRORS (last XID). https://github.com/NVIDIA/dcgm-exporter/blob/main/etc/default-counters.csv
# percona/mongodb_exporter: mongodb_rs_members_health, mongodb_rs_members_optimeDate (per member).
# https://github.com/percona/mongodb_exporter/blob/main/REFERENCE.md
# vLLM 0.24 (vllm/v1/metrics/loggers.py): the vllm:* series; e2e latency histogram vllm:e2e_request_latency_seconds.


@dataclass(frozen=True)
class DashboardRegion:
    """One region as its dashboards show it: where it is and what the plan promises there."""

    region: str
    cloud: str  # "aws" | "gcp"
    location: str
    targets: RegionTargets
    normal_utilization: float  # planned load / capacity in normal state
    worst_failover_utilization: float  # the same after the worst single-region loss
    pools: tuple[tuple[str, int, int, int], ...] = ()  # (pool, floor, ceiling, --max-num-seqs)


@dataclass(frozen=True)
class DashboardPlan:
    stack: str
    monitoring: MonitoringPlan
    regions: Mapping[str, DashboardRegion]
    lb_error_ratio: float = 0.05  # the 5xx share the clouds' alarms fire at (components/monitoring)
    certificate_days: int = 30

    @property
    def aws(self) -> list[DashboardRegion]:
        return [r for r in self.regions.values() if r.cloud == "aws"]

    @property
    def gcp(self) -> list[DashboardRegion]:
        return [r for r in self.regions.values() if r.cloud == "gcp"]

    def cloudwatch_name(self, scope: str) -> str:
        return f"rollout-{self.stack}-{scope}"

    def gcp_name(self, scope: str) -> str:
        return f"rollout {self.stack} {scope}"


def dashboard_plan(plan: Any, stack: str) -> DashboardPlan | None:
    """The dashboards of a RolloutPlan (duck-typed: regions, sizing headroom, serving, monitoring);
    None without a monitoring plan."""
    if plan.monitoring is None:
        return None
    headroom = {h.region: h for h in plan.sizing.headroom}
    out = {}
    for r in plan.regions:
        if r.name not in plan.monitoring.regions:
            continue
        h = headroom[r.name]
        serving = plan.serving.get(r.name)
        pools = tuple((p.pool, p.floor, p.ceiling, p.max_num_seqs) for p in serving.pools) if serving else ()
        out[r.name] = DashboardRegion(r.name, r.cloud, r.location, plan.monitoring.regions[r.name],
                                      h.normal_utilization, h.worst_failover_utilization, pools)
    return DashboardPlan(stack, plan.monitoring, out)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def plan_table(d: DashboardPlan, regions: Sequence[DashboardRegion]) -> str:
    """Markdown: what the plan promises per region, the numbers the lines on every chart come from."""
    slo = d.monitoring.slo
    n1 = next(iter(d.regions.values())).targets.n1_factor if d.regions else float("inf")
    lines = [f"### Plan of stack {d.stack}",
             f"SLO: availability {slo.availability:.4g}, {slo.latency:.4g} of first tokens within "
             f"{slo.ttft_seconds:g} s. Load above plan: > planned x {1 + d.monitoring.load_tolerance:.3g}. "
             f"N-1 headroom: demand may grow {n1:.3g}x before a single-region loss overloads another.",
             "", "| region | cloud | planned rps | capacity rps | utilisation | worst failover | servers floor |",
             "|---|---|---|---|---|---|---|"]
    for r in regions:
        t = r.targets
        lines.append(f"| {r.region} | {r.cloud} {r.location} | {_fmt(t.planned_rps)} | {_fmt(t.capacity_rps)} | "
                     f"{r.normal_utilization:.0%} | {r.worst_failover_utilization:.0%} | {t.servers_floor} |")
    return "\n".join(lines)


def plan_lines(t: RegionTargets, tolerance: float) -> list[tuple[str, float]]:
    """The plan's load lines of one region (rps): planned, alert, N-1 limit, capacity."""
    lines = [("planned", t.planned_rps), (f"load above plan (+{tolerance:.0%})", t.planned_rps * (1 + tolerance))]
    if t.n1_factor != float("inf"):
        lines.append((f"N-1 headroom gone (x{t.n1_factor:.3g})", t.planned_rps * t.n1_factor))
    lines.append(("capacity", t.capacity_rps))
    return [(label, round(value, 4)) for label, value in lines]


# ---- CloudWatch -------------------------------------------------------------------------------------------

class _Grid:
    """Lays widgets left to right, `per_row` to a row, on a grid `columns` wide."""

    def __init__(self, columns: int, width: int, height: int):
        self.columns, self.width, self.height = columns, width, height
        self.x = self.y = self.row_height = 0

    def place(self, width: int | None = None, height: int | None = None) -> tuple[int, int, int, int]:
        w, h = width or self.width, height or self.height
        if self.x + w > self.columns:
            self.x, self.y = 0, self.y + self.row_height
        at = (self.x, self.y, w, h)
        self.row_height = h if self.x == 0 else max(self.row_height, h)
        self.x += w
        return at


def _cw_widget(grid: _Grid, kind: str, properties: dict[str, Any], width: int | None = None,
               height: int | None = None) -> dict[str, Any]:
    x, y, w, h = grid.place(width, height)
    return {"type": kind, "x": x, "y": y, "width": w, "height": h, "properties": properties}


def _cw_metric(region: str, title: str, metrics: list[list[Any]], *, stat: str = "Sum", period: int = 60,
               lines: Sequence[tuple[str, float]] = (), label: str = "", stacked: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"view": "timeSeries", "stacked": stacked, "region": region, "title": title,
                             "metrics": metrics, "stat": stat, "period": period}
    if lines:
        props["annotations"] = {"horizontal": [{"label": lab, "value": value} for lab, value in lines]}
    if label:
        props["yAxis"] = {"left": {"label": label, "min": 0}}
    return props


def _search(expression: str, stat: str, period: int, label: str, mid: str) -> list[Any]:
    entry = {"expression": f"SEARCH('{expression}', '{stat}', {period})", "id": mid}
    return [{**entry, "label": label} if label else entry]


def cloudwatch_region_body(d: DashboardPlan, r: DashboardRegion, load_balancer: str) -> dict[str, Any]:
    """One AWS region: `load_balancer` is the ALB's ARN suffix (the `LoadBalancer` dimension,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html)."""
    t, loc, slo = r.targets, r.location, d.monitoring.slo
    lb = ["AWS/ApplicationELB"]
    grid = _Grid(CLOUDWATCH_GRID, 12, 6)
    widgets = [_cw_widget(grid, "text", {"markdown": plan_table(d, [r]) + (
        "\n\nThe model servers' own series (queue, running requests vs `--max-num-seqs`, KV cache, GPUs, "
        "database) are in the region's Prometheus: docs/monitoring.md \"Dashboards\".")}, width=24, height=5)]
    widgets.append(_cw_widget(grid, "metric", _cw_metric(loc, f"{r.region}: load vs plan (requests/s)", [
        [*lb, "RequestCount", "LoadBalancer", load_balancer, {"id": "requests", "visible": False}],
        [{"expression": "requests / PERIOD(requests)", "label": "requests/s", "id": "rps"}]],
        lines=plan_lines(t, d.monitoring.load_tolerance), label="requests/s")))
    widgets.append(_cw_widget(grid, "metric", _cw_metric(loc, f"{r.region}: response time percentiles vs budget (s)", [
        [*lb, "TargetResponseTime", "LoadBalancer", load_balancer, {"stat": stat, "label": stat}]
        for stat in ("p50", "p90", "p99")], stat="p99", lines=[("latency budget (TTFT SLO)", slo.ttft_seconds)],
        label="seconds")))
    widgets.append(_cw_widget(grid, "metric", _cw_metric(loc, f"{r.region}: 5xx share at the load balancer", [
        [*lb, "HTTPCode_ELB_5XX_Count", "LoadBalancer", load_balancer, {"id": "elb", "visible": False}],
        [*lb, "HTTPCode_Target_5XX_Count", "LoadBalancer", load_balancer, {"id": "target", "visible": False}],
        [*lb, "RequestCount", "LoadBalancer", load_balancer, {"id": "all", "visible": False}],
        [{"expression": "(FILL(elb, 0) + FILL(target, 0)) / all", "label": "5xx share", "id": "ratio"}]],
        period=300, lines=[("alarm", d.lb_error_ratio), ("availability SLO budget", round(1 - slo.availability, 6))])))
    floor = sum(p[1] for p in r.pools)
    widgets.append(_cw_widget(grid, "metric", _cw_metric(loc, f"{r.region}: healthy servers vs floor", [
        _search(f'{{AWS/ApplicationELB,LoadBalancer,TargetGroup}} MetricName="HealthyHostCount" '
                f'LoadBalancer="{load_balancer}"', "Minimum", 60, "", "healthy")],
        stat="Minimum", lines=[("servers floor (plan)", floor)], label="servers")))
    widgets.append(_cw_widget(grid, "metric", _cw_metric(loc, f"{r.region}: VPN tunnels (1 = all up)", [
        _search('{AWS/VPN,VpnId} MetricName="TunnelState"', "Minimum", 300, "", "tunnels")],
        stat="Minimum", period=300, lines=[("down below", 1)])))
    widgets.append(_cw_widget(grid, "metric", _cw_metric(loc, f"{r.region}: public certificate days to expiry", [
        _search('{AWS/CertificateManager,CertificateArn} MetricName="DaysToExpiry"', "Minimum", 86400, "", "days")],
        stat="Minimum", period=86400, lines=[("alarm", d.certificate_days)])))
    return {"widgets": widgets}


def cloudwatch_global_body(d: DashboardPlan, load_balancers: Mapping[str, str]) -> dict[str, Any]:
    """Every region's health and plan; every AWS region's load against its lines (`load_balancers`:
    region -> ALB ARN suffix). GCP regions' load is on the GCP global dashboard: CloudWatch does not read
    Cloud Monitoring."""
    grid = _Grid(CLOUDWATCH_GRID, 12, 6)
    regions = list(d.regions.values())
    gcp = ", ".join(r.region for r in d.gcp)
    note = f"\n\nGCP regions ({gcp}): load and links on the Cloud Monitoring dashboard " \
           f"\"{d.gcp_name('global')}\"." if gcp else ""
    widgets = [_cw_widget(grid, "text", {"markdown": plan_table(d, regions) + note}, width=24,
                          height=3 + len(regions))]
    widgets.append(_cw_widget(grid, "metric", _cw_metric(
        ROUTE53_METRICS_REGION, "Health checks, every region (1 = healthy)", [
            _search('{AWS/Route53,HealthCheckId} MetricName="HealthCheckStatus"', "Minimum", 60, "", "health")],
        stat="Minimum", lines=[("unhealthy below", 1)]), width=24))
    for r in d.aws:
        if r.region not in load_balancers:
            continue
        widgets.append(_cw_widget(grid, "metric", _cw_metric(r.location, f"{r.region}: load vs plan (requests/s)", [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", load_balancers[r.region],
             {"id": "requests", "visible": False}],
            [{"expression": "requests / PERIOD(requests)", "label": "requests/s", "id": "rps"}]],
            lines=plan_lines(r.targets, d.monitoring.load_tolerance), label="requests/s")))
    return {"widgets": widgets}


def metric_expressions(body: Mapping[str, Any]) -> list[str]:
    return [m[0]["expression"] for w in body["widgets"] for m in w["properties"].get("metrics", [])
            if m and isinstance(m[0], dict)]


_WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer", "custom"}
_VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
_METRIC_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")  # "must start with a lowercase letter"
_PERIOD_OK = (1, 5, 10, 30)  # high-resolution periods; otherwise a multiple of 60


def cloudwatch_body_problems(body: Mapping[str, Any]) -> list[str]:
    """Checks of the documented body structure (CloudWatch-Dashboard-Body-Structure.html): a `widgets`
    array; each widget a known type on the 24-column grid with `properties`; a metric widget's
    `metrics` array of arrays (namespace, name, dimension name/value pairs and an optional rendering
    object, or one expression object), a `region`, a valid `view`, `period` and metric ids; a text
    widget's `markdown`; horizontal annotations with a numeric `value`."""
    problems: list[str] = []
    widgets = body.get("widgets")
    if not isinstance(widgets, list) or not widgets:
        return ["body: `widgets` must be a non-empty array"]
    unknown = set(body) - {"widgets", "start", "end", "periodOverride", "variables"}
    if unknown:
        problems.append(f"body: unknown keys {sorted(unknown)}")
    for i, w in enumerate(widgets):
        where = f"widget {i}"
        if w.get("type") not in _WIDGET_TYPES:
            problems.append(f"{where}: type {w.get('type')!r} not one of {sorted(_WIDGET_TYPES)}")
        x, y, width, height = (w.get(k, 0) for k in ("x", "y", "width", "height"))
        if not (0 <= x <= 23 and y >= 0 and 1 <= width <= 24 and 1 <= height <= 1000 and x + width <= 24):
            problems.append(f"{where}: position x={x} y={y} width={width} height={height} off the 24-column grid")
        props = w.get("properties")
        if not isinstance(props, dict):
            problems.append(f"{where}: `properties` required")
            continue
        if w.get("type") == "text" and not isinstance(props.get("markdown"), str):
            problems.append(f"{where}: a text widget needs `markdown`")
        if w.get("type") != "metric":
            continue
        if not props.get("region"):
            problems.append(f"{where}: a metric widget needs `region`")
        if props.get("view", "timeSeries") not in _VIEWS:
            problems.append(f"{where}: view {props.get('view')!r}")
        period = props.get("period", 300)
        if not isinstance(period, int) or not (period in _PERIOD_OK or (period > 0 and period % 60 == 0)):
            problems.append(f"{where}: period {period!r} must be 1, 5, 10, 30 or a multiple of 60")
        metrics = props.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            problems.append(f"{where}: `metrics` must be a non-empty array of arrays")
            continue
        for j, m in enumerate(metrics):
            problems += [f"{where} metric {j}: {p}" for p in _metric_problems(m)]
        for a in props.get("annotations", {}).get("horizontal", []):
            if not isinstance(a.get("value"), (int, float)):
                problems.append(f"{where}: annotation {a} needs a numeric `value`")
    return problems


def _metric_problems(m: Any) -> list[str]:
    if not isinstance(m, list) or not m:
        return ["not a non-empty array"]
    last = m[-1]
    options = last if isinstance(last, dict) else {}
    problems = []
    if "id" in options and not _METRIC_ID.match(options["id"]):
        problems.append(f"id {options['id']!r} must start with a lowercase letter")
    if isinstance(m[0], dict):  # a math or search expression: the array holds only its object
        if len(m) != 1 or not isinstance(m[0].get("expression"), str):
            problems.append("an expression entry is one object with `expression`")
        return problems
    names = m[:-1] if isinstance(last, dict) else m
    if not all(isinstance(s, str) and s for s in names):
        problems.append("namespace, metric name and dimensions must be non-empty strings")
    elif len(names) < 2 or len(names) % 2:
        problems.append("namespace, metric name, then dimension name/value pairs")
    return problems


# ---- Cloud Monitoring (GCP) -------------------------------------------------------------------------------

def _gcp_tile(grid: _Grid, widget: dict[str, Any], width: int | None = None, height: int | None = None
              ) -> dict[str, Any]:
    x, y, w, h = grid.place(width, height)
    return {"xPos": x, "yPos": y, "width": w, "height": h, "widget": widget}


def _gcp_filter(metric: str, resource: str, location: str | None, extra: str = "") -> str:
    out = f'metric.type="{metric}" resource.type="{resource}"'
    if location:
        out += f' resource.label.region="{location}"'
    return out + (f" {extra}" if extra else "")


def _gcp_series(filter_: str, aligner: str, reducer: str = "REDUCE_SUM", group_by: Sequence[str] = (),
                period: str = "60s", legend: str = "") -> dict[str, Any]:
    aggregation: dict[str, Any] = {"alignmentPeriod": period, "perSeriesAligner": aligner,
                                   "crossSeriesReducer": reducer}
    if group_by:
        aggregation["groupByFields"] = list(group_by)
    data = {"timeSeriesQuery": {"timeSeriesFilter": {"filter": filter_, "aggregation": aggregation}},
            "plotType": "LINE", "minAlignmentPeriod": period}
    if legend:
        data["legendTemplate"] = legend
    return data


def _gcp_chart(title: str, data_sets: list[dict[str, Any]], lines: Sequence[tuple[str, float]] = (),
               label: str = "") -> dict[str, Any]:
    chart: dict[str, Any] = {"dataSets": data_sets, "timeshiftDuration": "0s"}
    if lines:
        chart["thresholds"] = [{"label": lab, "value": value} for lab, value in lines]
    if label:
        chart["yAxis"] = {"label": label, "scale": "LINEAR"}
    return {"title": title, "xyChart": chart}


# https://cloud.google.com/monitoring/api/metrics_gcp (loadbalancing, vpn, router)
LB_REQUESTS = "loadbalancing.googleapis.com/https/external/regional/request_count"
LB_LATENCY = "loadbalancing.googleapis.com/https/external/regional/total_latencies"  # distribution, ms
LB_RESOURCE = "http_external_regional_lb_rule"


def _gcp_load(r: DashboardRegion, tolerance: float) -> dict[str, Any]:
    return _gcp_chart(f"{r.region}: load vs plan (requests/s)", [
        _gcp_series(_gcp_filter(LB_REQUESTS, LB_RESOURCE, r.location), "ALIGN_RATE", legend="requests/s")],
        plan_lines(r.targets, tolerance), "requests/s")


def gcp_region_dashboard(d: DashboardPlan, r: DashboardRegion) -> dict[str, Any]:
    slo, loc = d.monitoring.slo, r.location
    grid = _Grid(GCP_COLUMNS, 24, 16)
    tiles = [_gcp_tile(grid, {"title": "Plan", "text": {"content": plan_table(d, [r]), "format": "MARKDOWN"}},
                       width=48, height=10)]
    tiles.append(_gcp_tile(grid, _gcp_load(r, d.monitoring.load_tolerance)))
    tiles.append(_gcp_tile(grid, _gcp_chart(f"{r.region}: load balancer latency percentiles vs budget (ms)", [
        _gcp_series(_gcp_filter(LB_LATENCY, LB_RESOURCE, loc), f"ALIGN_PERCENTILE_{p}", "REDUCE_MAX",
                    legend=f"p{p}") for p in (50, 95, 99)],
        [("latency budget (TTFT SLO)", slo.ttft_seconds * 1000)], "ms")))
    requests = _gcp_filter(LB_REQUESTS, LB_RESOURCE, loc)
    ratio = {"timeSeriesQuery": {"timeSeriesFilterRatio": {
        "numerator": {"filter": f"{requests} metric.label.response_code_class=500", "aggregation": {
            "alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_RATE", "crossSeriesReducer": "REDUCE_SUM"}},
        "denominator": {"filter": requests, "aggregation": {
            "alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_RATE", "crossSeriesReducer": "REDUCE_SUM"}}}},
        "plotType": "LINE", "minAlignmentPeriod": "300s", "legendTemplate": "5xx share"}
    tiles.append(_gcp_tile(grid, _gcp_chart(f"{r.region}: 5xx share at the load balancer", [ratio], [
        ("alert", d.lb_error_ratio), ("availability SLO budget", round(1 - slo.availability, 6))])))
    tiles.append(_gcp_tile(grid, _gcp_chart(f"{r.region}: HA VPN tunnels established (1 = up)", [
        _gcp_series(_gcp_filter("vpn.googleapis.com/tunnel_established", "vpn_gateway", loc), "ALIGN_MIN",
                    "REDUCE_MIN", ["metric.label.tunnel_name"])], [("down below", 1)])))
    tiles.append(_gcp_tile(grid, _gcp_chart(f"{r.region}: Cloud Router BGP sessions (1 = up)", [
        _gcp_series(_gcp_filter("router.googleapis.com/bgp/session_up", "gce_router", loc), "ALIGN_MIN",
                    "REDUCE_MIN", ["metric.label.bgp_peer_name"])], [("down below", 1)])))
    return {"displayName": d.gcp_name(r.region), "mosaicLayout": {"columns": GCP_COLUMNS, "tiles": tiles}}


def gcp_global_dashboard(d: DashboardPlan) -> dict[str, Any]:
    grid = _Grid(GCP_COLUMNS, 24, 16)
    note = (f"\n\nHealth checks of every region and the AWS regions' load: CloudWatch dashboard "
            f"`{d.cloudwatch_name('global')}` ({ROUTE53_METRICS_REGION}).") if d.aws else ""
    tiles = [_gcp_tile(grid, {"title": "Plan", "text": {"content": plan_table(d, list(d.regions.values())) + note,
                                                        "format": "MARKDOWN"}}, width=48, height=8 + len(d.regions))]
    tiles += [_gcp_tile(grid, _gcp_load(r, d.monitoring.load_tolerance)) for r in d.gcp]
    tiles.append(_gcp_tile(grid, _gcp_chart("HA VPN tunnels established, every region (1 = up)", [
        _gcp_series(_gcp_filter("vpn.googleapis.com/tunnel_established", "vpn_gateway", None), "ALIGN_MIN",
                    "REDUCE_MIN", ["resource.label.region"])], [("down below", 1)])))
    return {"displayName": d.gcp_name("global"), "mosaicLayout": {"columns": GCP_COLUMNS, "tiles": tiles}}


def gcp_dashboard_problems(dashboard: Mapping[str, Any]) -> list[str]:
    """Checks of the projects.dashboards shape the program writes: a display name, a mosaic layout whose
    tiles fit its columns, each tile one widget with a title and a text or xyChart body whose data sets
    carry a time-series query with a filter and an aggregation."""
    problems = []
    if not dashboard.get("displayName"):
        problems.append("displayName required")
    layout = dashboard.get("mosaicLayout", {})
    columns = layout.get("columns", 0)
    tiles = layout.get("tiles") or []
    if not 1 <= columns <= GCP_COLUMNS or not tiles:
        return [*problems, "mosaicLayout needs 1-48 columns and tiles"]
    for i, t in enumerate(tiles):
        if t["xPos"] < 0 or t["yPos"] < 0 or t["width"] < 1 or t["height"] < 1 or t["xPos"] + t["width"] > columns:
            problems.append(f"tile {i}: outside the {columns} columns")
        widget = t.get("widget", {})
        bodies = [k for k in ("text", "xyChart", "scorecard", "timeSeriesTable") if k in widget]
        if len(bodies) != 1:
            problems.append(f"tile {i}: one widget body, got {bodies}")
        for j, ds in enumerate(widget.get("xyChart", {}).get("dataSets", [])):
            query = ds.get("timeSeriesQuery", {})
            plain = query.get("timeSeriesFilter")
            parts = [plain] if plain else list((query.get("timeSeriesFilterRatio") or {}).values())
            if not parts or not all(p.get("filter") and p.get("aggregation", {}).get("perSeriesAligner")
                                    for p in parts):
                problems.append(f"tile {i} data set {j}: a filter and an aggregation with an aligner")
    return problems


# ---- Grafana (each region's Prometheus) --------------------------------------------------------------------

def grafana_region_dashboard(d: DashboardPlan, r: DashboardRegion) -> dict[str, Any]:
    """The Prometheus side of one region as a Grafana dashboard JSON model (data source picked at import:
    the `datasource` variable); plan numbers are constant `vector(...)` series beside the measured ones."""
    t, slo = r.targets, d.monitoring.slo
    concurrency = t.concurrency_per_server or 0
    ttft = "vllm:time_to_first_token_seconds_bucket"
    panels_spec: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("Load vs plan (requests/s)", "reqps", [("measured", "rollout:requests:rate5m")]
         + [(label, f"vector({_fmt(value)})") for label, value in plan_lines(t, d.monitoring.load_tolerance)]),
        ("Model servers vs floor", "short", [("reporting", "count(vllm:num_requests_running)"),
                                             ("floor (plan)", f"vector({t.servers_floor})")]),
        ("Time to first token vs budget (s)", "s",
         [(f"p{q}", f"histogram_quantile({q / 100}, sum by (le) (rate({ttft}[5m])))") for q in (50, 90, 99)]
         + [("budget (SLO)", f"vector({slo.ttft_seconds})")]),
        ("End-to-end latency (s)", "s", [
            (f"p{q}", f"histogram_quantile({q / 100}, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))")
            for q in (50, 99)]),
        ("Queue and running per server vs concurrency", "short", [
            ("running (avg)", "avg(vllm:num_requests_running)"), ("waiting (avg)", "avg(vllm:num_requests_waiting)"),
            ("concurrency (--max-num-seqs)", f"vector({concurrency})")]),
        ("KV cache usage (max over servers)", "percentunit", [("max", "max(vllm:kv_cache_usage_perc)"),
                                                              ("alert", "vector(0.95)")]),
        ("Error ratio (5xx of model requests)", "percentunit", [
            ("5m", "rollout:errors:ratio_rate5m"), ("1h", "rollout:errors:ratio_rate1h"),
            ("SLO budget", f"vector({_fmt(1 - slo.availability)})")]),
        ("Request rate by status", "reqps", [
            ("{{status}}", f"sum by (status) (rate(http_requests_total{{{MODEL_ROUTES}}}[5m]))")]),
        ("GPU utilisation (%)", "percent", [("{{Hostname}} {{gpu}}", "DCGM_FI_DEV_GPU_UTIL")]),
        ("GPU memory used (MiB)", "decmbytes", [("{{Hostname}} {{gpu}}", "DCGM_FI_DEV_FB_USED")]),
        ("GPU last XID error (0 = none)", "short", [("{{Hostname}} {{gpu}}", "max by (Hostname, gpu) "
                                                     "(DCGM_FI_DEV_XID_ERRORS)")]),
        ("Database members healthy", "short", [("{{name}}", "mongodb_rs_members_health")]),
        ("Database replication lag (s)", "s", [(
            "{{name}}", 'max(mongodb_rs_members_optimeDate{member_state="PRIMARY"}) - on() group_right '
                        'mongodb_rs_members_optimeDate{member_state="SECONDARY"}')]),
    ]
    panels = []
    for i, (title, unit, targets) in enumerate(panels_spec):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": title, "datasource": {"type": "prometheus",
                                                                             "uid": "${datasource}"},
            "gridPos": {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + j), "expr": expr, "legendFormat": legend}
                        for j, (legend, expr) in enumerate(targets)]})
    return {
        "title": f"rollout {d.stack} {r.region}", "uid": f"rollout-{d.stack}-{r.region}"[:40],
        "tags": ["rollout", d.stack, r.region], "timezone": "utc", "schemaVersion": 39, "editable": False,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "1m",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": f"Prometheus of {r.region}"}]},
        "panels": panels,
    }


def grafana_expressions(dashboard: Mapping[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
