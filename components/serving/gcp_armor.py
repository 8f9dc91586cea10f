"""Cloud Armor on one GCP region's model endpoint: only the public routes pass, a request needs a key
of a configured tier, a body size limit, preconfigured WAF rules, and a throttle per key
(`HTTP_HEADER` authorization, one rule per tier) and per address.

Cloud Armor stops at the first matching rule and a throttle's conform action is `allow`, so one
request meets one throttle: keyed requests the tier's, every other request (only `/health` gets
past the key rule) the address one. A flood of made-up keys of a real tier therefore meets the
per-key throttle of each made-up key only; the servers refuse those with one hash lookup each
and count them (`rollout_api_auth_total`). AWS WAF counts both (components/serving/aws_waf.py).
Rules language: https://cloud.google.com/armor/docs/rules-language-reference ; rate limiting:
https://cloud.google.com/armor/docs/rate-limiting-overview ; preconfigured rules:
https://cloud.google.com/armor/docs/waf-rules
"""

from __future__ import annotations

from infra.planning.api_edge import HEADER, PUBLIC_PATH_REGEX, WINDOW_SECONDS, RegionApiEdge

# Preconfigured rule sets that do not read prompts as attacks (sqli/xss/lfi/rce inspect the body,
# where a prompt about code looks like one): HTTP method enforcement, scanners, protocol attacks,
# and the Log4j CVE canary.
PRECONFIGURED_WAF = ("methodenforcement-v33-stable", "scannerdetection-v33-stable", "protocolattack-v33-stable",
                     "cve-canary")
DEFAULT_PRIORITY = 2147483647


def _has_key(edge: RegionApiEdge) -> str:
    return f"has(request.headers['{HEADER}']) && request.headers['{HEADER}'].matches('{edge.bearer_regex}')"


def armor_rules(edge: RegionApiEdge) -> list[dict]:
    """RegionSecurityPolicyRuleArgs as dicts, lowest priority first."""
    def expr(text: str) -> dict:
        return {"expr": {"expression": text}}

    rules = [
        {"priority": 100, "action": "deny(404)", "description": "only the public model routes and /health",
         "match": expr(f"!request.path.matches('{PUBLIC_PATH_REGEX}')")},
        {"priority": 200, "action": "deny(403)", "description": "a key of a configured tier on every model route",
         "match": expr(f"request.path != '/health' && !({_has_key(edge)})")},
        {"priority": 300, "action": "deny(403)", "description": "request body size",
         "match": expr(f"has(request.headers['content-length']) && "
                       f"request.headers['content-length'].matches('{edge.body_regex}')")},
    ]
    for i, waf in enumerate(PRECONFIGURED_WAF):
        rules.append({"priority": 400 + i, "action": "deny(403)", "description": f"preconfigured WAF {waf}",
                      "match": expr(f"evaluatePreconfiguredWaf('{waf}')")})
    for i, tier in enumerate(edge.tiers):
        rules.append({
            "priority": 1000 + i, "action": "throttle", "description": f"rate per key, tier {tier.tier}",
            "match": expr(f"has(request.headers['{HEADER}']) && "
                          f"request.headers['{HEADER}'].startsWith('{tier.header_prefix}')"),
            "rate_limit_options": {"conform_action": "allow", "exceed_action": "deny(429)",
                                   "enforce_on_key": "HTTP_HEADER", "enforce_on_key_name": HEADER,
                                   "rate_limit_threshold": {"count": tier.per_window,
                                                            "interval_sec": WINDOW_SECONDS}}})
    match_all = {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}
    rules += [
        {"priority": 2000, "action": "throttle", "description": "rate per address", "match": match_all,
         "rate_limit_options": {"conform_action": "allow", "exceed_action": "deny(429)", "enforce_on_key": "IP",
                                "rate_limit_threshold": {"count": edge.address_per_window,
                                                         "interval_sec": WINDOW_SECONDS}}},
        {"priority": DEFAULT_PRIORITY, "action": "allow", "description": "default rule", "match": match_all},
    ]
    return rules
