"""Global routing (Route 53): every latency/failover/weighted record is health-checked, and the
health checks probe the serving endpoint over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

from .core import ADVISORY, HIGH, LOW, MANDATORY, Param, Resource, is_unknown, rule

RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ROUTING_POLICIES = ("failoverRoutingPolicies", "latencyRoutingPolicies", "weightedRoutingPolicies",
                    "geolocationRoutingPolicies", "geoproximityRoutingPolicy", "cidrRoutingPolicy")


@rule("route53-routed-records-health-checked",
      "Route 53 records with a routing policy have a health check, so traffic fails over from a dead region.",
      enforcement=MANDATORY, severity=HIGH, types=(RECORD,))
def routed_records_health_checked(r: Resource, config) -> Iterator[str]:
    policies = [k for k in ROUTING_POLICIES if r.props.get(k)]
    if not policies or _alias_evaluates(r.props):  # an alias with evaluateTargetHealth is health-checked
        return
    if r.props.get("healthCheckId") in (None, ""):
        yield f"{policies[0]} without healthCheckId"


def _alias_evaluates(props) -> bool:
    return any(isinstance(a, dict) and a.get("evaluateTargetHealth") is True for a in props.get("aliases") or [])


@rule("route53-health-check-https", "Route 53 health checks probe over HTTPS (or combine other checks).",
      enforcement=ADVISORY, severity=LOW, types=(HEALTH_CHECK,))
def health_check_https(r: Resource, config) -> Iterator[str]:
    kind = r.props.get("type")
    if not is_unknown(kind) and kind not in ("HTTPS", "HTTPS_STR_MATCH", "CALCULATED", "CLOUDWATCH_METRIC"):
        yield f"type is {kind!r}; probe the serving endpoint over HTTPS"


@rule("route53-routed-record-ttl",
      "Records with a routing policy keep a short TTL, so resolvers follow a failover within a minute.",
      enforcement=ADVISORY, severity=LOW, types=(RECORD,),
      params={"maxTtl": Param("integer", 60, "longest TTL in seconds of a routed record")})
def routed_record_ttl(r: Resource, config) -> Iterator[str]:
    ttl = r.props.get("ttl")
    if any(r.props.get(k) for k in ROUTING_POLICIES) and isinstance(ttl, int | float) and ttl > config["maxTtl"]:
        yield f"ttl {ttl:g}s > {config['maxTtl']}s on a routed record"


RULES = [routed_records_health_checked, health_check_https, routed_record_ttl]
