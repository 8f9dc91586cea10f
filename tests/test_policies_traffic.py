"""DNS and certificate rules beyond one-resource cases: stack rules and the listener side of TLS."""

from __future__ import annotations

from policies.rules.certificates import acm_certificate_validated, tls_policy_min_1_2
from policies.rules.core import Resource
from policies.rules.dns import health_checks_probe_stack_endpoints, weights_in_range


def res(typ: str, name: str, props=None, deps=()) -> Resource:
    return Resource(type=typ, props=props or {}, urn=f"urn:pulumi:prod::p::{typ}::{name}", name=name,
                    dependencies=list(deps))


def test_a_health_check_on_a_name_the_stack_does_not_declare_fails():
    record = res("aws:route53/record:Record", "r", {"name": "use1.svc.example.com", "type": "A"})
    good = res("aws:route53/healthCheck:HealthCheck", "g", {"type": "HTTPS", "fqdn": "use1.svc.example.com"})
    stray = res("aws:route53/healthCheck:HealthCheck", "s", {"type": "HTTPS", "fqdn": "old.svc.example.com"})
    assert list(health_checks_probe_stack_endpoints.evaluate([record, good])) == []
    findings = health_checks_probe_stack_endpoints.evaluate([record, good, stray])
    assert [urn for _, urn in findings] == [stray.urn]


def test_an_acm_certificate_nobody_validates_fails():
    cert = res("aws:acm/certificate:Certificate", "c", {"validationMethod": "DNS"})
    validation = res("aws:acm/certificateValidation:CertificateValidation", "v", deps=[cert])
    assert acm_certificate_validated.evaluate([cert, validation]) == []
    assert [urn for _, urn in acm_certificate_validated.evaluate([cert])] == [cert.urn]


def test_https_listeners_need_a_tls12_policy_plain_http_is_not_judged():
    listener = "aws:lb/listener:Listener"
    assert tls_policy_min_1_2.evaluate(res(listener, "l", {"protocol": "HTTPS",
                                                           "sslPolicy": "ELBSecurityPolicy-2016-08"}))
    assert tls_policy_min_1_2.evaluate(res(listener, "l", {"protocol": "HTTPS",
                                                           "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"})) == []
    assert tls_policy_min_1_2.evaluate(res(listener, "l", {"protocol": "HTTP"})) == []


def test_an_ssl_policy_left_at_the_default_minimum_fails():
    assert tls_policy_min_1_2.evaluate(res("gcp:compute/sSLPolicy:SSLPolicy", "p", {"profile": "MODERN"}))


def test_fractional_weights_fail():
    assert weights_in_range.evaluate(res("aws:route53/record:Record", "r",
                                         {"weightedRoutingPolicies": [{"weight": 1.5}]}))


def test_every_type_the_dns_and_certificate_rules_name_is_registered_by_an_sdk():
    """A rule keyed on a misspelled type never runs: each type string must appear in its provider SDK
    as the token a resource class registers (`super().__init__('<token>', ...)`)."""
    import importlib
    from pathlib import Path

    from policies.rules import certificates, dns

    types = {t for rule in (*dns.RULES, *certificates.RULES) for t in rule.resource_types}
    assert len(types) >= 9
    for token in types:
        package = importlib.import_module(f"pulumi_{token.split(':')[0]}")
        module = token.split(":")[1].split("/")[0]
        folder = Path(package.__file__).parent / module
        assert any(f'@pulumi.type_token("{token}")' in f.read_text() for f in folder.glob("*.py")), token
