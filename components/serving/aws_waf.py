"""AWS WAF in front of one region's ALB: only the public routes pass, a request needs a key of a
configured tier, each key and each address is rate-limited to its share of the region's planned
capacity, AWS managed rule groups (core rule set, known bad inputs), and a body size limit.

Rate-based rules never end evaluation while under their limit, so a request counts against both its
key and its address. Rule order (lowest first): public routes (404), address rate (429), known bad
inputs, core rule set, body size (413), key required (401), one rate rule per tier (429).
Rule reference: https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statements-list.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.tags import aws_tags
from infra.planning.api_edge import HEADER, PUBLIC_PATH_REGEX, WINDOW_SECONDS, RegionApiEdge

# Core rule set rules that inspect the body: a prompt is free text (code, SQL, HTML, paths), and the
# body limit of 8 KB is far below a long prompt. They count (visible in the metrics and sampled
# requests) instead of blocking; the body size is limited by the rule below instead.
# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html
CRS_BODY_RULES_COUNTED = ("SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY",
                          "GenericRFI_BODY", "EC2MetaDataSSRF_BODY")
NONE = [{"priority": 0, "type": "NONE"}]


def _visibility(metric: str) -> dict[str, Any]:
    """Metrics per rule; no sampled requests: a sample keeps every header, the client's key with them."""
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": False}


def _block(code: int) -> dict[str, Any]:
    return {"block": {"custom_response": {"response_code": code}}}


def _regex(field: dict[str, Any], pattern: str) -> dict[str, Any]:
    return {"regex_match_statement": {"regex_string": pattern, "field_to_match": field, "text_transformations": NONE}}


def _header(name: str) -> dict[str, Any]:
    return {"single_header": {"name": name}}


def _managed(name: str, priority: int, group: str, counted: tuple[str, ...] = ()) -> dict[str, Any]:
    statement: dict[str, Any] = {"vendor_name": "AWS", "name": group}
    if counted:
        statement["rule_action_overrides"] = [{"name": r, "action_to_use": {"count": {}}} for r in counted]
    return {"name": name, "priority": priority, "override_action": {"none": {}},
            "statement": {"managed_rule_group_statement": statement}, "visibility_config": _visibility(name)}


def web_acl_rules(edge: RegionApiEdge) -> list[dict[str, Any]]:
    """The web ACL's rules (WebAclRuleArgs as dicts), from the region's edge plan."""
    rules: list[dict[str, Any]] = [
        {"name": "public-routes", "priority": 0, "action": _block(404),
         "statement": {"not_statement": {"statement": _regex({"uri_path": {}}, PUBLIC_PATH_REGEX)}},
         "visibility_config": _visibility("public-routes")},
        {"name": "rate-per-address", "priority": 1, "action": _block(429),
         "statement": {"rate_based_statement": {"aggregate_key_type": "IP", "limit": edge.address_per_window,
                                                "evaluation_window_sec": WINDOW_SECONDS}},
         "visibility_config": _visibility("rate-per-address")},
        _managed("known-bad-inputs", 2, "AWSManagedRulesKnownBadInputsRuleSet"),
        _managed("core-rule-set", 3, "AWSManagedRulesCommonRuleSet", CRS_BODY_RULES_COUNTED),
        {"name": "body-size", "priority": 4, "action": _block(413),
         "statement": _regex(_header("content-length"), edge.body_regex),
         "visibility_config": _visibility("body-size")},
        # /health needs no key; every other public route does (the servers check the key itself).
        {"name": "key-required", "priority": 5, "action": _block(401),
         "statement": {"and_statement": {"statements": [
             {"not_statement": {"statement": _regex(_header(HEADER), edge.bearer_regex)}},
             {"not_statement": {"statement": {"byte_match_statement": {
                 "positional_constraint": "EXACTLY", "search_string": "/health",
                 "field_to_match": {"uri_path": {}}, "text_transformations": NONE}}}},
         ]}},
         "visibility_config": _visibility("key-required")},
    ]
    for i, tier in enumerate(edge.tiers):
        rules.append({
            "name": f"rate-per-key-{tier.tier}", "priority": 10 + i, "action": _block(429),
            "statement": {"rate_based_statement": {
                "aggregate_key_type": "CUSTOM_KEYS", "limit": tier.per_window, "evaluation_window_sec": WINDOW_SECONDS,
                "custom_keys": [{"header": {"name": HEADER, "text_transformations": NONE}}],
                "scope_down_statement": {"byte_match_statement": {
                    "positional_constraint": "STARTS_WITH", "search_string": tier.header_prefix,
                    "field_to_match": _header(HEADER), "text_transformations": NONE}}}},
            "visibility_config": _visibility(f"rate-per-key-{tier.tier}")})
    return rules


@dataclass(frozen=True)
class ApiWebAclArgs:
    edge: RegionApiEdge
    location: str
    cluster_name: str
    load_balancer_arn: pulumi.Input[str]
    tags: dict[str, str]


class ApiWebAcl(pulumi.ComponentResource):
    """A regional web ACL associated with the region's ALB."""

    def __init__(self, name: str, args: ApiWebAclArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:ApiWebAcl", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        acl = aws.wafv2.WebAcl(
            f"{name}-acl", region=args.location, scope="REGIONAL",
            description=f"{args.cluster_name}: public model routes, keys, per-key and per-address limits",
            default_action={"allow": {}}, rules=web_acl_rules(args.edge),
            visibility_config=_visibility(f"{args.cluster_name}-api"),
            tags=aws_tags(args.tags, f"{args.cluster_name}-api"), opts=child)
        aws.wafv2.WebAclAssociation(f"{name}-alb", region=args.location, resource_arn=args.load_balancer_arn,
                                    web_acl_arn=acl.arn, opts=child)
        self.web_acl_arn = acl.arn
        self.register_outputs({"webAclArn": acl.arn})
