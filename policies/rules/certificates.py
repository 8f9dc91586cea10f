"""Public certificates and TLS policies: ACM and Google-managed certificates are DNS-validated (so they
renew by themselves), ACM certificates are used only once validated, listeners and SSL policies
negotiate TLS 1.2 or newer."""

from __future__ import annotations

from collections.abc import Iterator

from .core import HIGH, MANDATORY, Param, Resource, StackFinding, as_list, is_unknown, rule, stack_rule

ACM_CERTIFICATE = "aws:acm/certificate:Certificate"
ACM_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
GCP_CERTIFICATE = "gcp:certificatemanager/certificate:Certificate"
SSL_POLICIES = ("gcp:compute/sSLPolicy:SSLPolicy", "gcp:compute/regionSslPolicy:RegionSslPolicy")  # sic: the SDK token
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
# ELB policies that accept TLS 1.2+ only
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
TLS12_POLICIES = ["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                  "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS-1-2-2017-01",
                  "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-FS-1-2-Res-2020-10"]


@rule("acm-certificate-dns-validated", "ACM certificates are issued by ACM with DNS validation (renewed "
      "automatically while the validation record stays), not imported or e-mail validated.",
      enforcement=MANDATORY, severity=HIGH, types=(ACM_CERTIFICATE,))
def acm_certificate_dns_validated(r: Resource, config) -> Iterator[str]:
    if r.props.get("privateKey") or r.props.get("certificateBody"):
        yield "imported certificate: ACM cannot renew it"
        return
    if r.props.get("certificateAuthorityArn"):
        return  # private CA certificates are not public endpoints' certificates
    method = r.props.get("validationMethod")
    if not is_unknown(method) and method != "DNS":
        yield f"validationMethod is {method!r}; use DNS"


@stack_rule("acm-certificate-validated-before-use", "Every ACM certificate has a CertificateValidation, so "
            "listeners take the ARN only once the certificate is issued.",
            enforcement=MANDATORY, severity=HIGH, reads=(ACM_CERTIFICATE, ACM_VALIDATION))
def acm_certificate_validated(resources: list[Resource], config) -> Iterator[StackFinding]:
    validated = {dep.urn for r in resources if r.type == ACM_VALIDATION for dep in r.depends_on("certificateArn")}
    for cert in (r for r in resources if r.type == ACM_CERTIFICATE):
        if cert.props.get("validationMethod") == "DNS" and cert.urn not in validated:
            yield "ACM certificate without a CertificateValidation", cert.urn


@rule("gcp-certificate-dns-authorized", "Google-managed certificates have a DNS authorization for every "
      "domain (issued and renewed without serving traffic first).",
      enforcement=MANDATORY, severity=HIGH, types=(GCP_CERTIFICATE,))
def gcp_certificate_dns_authorized(r: Resource, config) -> Iterator[str]:
    if r.props.get("selfManaged"):
        yield "self-managed certificate: nothing renews it"
        return
    managed = r.props.get("managed")
    if not isinstance(managed, dict) or managed.get("issuanceConfig"):
        return
    domains, auths = as_list(managed.get("domains")), as_list(managed.get("dnsAuthorizations"))
    if any(is_unknown(x) for x in domains + auths):
        return
    if len(auths) < len(domains):
        yield f"{len(domains)} domain(s), {len(auths)} DNS authorization(s): authorize every domain"


@rule("tls-policy-min-1-2", "HTTPS listeners and SSL policies negotiate TLS 1.2 or newer only.",
      enforcement=MANDATORY, severity=HIGH, types=(*SSL_POLICIES, *LISTENERS),
      params={"allowedElbPolicies": Param("array", TLS12_POLICIES, "ELB security policies accepted")})
def tls_policy_min_1_2(r: Resource, config) -> Iterator[str]:
    if r.type in SSL_POLICIES:
        version = r.props.get("minTlsVersion", "TLS_1_0")  # the API's default when unset
        if not is_unknown(version) and version not in ("TLS_1_2", "TLS_1_3"):
            yield f"minTlsVersion {version}; use TLS_1_2 or newer"
        if r.props.get("profile") == "COMPATIBLE":
            yield "profile COMPATIBLE allows legacy ciphers; use MODERN or RESTRICTED"
        return
    if r.props.get("protocol") != "HTTPS":
        return
    policy = r.props.get("sslPolicy")
    if not is_unknown(policy) and policy not in config["allowedElbPolicies"]:
        yield f"sslPolicy {policy!r} is not a TLS 1.2+ policy"


RULES = [acm_certificate_dns_validated, acm_certificate_validated, gcp_certificate_dns_authorized, tls_policy_min_1_2]
