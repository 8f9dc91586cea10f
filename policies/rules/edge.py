"""The public edge (serving and global traffic): public load balancers speak only HTTPS with TLS 1.2+
policies, drop malformed headers and log; certificates are DNS-validated and transparency-logged;
GCP load balancers forward only 443 to HTTPS proxies with modern SSL policies; Route 53 health
checks really check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .core import (
    ADVISORY,
    HIGH,
    LOW,
    MANDATORY,
    MEDIUM,
    Param,
    Resource,
    StackFinding,
    as_list,
    get,
    is_unknown,
    rule,
    stack_rule,
)

LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
ACM_CERTIFICATE = "aws:acm/certificate:Certificate"
GCP_FORWARDING = ("gcp:compute/forwardingRule:ForwardingRule", "gcp:compute/globalForwardingRule:GlobalForwardingRule")
GCP_BACKENDS = ("gcp:compute/backendService:BackendService", "gcp:compute/regionBackendService:RegionBackendService")
GCP_HTTPS_PROXIES = ("gcp:compute/targetHttpsProxy:TargetHttpsProxy",
                     "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy")
GCP_SSL_POLICIES = ("gcp:compute/sSLPolicy:SSLPolicy", "gcp:compute/regionSslPolicy:RegionSslPolicy")
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ZONE = "aws:route53/zone:Zone"

# ELB security policies whose name says the minimum is TLS 1.2 or 1.3
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html,
#  https://docs.aws.amazon.com/elasticloadbalancing/latest/network/describe-ssl-policies.html).
TLS12_POLICY_MARKERS = ("TLS13-1-2", "TLS13-1-3", "TLS-1-2", "FS-1-2")


def tls12_policy(name: Any) -> bool:
    return isinstance(name, str) and any(marker in name for marker in TLS12_POLICY_MARKERS)


def _redirects_to_https(actions: Any) -> bool:
    for action in as_list(actions):
        if isinstance(action, dict) and action.get("type") == "redirect" and \
                str(get(action, "redirect.protocol", "")).upper() == "HTTPS":
            return True
    return False


@rule("lb-listener-https-tls12",
      "Load balancer listeners serve HTTPS/TLS with a TLS 1.2+ security policy; plain HTTP only redirects to HTTPS "
      "(FSBP ELB.1, ELB.17).",
      enforcement=MANDATORY, severity=HIGH, types=LISTENERS)
def listener_https(r: Resource, config) -> Iterator[str]:
    protocol = r.props.get("protocol")
    if is_unknown(protocol):
        return
    protocol = str(protocol or "").upper()
    if protocol == "HTTP":
        if not _redirects_to_https(r.props.get("defaultActions")):
            yield "HTTP listener that does not redirect to HTTPS"
    elif protocol in ("HTTPS", "TLS"):
        policy = r.props.get("sslPolicy")
        if not is_unknown(policy) and not tls12_policy(policy):
            yield f"sslPolicy {policy!r} allows TLS below 1.2 (the default ELBSecurityPolicy-2016-08 does)"
        if r.props.get("certificateArn") in (None, ""):
            yield f"{protocol} listener without certificateArn"


@stack_rule("public-lb-https-only",
            "Internet-facing load balancers have only HTTPS/TLS listeners or HTTP listeners that redirect to HTTPS: "
            "no plain TCP/UDP/HTTP service is published to the internet.",
            enforcement=MANDATORY, severity=HIGH, reads=(*LOAD_BALANCERS, *LISTENERS))
def public_lb_https_only(resources: list[Resource], config) -> Iterator[StackFinding]:
    for lb in (r for r in resources if r.type in LOAD_BALANCERS):
        if lb.props.get("internal") is True or is_unknown(lb.props.get("internal")):
            continue
        for listener in (r for r in resources if r.type in LISTENERS and lb in r.depends_on("loadBalancerArn")):
            protocol = str(listener.props.get("protocol") or "").upper()
            if is_unknown(listener.props.get("protocol")) or protocol in ("HTTPS", "TLS"):
                continue
            if protocol == "HTTP" and _redirects_to_https(listener.props.get("defaultActions")):
                continue
            yield f"internet-facing load balancer {lb.name} publishes {protocol or 'an unset protocol'}", listener.urn


@rule("lb-hardened",
      "Application load balancers drop invalid header fields and use defensive desync mitigation (FSBP ELB.4, ELB.12).",
      enforcement=MANDATORY, severity=MEDIUM, types=LOAD_BALANCERS)
def lb_hardened(r: Resource, config) -> Iterator[str]:
    if r.props.get("loadBalancerType", "application") != "application":
        return
    if r.props.get("dropInvalidHeaderFields") is not True and not is_unknown(r.props.get("dropInvalidHeaderFields")):
        yield "dropInvalidHeaderFields is not true (request smuggling)"
    if not as_list(r.props.get("securityGroups")) and not is_unknown(r.props.get("securityGroups")):
        yield "no securityGroups: the VPC's default security group applies"
    mode = r.props.get("desyncMitigationMode")
    if mode == "monitor":
        yield "desyncMitigationMode is 'monitor'; use 'defensive' or 'strictest'"


@rule("lb-access-logs", "Load balancers write access logs and are protected from deletion (FSBP ELB.5, ELB.6).",
      enforcement=ADVISORY, severity=LOW, types=LOAD_BALANCERS)
def lb_access_logs(r: Resource, config) -> Iterator[str]:
    if get(r.props, "accessLogs.enabled") is not True:
        yield "accessLogs.enabled is not true"
    if r.props.get("enableDeletionProtection") is not True:
        yield "enableDeletionProtection is not true"


@rule("lb-target-group-health-checked",
      "Target groups health-check their targets (unhealthy model servers leave the rotation).",
      enforcement=MANDATORY, severity=MEDIUM, types=TARGET_GROUPS)
def target_group_health(r: Resource, config) -> Iterator[str]:
    if r.props.get("targetType") == "lambda":
        return
    if get(r.props, "healthCheck.enabled") is False:
        yield "healthCheck.enabled is false"


@rule("lb-serving-least-outstanding",
      "HTTP(S) target groups and backend services in front of model servers route to the least-loaded replica "
      "(least outstanding requests / LEAST_REQUEST), not round robin.",
      enforcement=ADVISORY, severity=LOW, types=(*TARGET_GROUPS, *GCP_BACKENDS))
def lb_least_outstanding(r: Resource, config) -> Iterator[str]:
    if r.type in TARGET_GROUPS:
        if str(r.props.get("protocol", "")).upper() not in ("HTTP", "HTTPS"):
            return
        algorithm = r.props.get("loadBalancingAlgorithmType", "round_robin")
        if not is_unknown(algorithm) and algorithm != "least_outstanding_requests":
            yield f"loadBalancingAlgorithmType is {algorithm!r}"
    else:
        policy = r.props.get("localityLbPolicy")
        scheme = r.props.get("loadBalancingScheme", "EXTERNAL")
        if scheme in ("EXTERNAL_MANAGED", "INTERNAL_MANAGED") and policy not in ("LEAST_REQUEST", None) \
                and not is_unknown(policy):
            yield f"localityLbPolicy is {policy!r}"


@rule("acm-certificate-key-strength",
      "ACM certificates use RSA 2048+ or ECDSA keys and stay in certificate transparency logs "
      "(DNS validation itself: acm-certificate-dns-validated).",
      enforcement=ADVISORY, severity=LOW, types=(ACM_CERTIFICATE,))
def acm_key_strength(r: Resource, config) -> Iterator[str]:
    algorithm = r.props.get("keyAlgorithm")
    if isinstance(algorithm, str) and algorithm in ("RSA_1024", "RSA_1024_BIT"):
        yield f"keyAlgorithm {algorithm}"
    if get(r.props, "options.certificateTransparencyLoggingPreference") == "DISABLED":
        yield "certificate transparency logging is disabled"


@rule("gcp-forwarding-rule-https-only",
      "External GCP forwarding rules publish only port 443 (to HTTPS/SSL proxies), never every port.",
      enforcement=MANDATORY, severity=HIGH, types=GCP_FORWARDING,
      params={"allowedPorts": Param("array", ["443"], "ports an external forwarding rule may publish")})
def gcp_forwarding_https(r: Resource, config) -> Iterator[str]:
    scheme = r.props.get("loadBalancingScheme", "EXTERNAL")
    if is_unknown(scheme) or not str(scheme).startswith("EXTERNAL"):
        return
    if r.props.get("allPorts") is True:
        yield "allPorts is true on an external forwarding rule"
    allowed = {str(p) for p in config["allowedPorts"]}
    ports = [str(p) for p in as_list(r.props.get("ports")) if not is_unknown(p)]
    port_range = r.props.get("portRange")
    if isinstance(port_range, str) and not is_unknown(port_range):
        low, _, high = port_range.partition("-")
        ports += [low] if low == (high or low) else [port_range]
    bad = [p for p in ports if p not in allowed]
    if bad:
        yield f"external forwarding rule publishes {bad}; only {sorted(allowed)}"
    target = r.props.get("target")
    if isinstance(target, str) and "targetHttpProxies" in target:
        yield "external forwarding rule targets an HTTP (not HTTPS) proxy"


@rule("gcp-https-proxy-ssl-policy",
      "GCP HTTPS proxies attach an SSL policy (the default one still allows TLS 1.0).",
      enforcement=MANDATORY, severity=HIGH, types=GCP_HTTPS_PROXIES)
def gcp_proxy_ssl_policy(r: Resource, config) -> Iterator[str]:
    if r.props.get("sslPolicy") in (None, ""):
        yield "sslPolicy is not set: Google's default policy allows TLS 1.0"


@rule("gcp-ssl-policy-modern", "GCP SSL policies require TLS 1.2+ with the MODERN or RESTRICTED profile.",
      enforcement=MANDATORY, severity=HIGH, types=GCP_SSL_POLICIES)
def gcp_ssl_policy(r: Resource, config) -> Iterator[str]:
    version = r.props.get("minTlsVersion", "TLS_1_0")
    if not is_unknown(version) and version not in ("TLS_1_2", "TLS_1_3"):
        yield f"minTlsVersion is {version!r}; at least TLS_1_2"
    profile = r.props.get("profile", "COMPATIBLE")
    if not is_unknown(profile) and profile not in ("MODERN", "RESTRICTED", "CUSTOM"):
        yield f"profile is {profile!r}; MODERN or RESTRICTED"
    if profile == "CUSTOM":
        yield from custom_cipher_problems(r.props.get("customFeatures"))


# A CUSTOM profile is judged by its cipher list. Forward-secret AEAD suites are the ones the RESTRICTED
# profile keeps; RSA key exchange (no forward secrecy), CBC-mode and 3DES suites are weak
# (https://cloud.google.com/load-balancing/docs/ssl-policies-concepts#defining_an_ssl_policy, feature table).
STRONG_GCP_FEATURES = frozenset({
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
})


def custom_cipher_problems(features: Any) -> Iterator[str]:
    if is_unknown(features):
        return
    listed = [str(f) for f in as_list(features) if not is_unknown(f)]
    if not listed:
        yield "profile CUSTOM without customFeatures"
        return
    weak = [f for f in listed if f not in STRONG_GCP_FEATURES]
    if weak:
        yield f"profile CUSTOM enables weak cipher suites {weak} (no forward secrecy, CBC or 3DES)"


@rule("gcp-backend-service-hardened",
      "GCP backend services health-check their backends and log requests; external ones sit behind Cloud Armor.",
      enforcement=MANDATORY, severity=MEDIUM, types=GCP_BACKENDS)
def gcp_backend_hardened(r: Resource, config) -> Iterator[str]:
    p = r.props
    if not as_list(p.get("healthChecks")) and not is_unknown(p.get("healthChecks")):
        yield "no healthChecks: dead backends keep receiving requests"
    if get(p, "logConfig.enable") is not True and not is_unknown(p.get("logConfig")):
        yield "logConfig.enable is not true"
    scheme = p.get("loadBalancingScheme", "EXTERNAL")
    if isinstance(scheme, str) and scheme.startswith("EXTERNAL") and p.get("securityPolicy") in (None, ""):
        yield "external backend service without a securityPolicy (Cloud Armor)"


@rule("route53-health-check-effective",
      "Route 53 health checks are enabled, not inverted, and send SNI on HTTPS (else every check fails or passes).",
      enforcement=MANDATORY, severity=HIGH, types=(HEALTH_CHECK,))
def health_check_effective(r: Resource, config) -> Iterator[str]:
    if r.props.get("disabled") is True:
        yield "disabled: Route 53 then treats the endpoint as healthy"
    if r.props.get("invertHealthcheck") is True:
        yield "invertHealthcheck is true"
    if r.props.get("type") in ("HTTPS", "HTTPS_STR_MATCH") and r.props.get("enableSni") is False:
        yield "enableSni is false on an HTTPS check"
    threshold = r.props.get("failureThreshold")
    if threshold is not None and not is_unknown(threshold) and float(threshold) > 5:
        yield f"failureThreshold {threshold:g}: failover takes too long"


@rule("route53-zone-safe", "Public hosted zones are never force-destroyed with their records.",
      enforcement=MANDATORY, severity=MEDIUM, types=(ZONE,))
def zone_safe(r: Resource, config) -> Iterator[str]:
    if r.props.get("forceDestroy") is True:
        yield "forceDestroy is true: a destroy deletes every record"


@rule("gcp-public-dns-dnssec", "Public Cloud DNS zones are DNSSEC-signed (CIS GCP 3.3).",
      enforcement=MANDATORY, severity=MEDIUM, types=("gcp:dns/managedZone:ManagedZone",))
def gcp_dnssec(r: Resource, config) -> Iterator[str]:
    if r.props.get("visibility", "public") != "public":
        return
    if get(r.props, "dnssecConfig.state") != "on":
        yield "dnssecConfig.state is not 'on'"


HTTP_PROXIES = ("gcp:compute/targetHttpProxy:TargetHttpProxy",
                "gcp:compute/regionTargetHttpProxy:RegionTargetHttpProxy")


@stack_rule("gcp-public-forwarding-tls",
            "External GCP forwarding rules hand traffic to an HTTPS or SSL proxy, whatever port they publish: a "
            "443 forwarding rule in front of an HTTP proxy serves plain text (TLS is a protocol, not a port).",
            enforcement=MANDATORY, severity=HIGH, reads=(*GCP_FORWARDING, *HTTP_PROXIES))
def gcp_public_forwarding_tls(resources: list[Resource], config) -> Iterator[StackFinding]:
    for r in (r for r in resources if r.type in GCP_FORWARDING):
        scheme = r.props.get("loadBalancingScheme", "EXTERNAL")
        if is_unknown(scheme) or not str(scheme).startswith("EXTERNAL"):
            continue
        if any(d.type in HTTP_PROXIES for d in r.depends_on("target")):
            yield "external forwarding rule targets an HTTP (not HTTPS) proxy", r.urn


RULES = [gcp_public_forwarding_tls,
         gcp_dnssec, lb_least_outstanding, listener_https, public_lb_https_only, lb_hardened, lb_access_logs,
         target_group_health, acm_key_strength, gcp_forwarding_https, gcp_proxy_ssl_policy,
         gcp_ssl_policy, gcp_backend_hardened, health_check_effective, zone_safe]
