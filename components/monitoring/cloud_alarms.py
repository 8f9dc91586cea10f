"""The signals each cloud watches best, alerting the stack's receivers: private links, edge health,
load-balancer errors and public certificate expiry (docs/monitoring.md has the table and the sources).

AWS: CloudWatch alarms to one SNS topic per region (encrypted with a customer key CloudWatch may use:
the AWS-managed SNS key refuses CloudWatch), Route 53 health-check alarms in us-east-1 (the only region
Route 53 publishes metrics to). GCP: Cloud Monitoring alert policies to email notification channels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.tags import aws_tags, gcp_labels
from infra.planning.partition import account_root, partition_of_region, service_principal

Threshold = gcp.monitoring.AlertPolicyConditionConditionThresholdArgs
Aggregation = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs
Query = aws.cloudwatch.MetricAlarmMetricQueryArgs
QueryMetric = aws.cloudwatch.MetricAlarmMetricQueryMetricArgs

ROUTE53_METRICS_REGION = "us-east-1"  # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-status.html
RUNBOOKS = "docs/runbooks"


def sns_key_policy(account_id: str, partition: str = "aws") -> str:
    """The account administers; CloudWatch alarms of this account may encrypt to the topic.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": account_root(partition, account_id)},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
         "Principal": {"Service": service_principal(partition, "cloudwatch")},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]})


@dataclass(frozen=True)
class CloudAlarmsArgs:
    tags: Mapping[str, str]
    emails: Sequence[str] = ()
    # AWS region (location) -> the VPN connection ids ending there, the ALB's ARN suffix, the
    # certificate ARN of the regional endpoint
    vpn_connection_ids: Mapping[str, Sequence[pulumi.Input[str]]] = field(default_factory=dict)
    alb_arn_suffixes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    certificate_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    health_check_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # region name -> id
    gcp: bool = False  # the stack has GCP regions: VPN, BGP and load-balancer policies in its project
    lb_error_ratio: float = 0.05  # 5xx share of requests that alerts
    certificate_days: int = 30  # alert this many days before a public certificate expires
    protect: bool = False  # prod: the topics' keys carry `protect`, like every key of the stack
    providers: Mapping[str, Any] = field(default_factory=dict)  # partition -> aws.Provider (not aws)


class CloudAlarms(pulumi.ComponentResource):
    """Alarms and where they go, per cloud."""

    topics: dict[str, aws.sns.Topic]
    alarms: list[aws.cloudwatch.MetricAlarm]
    policies: list[gcp.monitoring.AlertPolicy]

    def __init__(self, name: str, args: CloudAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:monitoring:CloudAlarms", name, None, opts)
        self.topics, self.alarms, self.policies = {}, [], []
        aws_regions = sorted({*args.vpn_connection_ids, *args.alb_arn_suffixes, *args.certificate_arns,
                              *([ROUTE53_METRICS_REGION] if args.health_check_ids else [])})
        for loc in aws_regions:
            self.topics[loc] = self._topic(name, loc, args)
        for loc, ids in sorted(args.vpn_connection_ids.items()):
            for i, vpn_id in enumerate(ids):
                # TunnelState with only VpnId: below 1 when any tunnel of the connection is not UP/ESTABLISHED.
                # https://docs.aws.amazon.com/vpn/latest/s2svpn/viewing-cloudwatch-vpn-metrics.html
                self._alarm(f"{name}-{loc}-vpn-{i}", loc, "vpn-tunnel-down",
                            f"{loc}: a tunnel of VPN connection {i} is down", namespace="AWS/VPN",
                            metric_name="TunnelState", dimensions={"VpnId": vpn_id}, statistic="Minimum",
                            period=300, evaluation_periods=1, threshold=1, comparison_operator="LessThanThreshold",
                            treat_missing_data="breaching", args=args)
        for loc, suffix in sorted(args.alb_arn_suffixes.items()):
            def metric(mid: str, metric_name: str, s=suffix) -> Query:
                return Query(id=mid, metric=QueryMetric(namespace="AWS/ApplicationELB", metric_name=metric_name,
                                                        period=300, stat="Sum", dimensions={"LoadBalancer": s}))
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
            self._alarm(f"{name}-{loc}-alb-5xx", loc, "lb-5xx", f"{loc}: over {args.lb_error_ratio:.0%} of requests "
                        "end in a 5xx at the load balancer", metric_queries=[
                            metric("elb", "HTTPCode_ELB_5XX_Count"), metric("target", "HTTPCode_Target_5XX_Count"),
                            metric("requests", "RequestCount"),
                            Query(
                                id="ratio", expression="(FILL(elb,0) + FILL(target,0)) / requests",
                                label="5xx share", return_data=True)],
                        evaluation_periods=2, threshold=args.lb_error_ratio,
                        comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching", args=args)
        for loc, arn in sorted(args.certificate_arns.items()):
            # https://docs.aws.amazon.com/acm/latest/userguide/cloudwatch-metrics.html (published daily)
            self._alarm(f"{name}-{loc}-cert-expiry", loc, "certificate-expiry",
                        f"{loc}: the public certificate expires within {args.certificate_days} days",
                        namespace="AWS/CertificateManager", metric_name="DaysToExpiry",
                        dimensions={"CertificateArn": arn}, statistic="Minimum", period=86400, evaluation_periods=1,
                        threshold=args.certificate_days, comparison_operator="LessThanThreshold",
                        treat_missing_data="missing", args=args)
        for region, check_id in sorted(args.health_check_ids.items()):
            self._alarm(f"{name}-{region}-health", ROUTE53_METRICS_REGION, "health-check-failing",
                        f"{region}: Route 53 health checkers see the regional endpoint unhealthy",
                        namespace="AWS/Route53", metric_name="HealthCheckStatus",
                        dimensions={"HealthCheckId": check_id},
                        statistic="Minimum", period=60, evaluation_periods=3, threshold=1,
                        comparison_operator="LessThanThreshold", treat_missing_data="breaching", args=args)
        if args.gcp:
            self._gcp_policies(name, args)
        self.register_outputs({"topics": {loc: t.arn for loc, t in self.topics.items()}})

    def _topic(self, name: str, loc: str, args: CloudAlarmsArgs) -> aws.sns.Topic:
        child = pulumi.ResourceOptions(parent=self)
        # The account of the region's partition: a China region's topic key names the China account.
        provider = args.providers.get(partition_of_region(loc))
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self, provider=provider)).account_id
        key = aws.kms.Key(f"{name}-{loc}-alerts-key", region=loc, description="SNS alert topic (CloudWatch alarms)",
                          enable_key_rotation=True, deletion_window_in_days=30,
                          policy=account.apply(lambda a: sns_key_policy(a, partition_of_region(loc))),
                          tags=aws_tags(dict(args.tags), f"{loc}-alerts-key"),
                          opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        topic = aws.sns.Topic(f"{name}-{loc}-alerts", region=loc, kms_master_key_id=key.arn,
                              tags=aws_tags(dict(args.tags), f"{loc}-alerts"), opts=child)
        for i, email in enumerate(args.emails):
            aws.sns.TopicSubscription(f"{name}-{loc}-alerts-email-{i}", region=loc, topic=topic.arn, protocol="email",
                                      endpoint=email, opts=child)
        return topic

    def _alarm(self, resource_name: str, loc: str, runbook: str, description: str, *, args: CloudAlarmsArgs,
               **alarm) -> None:
        topic = self.topics[loc]
        self.alarms.append(aws.cloudwatch.MetricAlarm(
            resource_name, region=loc, alarm_description=f"{description}. Runbook: {RUNBOOKS}/{runbook}.md",
            alarm_actions=[topic.arn], ok_actions=[topic.arn], tags=aws_tags(dict(args.tags), resource_name),
            opts=pulumi.ResourceOptions(parent=self), **alarm))

    def _gcp_policies(self, name: str, args: CloudAlarmsArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        channels = [gcp.monitoring.NotificationChannel(f"{name}-email-{i}", type="email", display_name=email,
                                                       labels={"email_address": email}, opts=child).id
                    for i, email in enumerate(args.emails)]

        def policy(key: str, title: str, runbook: str, threshold: Threshold) -> None:
            self.policies.append(gcp.monitoring.AlertPolicy(
                f"{name}-{key}", display_name=title, combiner="OR", notification_channels=channels,
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=f"Runbook: {RUNBOOKS}/{runbook}.md", mime_type="text/markdown"),
                conditions=[gcp.monitoring.AlertPolicyConditionArgs(display_name=title, condition_threshold=threshold)],
                user_labels=gcp_labels(dict(args.tags)), opts=child))

        def gauge_below_one(metric: str, resource: str, by: str) -> Threshold:
            return Threshold(
                filter=f'metric.type="{metric}" AND resource.type="{resource}"', comparison="COMPARISON_LT",
                threshold_value=1, duration="300s", aggregations=[Aggregation(
                    alignment_period="60s", per_series_aligner="ALIGN_MIN", group_by_fields=[by],
                    cross_series_reducer="REDUCE_MIN")])

        # https://cloud.google.com/monitoring/api/metrics_gcp (vpn, router, loadbalancing)
        policy("vpn-tunnel-down", "HA VPN tunnel not established", "vpn-tunnel-down",
               gauge_below_one("vpn.googleapis.com/tunnel_established", "vpn_gateway", "metric.label.tunnel_name"))
        policy("bgp-session-down", "Cloud Router BGP session down", "bgp-session-down",
               gauge_below_one("router.googleapis.com/bgp/session_up", "gce_router", "metric.label.bgp_peer_name"))
        requests = ('metric.type="loadbalancing.googleapis.com/https/external/regional/request_count" AND '
                    'resource.type="http_external_regional_lb_rule"')
        rate = [Aggregation(
            alignment_period="300s", per_series_aligner="ALIGN_RATE", cross_series_reducer="REDUCE_SUM",
            group_by_fields=["resource.label.region"])]
        policy("lb-5xx", f"Load balancer 5xx above {args.lb_error_ratio:.0%}", "lb-5xx",
               Threshold(
                   filter=f'{requests} AND metric.label.response_code_class=500', denominator_filter=requests,
                   aggregations=rate, denominator_aggregations=rate, comparison="COMPARISON_GT",
                   threshold_value=args.lb_error_ratio, duration="600s"))
