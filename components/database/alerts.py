"""The hook monitoring deploys: an alert when a member's certificate was not renewed in time.

Member certificates live 90 days and are re-issued by the first `pulumi up` in their last 30 days
(region_database.CERT_VALIDITY_DAYS / CERT_RENEWAL_DAYS), which also rolls the members one at a time.
If no `up` runs in that window, nothing renews them: this alert fires when a member still presents a
certificate with less than ALERT_DAYS left, i.e. ten days into the window, twenty before the set would
refuse connections. It reads the Prometheus blackbox exporter's TLS probe of each member's address
(`probe_ssl_earliest_cert_expiry`, https://github.com/prometheus/blackbox_exporter; module: tcp_connect
with `tls: true` and the stack's CA, since mongod speaks TLS from the first byte with requireTLS).
Monitoring (another component) scrapes `probe_targets(plan)` with job name PROBE_JOB and loads RULE.
"""

from __future__ import annotations

from typing import Any

from components.database.region_database import CERT_RENEWAL_DAYS, CERT_VALIDITY_DAYS
from infra.planning.database import PORT, DatabasePlan

PROBE_JOB = "mongodb-tls"
ALERT_DAYS = CERT_RENEWAL_DAYS - 10
assert 0 < ALERT_DAYS < CERT_RENEWAL_DAYS < CERT_VALIDITY_DAYS

RULE: dict[str, Any] = {
    "alert": "MongoDBCertificateNotRenewed",
    "expr": f'min by (instance) (probe_ssl_earliest_cert_expiry{{job="{PROBE_JOB}"}}) - time() < {ALERT_DAYS} * 86400',
    "for": "1h",
    "labels": {"severity": "page"},
    "annotations": {
        "summary": "MongoDB member {{ $labels.instance }} certificate expires in under " + f"{ALERT_DAYS} days",
        "description": "No `pulumi up` re-issued it in its renewal window; run `pulumi up` (it re-issues "
                       "and rolls the members one at a time). Runbook: docs/database.md \"Rotate\".",
    },
}


def probe_targets(plan: DatabasePlan) -> list[str]:
    """Every member's address as clients reach it (its private DNS name)."""
    return [f"{m.host}:{PORT}" for m in plan.members]
