"""Violating and compliant resources for the DNS and certificate rules (merged into the CASES of
tests/test_policies_rules.py)."""

RECORD = "aws:route53/record:Record"
ALIAS = {"name": "us-east.route.svc.example.com", "zoneId": "Z1"}

TRAFFIC_CASES: dict[str, tuple] = {
    "route53-routed-aliases-evaluate-health": (
        RECORD, {"weightedRoutingPolicies": [{"weight": 10}], "aliases": [{**ALIAS, "evaluateTargetHealth": False}]},
        {"weightedRoutingPolicies": [{"weight": 10}], "aliases": [{**ALIAS, "evaluateTargetHealth": True}]}),
    "route53-weights-in-range": (RECORD, {"weightedRoutingPolicies": [{"weight": 300}]},
                                 {"weightedRoutingPolicies": [{"weight": 255}]}),
    "route53-health-check-sni": ("aws:route53/healthCheck:HealthCheck",
                                 {"type": "HTTPS", "ipAddress": "203.0.113.1", "enableSni": False},
                                 {"type": "HTTPS", "fqdn": "use1.svc.example.com", "enableSni": True}),
    "acm-certificate-dns-validated": ("aws:acm/certificate:Certificate",
                                      {"domainName": "svc.example.com", "validationMethod": "EMAIL"},
                                      {"domainName": "svc.example.com", "validationMethod": "DNS"}),
    "gcp-certificate-dns-authorized": ("gcp:certificatemanager/certificate:Certificate",
                                       {"managed": {"domains": ["svc.example.com", "euw4.svc.example.com"],
                                                    "dnsAuthorizations": ["a"]}},
                                       {"managed": {"domains": ["svc.example.com", "euw4.svc.example.com"],
                                                    "dnsAuthorizations": ["a", "b"]}}),
    "tls-policy-min-1-2": ("gcp:compute/regionSslPolicy:RegionSslPolicy", {"profile": "COMPATIBLE"},
                           {"minTlsVersion": "TLS_1_2", "profile": "MODERN"}),
}
