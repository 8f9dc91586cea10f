"""Global routing (Route 53): every latency/failover/weighted record is health-checked, and the
health checks probe the serving endpoint over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

from .core import ADVISORY, HIGH, LOW, MANDATORY, MEDIUM, Resource, StackFinding, as_list, is_unknown, rule, stack_rule

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


@rule("route53-routed-aliases-evaluate-health",
      "Routed alias records evaluate their target's health, so a failed region below them is skipped.",
      enforcement=MANDATORY, severity=HIGH, types=(RECORD,))
def routed_aliases_evaluate_health(r: Resource, config) -> Iterator[str]:
    if not any(r.props.get(k) for k in ROUTING_POLICIES):
        return
    for alias in as_list(r.props.get("aliases")):
        if isinstance(alias, dict) and alias.get("evaluateTargetHealth") is False:
            yield f"alias to {alias.get('name')} without evaluateTargetHealth"


@rule("route53-weights-in-range", "Weighted records carry an integer weight from 0 to 255 (what Route 53 accepts).",
      enforcement=MANDATORY, severity=MEDIUM, types=(RECORD,))
def weights_in_range(r: Resource, config) -> Iterator[str]:
    for policy in as_list(r.props.get("weightedRoutingPolicies")):
        weight = policy.get("weight") if isinstance(policy, dict) else None
        if weight is None or is_unknown(weight):
            continue
        if float(weight) != int(weight) or not 0 <= int(weight) <= 255:
            yield f"weight {weight!r} is not an integer 0-255"


@rule("route53-health-check-sni", "HTTPS health checks name the endpoint (fqdn) and send SNI, so the regional "
      "certificate is the one presented and checked.", enforcement=MANDATORY, severity=MEDIUM, types=(HEALTH_CHECK,))
def health_check_sni(r: Resource, config) -> Iterator[str]:
    if r.props.get("type") not in ("HTTPS", "HTTPS_STR_MATCH"):
        return
    if r.props.get("enableSni") is False:
        yield "enableSni is false"
    if not r.props.get("fqdn"):
        yield "no fqdn: probing an address cannot verify the regional certificate"


@stack_rule("route53-health-checks-probe-stack-endpoints",
            "Every HTTPS health check probes a name this stack declares as a record (a real endpoint of the stack).",
            enforcement=MANDATORY, severity=HIGH, reads=(HEALTH_CHECK, RECORD))
def health_checks_probe_stack_endpoints(resources: list[Resource], config) -> Iterator[StackFinding]:
    names = {str(r.props.get("name")).rstrip(".") for r in resources if r.type == RECORD}
    for hc in (r for r in resources if r.type == HEALTH_CHECK):
        fqdn = hc.props.get("fqdn")
        if fqdn and not is_unknown(fqdn) and str(fqdn).rstrip(".") not in names:
            yield f"health check probes {fqdn}, which no record of this stack declares", hc.urn


RULES = [routed_records_health_checked, health_check_https, routed_aliases_evaluate_health, weights_in_range,
         health_check_sni, health_checks_probe_stack_endpoints]
