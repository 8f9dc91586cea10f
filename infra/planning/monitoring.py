"""Alerts tied to the plan: the rule files each region's Prometheus evaluates, and where alerts go.

Pure (no pulumi import). Each region's Prometheus sees only its own servers, so every threshold is
the region's share of the plan: its planned load, its server floor, and the fleet's N-1 margin (how
far demand can grow, uniformly, before some region's worst single-region failover exceeds the
failover ceiling). Signals and sources are tabled in docs/monitoring.md; every alert links a runbook.

Metric names are the ones the pinned servers export: vLLM 0.24 (`vllm/v1/metrics/loggers.py`:
`vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`,
`vllm:time_to_first_token_seconds`, labels model_name and engine) and its HTTP instrumentation
(`prometheus_fastapi_instrumentator` defaults in `vllm/entrypoints/serve/instrumentator/metrics.py`:
`http_requests_total{handler,method,status}` with status grouped as "2xx"/"5xx", /health and
/metrics excluded); kube-state-metrics for nodes and pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.planning.database import MAX_LAG_SECONDS

RUNBOOKS = "docs/runbooks"  # relative to the repository; one page per alert

# Multi-window, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs", table 5-8):
# (long window, short window, burn-rate factor, severity). 14.4x over 1h spends 2% of a 30-day budget.
# https://sre.google/workbook/alerting-on-slos/
BURN_WINDOWS: tuple[tuple[str, str, float, str], ...] = (
    ("1h", "5m", 14.4, "page"),
    ("6h", "30m", 6.0, "page"),
    ("1d", "2h", 3.0, "ticket"),
)
WINDOWS = sorted({w for long, short, _, _ in BURN_WINDOWS for w in (long, short)},
                 key=lambda w: int(w[:-1]) * {"m": 1, "h": 60, "d": 1440}[w[-1]])

# Only the model routes count: /health and /metrics are excluded by the servers themselves.
MODEL_ROUTES = 'handler=~"/v1/.+"'
# TTFT histogram buckets of vLLM 0.24 include 0.25, 0.5, 1.0, 2.5, 5.0 s: a latency SLO threshold must be
# one of them for the ratio to be exact.
TTFT_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@dataclass(frozen=True)
class Slo:
    availability: float = 0.999  # share of model requests that do not fail with a 5xx
    latency: float = 0.99  # share of requests whose first token comes within ttft_seconds
    ttft_seconds: float = 2.5

    def __post_init__(self) -> None:
        for name in ("availability", "latency"):
            value = getattr(self, name)
            if not 0.5 <= value < 1:
                raise ValueError(f"slo.{name} must be in [0.5, 1), got {value}")
        if self.ttft_seconds not in TTFT_BUCKETS:
            raise ValueError(f"slo.ttftSeconds must be a vLLM histogram bucket {TTFT_BUCKETS}, got "
                             f"{self.ttft_seconds}")


@dataclass(frozen=True)
class RegionTargets:
    """What the plan promises for one region, in the units its Prometheus can see."""

    region: str
    planned_rps: float  # normal-state load routed here by the plan
    capacity_rps: float  # what the planned servers carry at the latency target
    servers_floor: int  # model servers the plan keeps running (autoscaler floor, all pools)
    n1_factor: float  # demand may grow by this factor before N-1 no longer holds (fleet-wide)
    concurrency_per_server: int | None = None  # requests one server runs at once (vLLM --max-num-seqs)
    queue_per_server: float = 1.0  # requests waiting per server, on average, that mean saturation
    gpu_metrics: bool = False  # the DCGM exporter runs on the region's GPU nodes (EKS: components/cluster)
    database_metrics: bool = False  # a MongoDB exporter watches the region's member (components/database)


@dataclass(frozen=True)
class MonitoringPlan:
    slo: Slo
    regions: Mapping[str, RegionTargets]
    load_tolerance: float = 0.10  # a region above its planned load by more than this is off plan
    emails: tuple[str, ...] = ()  # where the clouds' alarms and policies send (monitoring.emails)
    delivery: Delivery = field(default_factory=lambda: Delivery())  # where Alertmanager sends (monitoring.receiver)
    notes: tuple[str, ...] = field(default=())

    def rule_groups(self, region: str, *, kube_state_metrics: bool = True) -> dict[str, Any]:
        return rule_file(self.regions[region], self.slo, self.load_tolerance, kube_state_metrics=kube_state_metrics)


def n1_factor(headroom: Sequence[Any], failover_ceiling: float) -> float:
    """How much uniform demand growth the fleet absorbs while every single-region loss stays under the
    failover ceiling: min over regions of ceiling / worst-failover utilisation (inf with no failover)."""
    factors = [failover_ceiling / h.worst_failover_utilization for h in headroom
               if h.worst_failover_utilization > 0]
    return min(factors) if factors else float("inf")


def _ratio(numerator: str, denominator: str) -> str:
    return f"({numerator}) / clamp_min({denominator}, 1e-9)"


def recording_rules(slo: Slo) -> list[dict[str, Any]]:
    """SLI ratios over every window the burn-rate alerts read, and the region's request rate."""
    rules: list[dict[str, Any]] = [
        {"record": "rollout:requests:rate5m", "expr": f"sum(rate(http_requests_total{{{MODEL_ROUTES}}}[5m]))"},
    ]
    for w in WINDOWS:
        total = f"sum(rate(http_requests_total{{{MODEL_ROUTES}}}[{w}]))"
        errors = f'sum(rate(http_requests_total{{{MODEL_ROUTES},status="5xx"}}[{w}]))'
        rules.append({"record": f"rollout:errors:ratio_rate{w}", "expr": _ratio(errors, total)})
        fast = f'sum(rate(vllm:time_to_first_token_seconds_bucket{{le="{slo.ttft_seconds}"}}[{w}]))'
        count = f"sum(rate(vllm:time_to_first_token_seconds_count[{w}]))"
        rules.append({"record": f"rollout:slow_requests:ratio_rate{w}", "expr": f"1 - {_ratio(fast, count)}"})
    return rules


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, runbook: str,
           **labels: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr, "labels": {"severity": severity, **labels},
                            "annotations": {"summary": summary, "runbook_url": f"{RUNBOOKS}/{runbook}.md"}}
    if for_:
        rule["for"] = for_
    return rule


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def slo_alerts(slo: Slo, region: str) -> list[dict[str, Any]]:
    out = []
    for sli, target, what, runbook in (("errors", slo.availability, "availability", "slo-availability"),
                                       ("slow_requests", slo.latency, "latency", "slo-latency")):
        budget = 1 - target
        for long, short, factor, severity in BURN_WINDOWS:
            limit = _fmt(factor * budget)
            expr = (f"rollout:{sli}:ratio_rate{long} > {limit} and rollout:{sli}:ratio_rate{short} > {limit}")
            name = f"Slo{what.capitalize()}Burn{long}"
            out.append(_alert(name, expr, "2m" if severity == "page" else "15m", severity,
                              f"{region}: {what} SLO ({target:.4g}) error budget burning {factor}x over {long}",
                              runbook, slo=what, window=long))
    return out


def region_alerts(t: RegionTargets, tolerance: float, kube_state_metrics: bool = True) -> list[dict[str, Any]]:
    r = t.region
    alerts = [
        _alert("Watchdog", "vector(1)", "", "none",
               "Always firing: proves the alert path works end to end (dead man's switch)", "watchdog"),
        _alert("ServersBelowPlan", f"count(vllm:num_requests_running) < {t.servers_floor}", "10m", "page",
               f"{r}: fewer model servers report than the plan's floor of {t.servers_floor}", "servers-below-plan"),
        _alert("ServersAbsent", "absent(vllm:num_requests_running)", "10m", "page",
               f"{r}: no model server reports metrics", "servers-below-plan"),
        _alert("QueueBuildingUp", f"avg(vllm:num_requests_waiting) > {_fmt(t.queue_per_server)}", "10m",
               "page", f"{r}: over {_fmt(t.queue_per_server)} request(s) per server wait beyond the planned "
               "concurrency (--max-num-seqs) for 10 minutes: scaling is not keeping up", "queue-building-up"),
        _alert("KvCacheNearlyFull", "max(vllm:kv_cache_usage_perc) > 0.95", "10m", "ticket",
               f"{r}: a server's KV cache is over 95% for 10 minutes: requests are being preempted",
               "kv-cache-full"),
        _alert("RegionLoadAbovePlan", f"rollout:requests:rate5m > {_fmt(t.planned_rps * (1 + tolerance))}",
               "15m", "ticket", f"{r}: load above the plan's {_fmt(t.planned_rps)} rps by more than "
               f"{tolerance:.0%}: re-size (`python -m infra.sizing --diff`)", "load-above-plan"),
    ]
    if kube_state_metrics:  # only where kube-state-metrics is scraped: an alert on an absent series never fires
        alerts += [
            _alert("NodeNotReady", 'kube_node_status_condition{condition="Ready",status="true"} == 0', "5m",
                   "page", f"{r}: a node is NotReady", "node-not-ready"),
            _alert("PodsUnschedulable", "sum(kube_pod_status_unschedulable) > 0", "10m", "ticket",
                   f"{r}: pods wait for capacity (GPU stock-out or the pool's ceiling)", "pods-unschedulable"),
        ]
    if t.n1_factor != float("inf"):
        alerts.append(_alert(
            "FleetN1HeadroomGone", f"rollout:requests:rate5m > {_fmt(t.planned_rps * t.n1_factor)}", "10m",
            "ticket", f"{r}: load is {t.n1_factor:.3g}x the plan: if every region grew alike, losing one region "
            "would push another past the failover ceiling", "n1-headroom"))
    if t.concurrency_per_server:
        alerts.append(_alert(
            "ServersSaturated", f"avg(vllm:num_requests_running) > {_fmt(0.9 * t.concurrency_per_server)}",
            "10m", "ticket", f"{r}: servers run over 90% of the {t.concurrency_per_server} requests each "
            "the sizing assumes", "queue-building-up"))
    return alerts


# NVIDIA DCGM exporter 4.8.2 default counters (etc/default-counters.csv at 4.5.3-4.8.2): DCGM_FI_DEV_XID_ERRORS
# ("value of the last XID error encountered"), DCGM_FI_DEV_ROW_REMAP_FAILURE, DCGM_FI_DEV_GPU_UTIL (%),
# DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE (MiB); labels gpu, UUID, Hostname.
GPU = "Hostname, gpu, UUID"
# XIDs that mean the GPU itself needs a reset or replacement (NVIDIA's XID catalog,
# https://docs.nvidia.com/deploy/xid-errors/index.html): 48 double-bit ECC, 63/64 row remapping recorded /
# failed, 74 NVLink, 79 fallen off the bus, 92 high single-bit ECC rate, 94/95 contained / uncontained ECC.
# Others (13, 31, 43, ...) are usually the application's fault: a ticket, not a page.
HARDWARE_XIDS = (48, 63, 64, 74, 79, 92, 94, 95)
# vLLM takes --gpu-memory-utilization of each GPU up front (0.9 here); above 98% something else holds memory
# and the next allocation fails.
GPU_MEMORY_LIMIT = 0.98
# Percona mongodb_exporter 0.53.0 (components/database/exporter.py has the sources).
OPLOG_WINDOW_SECONDS = 24 * 3600  # a member down for a day can still catch up from the oplog (no initial sync)
LAG_FACTOR = 3  # a secondary more than 3x the plan's "caught up" bound (database.MAX_LAG_SECONDS) behind


def gpu_alerts(t: RegionTargets) -> list[dict[str, Any]]:
    r = t.region
    hardware = " or ".join(f"DCGM_FI_DEV_XID_ERRORS == {x}" for x in HARDWARE_XIDS)
    return [
        _alert("GpuXidHardware", f"max by ({GPU}) ({hardware}) > 0", "", "page",
               f"{r}: a GPU reported a hardware XID (ECC, row remap, NVLink, off the bus): drain the node",
               "gpu-xid-errors"),
        _alert("GpuXidError", f"max by ({GPU}) (DCGM_FI_DEV_XID_ERRORS > 0 unless ({hardware})) > 0", "", "ticket",
               f"{r}: a GPU reported an XID error (usually the application's): read the server's logs",
               "gpu-xid-errors"),
        _alert("GpuRowRemapFailure", f"max by ({GPU}) (DCGM_FI_DEV_ROW_REMAP_FAILURE) > 0", "", "page",
               f"{r}: a GPU failed to remap a memory row: it must be replaced", "gpu-unhealthy"),
        _alert("GpuMemoryNearlyFull",
               f"max by ({GPU}) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) > "
               f"{_fmt(GPU_MEMORY_LIMIT)}", "15m", "ticket",
               f"{r}: a GPU's memory is over {GPU_MEMORY_LIMIT:.0%} used for 15 minutes", "gpu-memory-full"),
        _alert("GpuSaturated", "avg(DCGM_FI_DEV_GPU_UTIL) > 95", "30m", "ticket",
               f"{r}: the region's GPUs are over 95% busy for 30 minutes: capacity below the load", "gpu-saturated"),
        _alert("GpuMetricsAbsent", "absent(DCGM_FI_DEV_GPU_UTIL) and on() count(vllm:num_requests_running) > 0",
               "15m", "ticket", f"{r}: model servers run but no GPU reports metrics (DCGM exporter down)",
               "exporter-absent"),
    ]


def database_alerts(t: RegionTargets, max_lag_seconds: float) -> list[dict[str, Any]]:
    r = t.region
    lag = _fmt(LAG_FACTOR * max_lag_seconds)
    return [
        _alert("MongoMemberUnreachable", "max(mongodb_up) == 0", "5m", "page",
               f"{r}: the region's MongoDB member does not answer its exporter", "mongodb-member-down"),
        _alert("MongoExporterAbsent", "absent(mongodb_up)", "15m", "ticket",
               f"{r}: no MongoDB exporter reports (the database alerts are blind)", "exporter-absent"),
        _alert("MongoMemberUnhealthy", "min by (member_idx) (mongodb_members_health) == 0", "5m", "page",
               f"{r}: a replica-set member is down as seen from this region", "mongodb-member-down"),
        _alert("MongoReplicationLag", f"max by (name) (mongodb_mongod_replset_member_replication_lag) > {lag}",
               "10m", "ticket", f"{r}: a secondary is over {lag} s behind the primary for 10 minutes",
               "mongodb-replication-lag"),
        # Only once the oplog truncates (its oldest entry moves): a young set's short window is not a problem.
        _alert("MongoOplogWindowShort",
               "min(mongodb_mongod_replset_oplog_head_timestamp - mongodb_mongod_replset_oplog_tail_timestamp) < "
               f"{OPLOG_WINDOW_SECONDS} and on() changes(mongodb_mongod_replset_oplog_tail_timestamp[1h]) > 0",
               "30m", "ticket", f"{r}: the oplog holds under {OPLOG_WINDOW_SECONDS // 3600} h: a member down that "
               "long needs a full initial sync", "mongodb-oplog-window"),
    ]


def rule_file(t: RegionTargets, slo: Slo, tolerance: float, *, kube_state_metrics: bool = True) -> dict[str, Any]:
    """A Prometheus rule file (the `groups:` document) for one region; node and pod alerts only when
    kube-state-metrics is scraped, GPU and database alerts only where their exporters run (an alert on a
    series nobody scrapes never fires)."""
    return {"groups": [
        {"name": "rollout-sli", "interval": "30s", "rules": recording_rules(slo)},
        {"name": "rollout-slo", "rules": slo_alerts(slo, t.region)},
        {"name": "rollout-region", "rules": region_alerts(t, tolerance, kube_state_metrics)},
        *([{"name": "rollout-gpu", "rules": gpu_alerts(t)}] if t.gpu_metrics else []),
        *([{"name": "rollout-database", "rules": database_alerts(t, MAX_LAG_SECONDS)}] if t.database_metrics else []),
    ]}


# Receiver secrets: one Kubernetes Secret in the monitoring namespace, mounted read-only into Alertmanager
# and named in its configuration by file (`url_file`, `auth_password_file`), so no URL, token or password is
# ever written into the chart values or the ConfigMap. Alertmanager reads these files when it sends
# (webhook `url_file`, email `auth_password_file`: https://prometheus.io/docs/alerting/latest/configuration/
# #webhook_config and #email_config), so a Secret created out of band is picked up without a restart.
RECEIVER_SECRET = "alertmanager-receivers"
RECEIVER_SECRET_DIR = "/etc/alertmanager-secrets"  # not under /etc/alertmanager (the chart's ConfigMap mount)
RECEIVER_KEYS = {"oncall": "oncall-url", "heartbeat": "heartbeat-url", "smtp": "smtp-password"}
RECEIVER_KINDS = ("webhook", "email", "none")


def secret_file(key: str) -> str:
    return f"{RECEIVER_SECRET_DIR}/{RECEIVER_KEYS[key]}"


@dataclass(frozen=True)
class Delivery:
    """Where one stack's Prometheus alerts go (monitoring.receiver). `webhook` also covers SNS and Pub/Sub
    through an HTTPS endpoint that publishes to them; the heartbeat is the Watchdog's own webhook."""

    kind: str = "webhook"
    heartbeat: bool = True
    email_to: tuple[str, ...] = ()
    email_from: str | None = None
    smarthost: str | None = None  # host:port of the SMTP relay (587: submission with STARTTLS)
    smtp_username: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in RECEIVER_KINDS:
            raise ValueError(f"monitoring.receiver.kind must be one of {RECEIVER_KINDS}, got {self.kind!r}")
        if self.kind == "email" and not (self.email_to and self.email_from and self.smarthost):
            raise ValueError("monitoring.receiver: kind email needs emailTo, emailFrom and smarthost")
        if not self.heartbeat and self.kind != "none":
            raise ValueError("monitoring.receiver: heartbeat may be off only with kind none (the Watchdog's "
                             "heartbeat is the only proof that alerts can leave the cluster)")

    @property
    def sends(self) -> bool:
        """Whether Alertmanager has anywhere to send (else the release runs none)."""
        return bool(self.egress_ports)

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The Secret keys this delivery reads (the config secrets that fill them)."""
        keys = {"webhook": ("oncall",), "email": ("smtp",) if self.smtp_username else (), "none": ()}[self.kind]
        return (*keys, *(("heartbeat",) if self.heartbeat else ()))

    @property
    def egress_ports(self) -> tuple[int, ...]:
        """TCP ports Alertmanager dials outside the cluster: HTTPS for webhooks, the relay's port for e-mail."""
        ports = {443} if self.heartbeat or self.kind == "webhook" else set()
        if self.kind == "email" and self.smarthost:
            ports.add(int(self.smarthost.rsplit(":", 1)[1]) if ":" in self.smarthost else 25)
        return tuple(sorted(ports))

    def config(self) -> dict[str, Any]:
        email = None
        if self.kind == "email":
            email = {"to": ", ".join(self.email_to), "from": self.email_from, "smarthost": self.smarthost,
                     "require_tls": True, "send_resolved": True}
            if self.smtp_username:
                email.update(auth_username=self.smtp_username, auth_password_file=secret_file("smtp"))
        return alertmanager_config(webhook_url_file=secret_file("oncall") if self.kind == "webhook" else None,
                                   heartbeat_url_file=secret_file("heartbeat") if self.heartbeat else None,
                                   email=email)


def alertmanager_config(*, webhook_url_file: str | None, heartbeat_url_file: str | None,
                        email: Mapping[str, Any] | None = None, group_wait: str = "30s") -> dict[str, Any]:
    """Routes: the Watchdog to the dead man's switch every minute, pages and tickets to the receiver.

    URLs and passwords are read from files (`url_file`, `auth_password_file`, a mounted Secret), never
    written into the config itself."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = []
    if heartbeat_url_file:
        receivers.append({"name": "heartbeat", "webhook_configs": [
            {"url_file": heartbeat_url_file, "send_resolved": False}]})
        routes.append({"receiver": "heartbeat", "matchers": ['alertname="Watchdog"'],
                       "group_wait": "0s", "group_interval": "1m", "repeat_interval": "1m"})
    else:
        routes.append({"receiver": "null", "matchers": ['alertname="Watchdog"']})
    default = "null"
    if webhook_url_file:
        receivers.append({"name": "oncall", "webhook_configs": [{"url_file": webhook_url_file,
                                                                 "send_resolved": True}]})
        default = "oncall"
    elif email:
        receivers.append({"name": "oncall", "email_configs": [dict(email)]})
        default = "oncall"
    return {"route": {"receiver": default, "group_by": ["alertname", "region"], "group_wait": group_wait,
                      "group_interval": "5m", "repeat_interval": "4h", "routes": routes},
            "receivers": receivers}


def region_targets(plan: Any, failover_ceiling: float = 0.9) -> dict[str, RegionTargets]:
    """The promises of a RolloutPlan, per region (duck-typed: sizing headroom and serving pools); a
    region's concurrency is its smallest pool's --max-num-seqs (the first to saturate). GPU metrics where
    the DCGM exporter runs (EKS GPU pools), database metrics where the region holds members."""
    factor = n1_factor(plan.sizing.headroom, failover_ceiling)
    out = {}
    for h in plan.sizing.headroom:
        serving = plan.serving.get(h.region)
        pools = serving.pools if serving else ()
        database = getattr(plan, "database", None)
        out[h.region] = RegionTargets(region=h.region, planned_rps=h.normal_rps, capacity_rps=h.capacity_rps,
                                      servers_floor=sum(p.floor for p in pools), n1_factor=factor,
                                      concurrency_per_server=min((p.max_num_seqs for p in pools), default=None),
                                      gpu_metrics=bool(pools) and serving.cloud == "aws",
                                      database_metrics=bool(database and database.in_region(h.region)))
    return out
