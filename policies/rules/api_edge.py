"""The model API's public edge: every public serving entry limits each client key and each address,
checks keys, and refuses every path that is not a public model route (`/metrics` above all: it lists
every request rate and queue of the fleet). A GPU endpoint without these is the bill and the
capacity plan handed to strangers (docs/security.md, "API abuse").

AWS WAF rate-based rules: https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html
Cloud Armor rate limiting: https://cloud.google.com/armor/docs/rate-limiting-overview
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .core import HIGH, MANDATORY, Resource, StackFinding, as_list, get, is_unknown, rule, stack_rule

LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
GCP_BACKENDS = ("gcp:compute/backendService:BackendService", "gcp:compute/regionBackendService:RegionBackendService")
GCP_POLICIES = ("gcp:compute/securityPolicy:SecurityPolicy", "gcp:compute/regionSecurityPolicy:RegionSecurityPolicy")
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
KEY_HEADER = "authorization"
INTERNAL_PATHS = ("/metrics",)  # must never be reachable from the internet


def _public_albs(resources: list[Resource]) -> Iterator[Resource]:
    for lb in resources:
        if lb.type in LOAD_BALANCERS and lb.props.get("loadBalancerType", "application") == "application" \
                and lb.props.get("internal") is not True and not is_unknown(lb.props.get("internal")):
            yield lb


def _acls_of(lb: Resource, resources: list[Resource]) -> list[Resource]:
    acls = []
    for assoc in resources:
        if assoc.type == WEB_ACL_ASSOCIATION and lb in assoc.depends_on("resourceArn"):
            acls += [r for r in assoc.depends_on("webAclArn") if r.type == WEB_ACL]
    return acls


def _rate_keys(acl: Resource) -> set[str]:
    """What the web ACL's rate-based rules count by: 'IP', 'header:<name>' ..."""
    keys = set()
    for r in as_list(acl.props.get("rules")):
        rate = get(r, "statement.rateBasedStatement") if isinstance(r, dict) else None
        if not isinstance(rate, dict):
            continue
        kind = rate.get("aggregateKeyType")
        if kind in ("IP", "FORWARDED_IP"):
            keys.add("IP")
        for key in as_list(rate.get("customKeys")):
            name = get(key, "header.name")
            if isinstance(name, str):
                keys.add(f"header:{name.lower()}")
            if isinstance(key, dict) and "ip" in key:
                keys.add("IP")
    return keys


def _waf_match(statement: Any, path: str) -> bool | None:
    """Does the statement match a request for `path` (no key, nothing else)? None: cannot tell."""
    if not isinstance(statement, dict):
        return None
    if "notStatement" in statement:
        inner = _waf_match(get(statement, "notStatement.statement"), path)
        return None if inner is None else not inner
    field = None
    for kind in ("regexMatchStatement", "byteMatchStatement"):
        if kind in statement:
            field = statement[kind]
    if not isinstance(field, dict) or not isinstance(get(field, "fieldToMatch"), dict) \
            or "uriPath" not in field["fieldToMatch"]:
        return None
    if "regexString" in field:
        return re.search(str(field["regexString"]), path) is not None
    search, where = str(field.get("searchString", "")), field.get("positionalConstraint")
    return {"EXACTLY": path == search, "STARTS_WITH": path.startswith(search),
            "CONTAINS": search in path, "ENDS_WITH": path.endswith(search)}.get(where)


def waf_refuses(acl: Resource, path: str) -> bool:
    """True when the first rule (by priority) that surely matches a request for `path` blocks it."""
    rules = [r for r in as_list(acl.props.get("rules")) if isinstance(r, dict)]
    for r in sorted(rules, key=lambda r: r.get("priority", 0) if isinstance(r.get("priority"), int) else 0):
        if _waf_match(r.get("statement"), path) is True:
            return isinstance(get(r, "action.block"), dict)
    return get(acl.props, "defaultAction.block") is not None


_PATH_FORMS = (
    (re.compile(r"^!request\.path\.matches\('([^']*)'\)$"), lambda arg, p: re.search(arg, p) is None),
    (re.compile(r"^request\.path\.matches\('([^']*)'\)$"), lambda arg, p: re.search(arg, p) is not None),
    (re.compile(r"^request\.path\s*==\s*'([^']*)'$"), lambda arg, p: p == arg),
    (re.compile(r"^request\.path\.startsWith\('([^']*)'\)$"), lambda arg, p: p.startswith(arg)),
    (re.compile(r"^request\.path\.contains\('([^']*)'\)$"), lambda arg, p: arg in p),
)


def _armor_match(rule_: dict, path: str) -> bool | None:
    if get(rule_, "match.config.srcIpRanges") == ["*"]:
        return True
    expression = get(rule_, "match.expr.expression")
    if not isinstance(expression, str):
        return None
    for form, test in _PATH_FORMS:
        m = form.match(expression.strip())
        if m:
            return test(m.group(1), path)
    return None


def armor_refuses(policy: Resource, path: str) -> bool:
    rules = [r for r in as_list(policy.props.get("rules")) if isinstance(r, dict)]
    for r in sorted(rules, key=lambda r: r.get("priority", 0) if isinstance(r.get("priority"), int) else 0):
        if _armor_match(r, path) is True:
            return str(r.get("action", "")).startswith("deny")
    return False


def armor_header_throttled(policy: Resource) -> bool:
    for r in as_list(policy.props.get("rules")):
        opts = get(r, "rateLimitOptions") if isinstance(r, dict) else None
        if not isinstance(opts, dict) or r.get("action") not in ("throttle", "rate_based_ban"):
            continue
        keys = [(opts.get("enforceOnKey"), opts.get("enforceOnKeyName"))]
        keys += [(c.get("enforceOnKeyType"), c.get("enforceOnKeyName"))
                 for c in as_list(opts.get("enforceOnKeyConfigs")) if isinstance(c, dict)]
        if any(kind == "HTTP_HEADER" and str(name).lower() == KEY_HEADER for kind, name in keys):
            return True
    return False


@stack_rule("api-edge-aws-waf",
            "Every internet-facing ALB has an AWS WAF web ACL that rate-limits each client key (a rate-based rule "
            "keyed on the Authorization header) and each address, and refuses /metrics and every other "
            "non-public path.",
            enforcement=MANDATORY, severity=HIGH, reads=(*LOAD_BALANCERS, WEB_ACL_ASSOCIATION, WEB_ACL))
def api_edge_aws(resources: list[Resource], config) -> Iterator[StackFinding]:
    for lb in _public_albs(resources):
        acls = _acls_of(lb, resources)
        if not acls:
            yield f"internet-facing load balancer {lb.name} has no WAF web ACL (no per-key limit, /metrics open)", \
                lb.urn
            continue
        for acl in acls:
            keys = _rate_keys(acl)
            if f"header:{KEY_HEADER}" not in keys:
                yield f"web ACL {acl.name} has no rate-based rule keyed on the {KEY_HEADER} header", acl.urn
            if "IP" not in keys:
                yield f"web ACL {acl.name} has no rate-based rule keyed on the client address", acl.urn
            for path in INTERNAL_PATHS:
                if not waf_refuses(acl, path):
                    yield f"web ACL {acl.name} lets {path} through to {lb.name}", acl.urn


@stack_rule("api-edge-gcp-armor",
            "Every external GCP backend service has a Cloud Armor policy that throttles each client key "
            "(HTTP_HEADER Authorization) and refuses /metrics and every other non-public path.",
            enforcement=MANDATORY, severity=HIGH, reads=(*GCP_BACKENDS, *GCP_POLICIES))
def api_edge_gcp(resources: list[Resource], config) -> Iterator[StackFinding]:
    for backend in resources:
        if backend.type not in GCP_BACKENDS:
            continue
        scheme = backend.props.get("loadBalancingScheme", "EXTERNAL")
        if not isinstance(scheme, str) or not scheme.startswith("EXTERNAL"):
            continue
        policies = [r for r in backend.depends_on("securityPolicy") if r.type in GCP_POLICIES]
        if not policies:
            yield f"external backend service {backend.name} has no Cloud Armor policy", backend.urn
            continue
        for policy in policies:
            if not armor_header_throttled(policy):
                yield f"Cloud Armor policy {policy.name} has no throttle keyed on the {KEY_HEADER} header", policy.urn
            for path in INTERNAL_PATHS:
                if not armor_refuses(policy, path):
                    yield f"Cloud Armor policy {policy.name} lets {path} through to {backend.name}", policy.urn


def _runs_model_server(container: Any) -> bool:
    image = container.get("image") if isinstance(container, dict) else None
    return isinstance(image, str) and "vllm-openai" in image


def _authenticates(container: dict) -> bool:
    args = [a for a in as_list(container.get("args")) if isinstance(a, str)]
    args += [a for a in as_list(container.get("command")) if isinstance(a, str)]
    if is_unknown(container.get("args")) or any(is_unknown(a) for a in as_list(container.get("args"))):
        return True  # cannot tell yet
    for i, arg in enumerate(args):
        if arg == "--middleware" and i + 1 < len(args) and args[i + 1].endswith("KeyAuth"):
            return True
        if arg.startswith("--middleware=") and arg.endswith("KeyAuth"):
            return True
        if arg == "--api-key" or arg.startswith("--api-key="):
            return True
    return any(isinstance(e, dict) and e.get("name") == "VLLM_API_KEY" and isinstance(e.get("valueFrom"), dict)
               for e in as_list(container.get("env")))


@rule("api-model-server-authenticates",
      "Model servers (vLLM OpenAI server) check client API keys: the key-check middleware, or vLLM's own --api-key "
      "/ VLLM_API_KEY from a Secret. Every serving region is published on a public endpoint.",
      enforcement=MANDATORY, severity=HIGH, types=WORKLOADS)
def model_server_authenticates(r: Resource, config) -> Iterator[str]:
    for container in as_list(get(r.props, "spec.template.spec.containers")):
        if _runs_model_server(container) and not _authenticates(container):
            yield f"container {container.get('name')!r} serves the model API without an API key check"


RULES = [api_edge_aws, api_edge_gcp, model_server_authenticates]
