"""Health checks and the Route 53 record tree of the traffic plan, pointed at the regions' endpoints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.endpoint import RegionalEndpoint
from components.tags import aws_tags
from infra.planning.traffic import DnsRecord, TrafficPlan


@dataclass(frozen=True)
class GlobalRecordsArgs:
    plan: TrafficPlan
    zone_id: pulumi.Input[str]
    endpoints: Mapping[str, RegionalEndpoint]  # every region of the plan
    tags: dict[str, str]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


class GlobalRecords(pulumi.ComponentResource):
    """One HTTPS health check per regional endpoint (`https://<region>.<domain>/health`, SNI on), the
    regional names, and the geolocation -> weighted -> failover tree. Records are upserted in place
    (names and set identifiers are stable); a record whose name or set identifier changes is replaced."""

    health_checks: dict[str, aws.route53.HealthCheck]
    records: list[aws.route53.Record]
    service_url: pulumi.Output[str]

    def __init__(self, name: str, args: GlobalRecordsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:traffic:GlobalRecords", name, None, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        missing = sorted(set(plan.regions) - set(args.endpoints))
        if missing:
            raise ValueError(f"GlobalRecords: no endpoint for region(s) {', '.join(missing)}")
        self.health_checks = {}
        for region in plan.regions:
            endpoint = args.endpoints[region]
            self.health_checks[region] = aws.route53.HealthCheck(
                f"{name}-{region}-health", type="HTTPS", fqdn=endpoint.hostname, port=endpoint.port,
                resource_path=plan.health_path, request_interval=plan.health_interval,
                failure_threshold=plan.health_failure_threshold, enable_sni=True, measure_latency=True,
                tags=aws_tags(args.tags, f"{endpoint.hostname}{plan.health_path}"), opts=child)
        self.records = self._records_after_targets(name, args, child)
        self.service_url = pulumi.Output.from_input(f"https://{plan.domain}/")
        self.register_outputs({"serviceUrl": self.service_url,
                               "healthChecks": {r: hc.id for r, hc in self.health_checks.items()}})

    def _records_after_targets(self, name: str, args: GlobalRecordsArgs,
                               child: pulumi.ResourceOptions) -> list[aws.route53.Record]:
        """Every record, each created after the records its alias names (Route 53 refuses an alias to
        a name of the zone that does not exist yet, and a name passed as a string orders nothing).
        Targets first; the list keeps the plan's order."""
        records = args.plan.records
        made: dict[int, aws.route53.Record] = {}
        by_name: dict[str, list[int]] = {}
        for i, rec in enumerate(records):
            by_name.setdefault(rec.name, []).append(i)
        while len(made) < len(records):
            ready = [i for i, rec in enumerate(records) if i not in made and all(
                j in made for j in by_name.get(rec.target or "", ()))]
            if not ready:
                raise ValueError("GlobalRecords: the record tree has an alias cycle")
            for i in ready:
                targets = [made[j] for j in by_name.get(records[i].target or "", ())]
                opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=targets)) \
                    if targets else child
                made[i] = self._record(name, records[i], args, opts)
        return [made[i] for i in range(len(records))]

    def _record(self, name: str, rec: DnsRecord, args: GlobalRecordsArgs,
                child: pulumi.ResourceOptions) -> aws.route53.Record:
        logical = f"{name}-{_slug(rec.set_identifier or rec.name.removesuffix('.' + args.plan.domain))}"
        if rec.kind == "endpoint":
            endpoint = args.endpoints[rec.region]
            if endpoint.cloud == "aws":
                alias = aws.route53.RecordAliasArgs(name=endpoint.dns_name, zone_id=endpoint.zone_id,
                                                    evaluate_target_health=True)
                return aws.route53.Record(logical, zone_id=args.zone_id, name=rec.name, type="A",
                                          aliases=[alias], opts=child)
            return aws.route53.Record(logical, zone_id=args.zone_id, name=rec.name, type="A",
                                      records=[endpoint.ip_address], ttl=args.plan.endpoint_ttl, opts=child)
        extra: dict = {}
        if rec.kind == "geolocation":
            loc = rec.location
            extra["geolocation_routing_policies"] = [aws.route53.RecordGeolocationRoutingPolicyArgs(
                continent=loc.continent, country=loc.country, subdivision=loc.subdivision)]
        elif rec.kind == "weighted":
            extra["weighted_routing_policies"] = [aws.route53.RecordWeightedRoutingPolicyArgs(weight=rec.weight)]
        elif rec.kind == "failover":
            extra["failover_routing_policies"] = [aws.route53.RecordFailoverRoutingPolicyArgs(type=rec.failover)]
        if rec.health_check:
            extra["health_check_id"] = self.health_checks[rec.health_check].id
        alias = aws.route53.RecordAliasArgs(name=rec.target, zone_id=args.zone_id, evaluate_target_health=True)
        return aws.route53.Record(logical, zone_id=args.zone_id, name=rec.name, type="A", aliases=[alias],
                                  set_identifier=rec.set_identifier, opts=child, **extra)
