"""Cloud alarms under mocks: every link, load balancer, public certificate and health check the stack
declares has an alarm with a runbook, delivered to an encrypted topic CloudWatch may publish to."""

from __future__ import annotations

import json
from pathlib import Path

from components.monitoring import CloudAlarms, CloudAlarmsArgs
from infra.offline.mock_runtime import run_mocked

ROOT = Path(__file__).resolve().parents[1]
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"


def run(**kw):
    args = CloudAlarmsArgs(tags={"owner": "platform-team"}, emails=("oncall@example.com",), **kw)
    return run_mocked(lambda: CloudAlarms("mon", args), stack="test")


def by_name(captured, typ):
    return {r.name: r.inputs for r in captured.of_type(typ)}


def test_every_vpn_connection_lb_certificate_and_health_check_has_an_alarm():
    captured = run(vpn_connection_ids={"us-east-1": ["vpn-a", "vpn-b"], "eu-central-1": ["vpn-c"]},
                   alb_arn_suffixes={"us-east-1": "app/use1/abc"}, certificate_arns={"us-east-1": "arn:cert"},
                   health_check_ids={"use1": "hc-1", "euw4": "hc-2"})
    alarms = by_name(captured, ALARM)
    assert {n for n in alarms if "-vpn-" in n} == {"mon-us-east-1-vpn-0", "mon-us-east-1-vpn-1",
                                                  "mon-eu-central-1-vpn-0"}
    vpn = alarms["mon-eu-central-1-vpn-0"]
    assert (vpn["namespace"], vpn["metricName"], vpn["dimensions"]) == ("AWS/VPN", "TunnelState", {"VpnId": "vpn-c"})
    assert vpn["treatMissingData"] == "breaching" and vpn["region"] == "eu-central-1"
    lb = alarms["mon-us-east-1-alb-5xx"]
    assert {q["id"] for q in lb["metricQueries"]} == {"elb", "target", "requests", "ratio"}
    health = alarms["mon-euw4-health"]
    assert health["region"] == "us-east-1", "Route 53 publishes health-check metrics only in us-east-1"
    assert alarms["mon-us-east-1-cert-expiry"]["threshold"] == 30


def test_alarms_go_to_an_encrypted_topic_per_region_and_name_an_existing_runbook():
    captured = run(vpn_connection_ids={"us-east-1": ["vpn-a"]}, health_check_ids={"use1": "hc"})
    topics = captured.of_type("aws:sns/topic:Topic")
    assert [t.inputs["region"] for t in topics] == ["us-east-1"]
    assert topics[0].inputs["kmsMasterKeyId"] != "alias/aws/sns", "CloudWatch cannot use the AWS-managed SNS key"
    key = next(k for k in captured.of_type("aws:kms/key:Key") if k.name.endswith("alerts-key"))
    policy = json.loads(key.inputs["policy"])
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in policy["Statement"])
    for alarm in captured.of_type(ALARM):
        assert alarm.inputs["alarmActions"] and alarm.inputs["okActions"]
        runbook = alarm.inputs["alarmDescription"].rsplit("Runbook: ", 1)[1]
        assert (ROOT / runbook).is_file(), runbook
    subs = captured.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [(s.inputs["protocol"], s.inputs["endpoint"]) for s in subs] == [("email", "oncall@example.com")]


def test_gcp_policies_watch_tunnels_bgp_and_load_balancer_errors():
    captured = run(gcp=True)
    policies = by_name(captured, POLICY)
    assert set(policies) == {"mon-vpn-tunnel-down", "mon-bgp-session-down", "mon-lb-5xx"}
    for p in policies.values():
        assert p["notificationChannels"], "an alert policy with no channel alerts nobody"
        runbook = p["documentation"]["content"].rsplit("Runbook: ", 1)[1]
        assert (ROOT / runbook).is_file()
    lb = policies["mon-lb-5xx"]["conditions"][0]["conditionThreshold"]
    assert "response_code_class=500" in lb["filter"] and "response_code_class" not in lb["denominatorFilter"]


def test_no_alarms_without_anything_to_watch():
    captured = run()
    assert not captured.of_type(ALARM) and not captured.of_type("aws:sns/topic:Topic")
    assert not captured.of_type(POLICY)


def test_each_region_prometheus_evaluates_its_plan_rules(prod_run):
    """The prod preview hands every region's Prometheus release the rule file planned for that region."""
    from infra.planning.plan import plan_for_stack_file
    from tests.factories import ROOT

    plan = plan_for_stack_file(ROOT / "Pulumi.prod.yaml")
    releases = [r for r in prod_run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "prometheus"]
    assert len(releases) == len(plan.regions)
    for release in releases:
        region = release.name.split("-", 1)[0]
        rules = release.inputs["values"]["serverFiles"]["alerting_rules.yml"]
        assert rules == plan.monitoring.rule_groups(region)
        alerts = {r.get("alert") for g in rules["groups"] for r in g["rules"]}
        assert {"Watchdog", "ServersBelowPlan", "SloAvailabilityBurn1h"} <= alerts
        # The node and pod alerts only where kube-state-metrics, which makes their series, is installed.
        assert {"NodeNotReady", "PodsUnschedulable"} <= alerts
        assert release.inputs["values"]["kube-state-metrics"]["enabled"] is True
