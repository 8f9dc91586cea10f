"""The stack's dashboards, in the consoles an operator already has: CloudWatch for the AWS side (a
global view in the Route 53 metrics region and one per AWS region), Cloud Monitoring for the GCP side
(a global view of the GCP regions and one per GCP region). Bodies come from the plan
(infra/planning/dashboards.py); only the load balancers' ARN suffixes are known at deploy time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from infra.planning.dashboards import (
    ROUTE53_METRICS_REGION,
    DashboardPlan,
    cloudwatch_global_body,
    cloudwatch_region_body,
    gcp_global_dashboard,
    gcp_region_dashboard,
)


@dataclass(frozen=True)
class DashboardsArgs:
    plan: DashboardPlan
    # AWS region name (e.g. use1) -> its ALB's ARN suffix (the `LoadBalancer` dimension); a region without
    # one (no serving endpoint) gets no AWS dashboard
    load_balancers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class Dashboards(pulumi.ComponentResource):
    """CloudWatch and Cloud Monitoring dashboards of the stack."""

    cloudwatch: dict[str, aws.cloudwatch.Dashboard]  # "global" and AWS region names
    gcp: dict[str, gcp.monitoring.Dashboard]  # "global" and GCP region names

    def __init__(self, name: str, args: DashboardsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:monitoring:Dashboards", name, None, opts)
        child, d = pulumi.ResourceOptions(parent=self), args.plan
        self.cloudwatch, self.gcp = {}, {}
        aws_regions = [r for r in d.aws if r.region in args.load_balancers]
        if aws_regions:
            suffixes = {r.region: args.load_balancers[r.region] for r in aws_regions}
            self.cloudwatch["global"] = aws.cloudwatch.Dashboard(
                f"{name}-global", region=ROUTE53_METRICS_REGION, dashboard_name=d.cloudwatch_name("global"),
                dashboard_body=pulumi.Output.all(**suffixes).apply(
                    lambda lbs: json.dumps(cloudwatch_global_body(d, lbs))), opts=child)
        for r in aws_regions:
            self.cloudwatch[r.region] = aws.cloudwatch.Dashboard(
                f"{name}-{r.region}", region=r.location, dashboard_name=d.cloudwatch_name(r.region),
                dashboard_body=pulumi.Output.from_input(args.load_balancers[r.region]).apply(
                    lambda lb, r=r: json.dumps(cloudwatch_region_body(d, r, lb))), opts=child)
        if d.gcp:
            self.gcp["global"] = gcp.monitoring.Dashboard(
                f"{name}-gcp-global", dashboard_json=json.dumps(gcp_global_dashboard(d)), opts=child)
            for r in d.gcp:
                self.gcp[r.region] = gcp.monitoring.Dashboard(
                    f"{name}-gcp-{r.region}", dashboard_json=json.dumps(gcp_region_dashboard(d, r)), opts=child)
        self.register_outputs({"cloudwatch": {k: v.dashboard_arn for k, v in self.cloudwatch.items()},
                               "gcp": {k: v.id for k, v in self.gcp.items()}})
