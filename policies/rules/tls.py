"""The private PKI (pulumi-tls): strong keys, bounded certificate lifetimes, renewal before expiry,
and leaf certificates that cannot sign other certificates."""

from __future__ import annotations

from collections.abc import Iterator

from .core import ADVISORY, HIGH, LOW, MANDATORY, MEDIUM, Param, Resource, as_list, is_unknown, rule

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
CERTIFICATES = (SELF_SIGNED, LOCALLY_SIGNED)
STRONG_CURVES = ("P256", "P384", "P521")


@rule("tls-key-strength", "TLS private keys are ECDSA P-256 or stronger, ED25519, or RSA with at least 3072 bits.",
      enforcement=MANDATORY, severity=HIGH, types=(PRIVATE_KEY,),
      params={"minRsaBits": Param("integer", 3072, "smallest acceptable RSA modulus")})
def tls_key_strength(r: Resource, config) -> Iterator[str]:
    algorithm = r.props.get("algorithm")
    if is_unknown(algorithm):
        return
    if algorithm == "RSA":
        bits = r.props.get("rsaBits", 2048)  # the provider's default when unset
        if not is_unknown(bits) and int(bits) < config["minRsaBits"]:
            yield f"RSA key of {bits:g} bits; at least {config['minRsaBits']}"
    elif algorithm == "ECDSA":
        curve = r.props.get("ecdsaCurve", "P224")  # the provider's default when unset
        if not is_unknown(curve) and curve not in STRONG_CURVES:
            yield f"ECDSA curve {curve}; use one of {', '.join(STRONG_CURVES)}"
    elif algorithm != "ED25519":
        yield f"algorithm {algorithm!r} is not RSA, ECDSA or ED25519"


@rule("tls-certificate-validity",
      "Certificates live no longer than the configured maximum: short for leaf certificates, longer for CAs.",
      enforcement=MANDATORY, severity=MEDIUM, types=CERTIFICATES,
      params={"maxLeafHours": Param("integer", 2160, "longest leaf certificate validity (90 days)"),
              "maxCaHours": Param("integer", 87600, "longest CA certificate validity (10 years)")})
def tls_certificate_validity(r: Resource, config) -> Iterator[str]:
    hours = r.props.get("validityPeriodHours")
    is_ca = r.props.get("isCaCertificate") is True
    if hours is None or is_unknown(hours):
        return
    limit = config["maxCaHours"] if is_ca else config["maxLeafHours"]
    if float(hours) > limit:
        yield f"{'CA' if is_ca else 'leaf'} certificate valid for {hours:g}h; at most {limit}h"


@rule("tls-leaf-cannot-sign", "Leaf certificates are not allowed to sign certificates (only CAs carry cert_signing).",
      enforcement=MANDATORY, severity=HIGH, types=CERTIFICATES)
def tls_leaf_cannot_sign(r: Resource, config) -> Iterator[str]:
    uses = as_list(r.props.get("allowedUses"))
    if r.props.get("isCaCertificate") is not True and ("cert_signing" in uses or "crl_signing" in uses):
        yield "a leaf certificate allows cert_signing/crl_signing; set isCaCertificate or drop the use"


@rule("tls-early-renewal", "Leaf certificates renew early (earlyRenewalHours > 0): a routine `pulumi up` renews them.",
      enforcement=ADVISORY, severity=LOW, types=CERTIFICATES)
def tls_early_renewal(r: Resource, config) -> Iterator[str]:
    if r.props.get("isCaCertificate") is True:
        return
    early = r.props.get("earlyRenewalHours", 0)
    if not is_unknown(early) and not early:
        yield "earlyRenewalHours is 0: the certificate is only replaced after it expired"


@rule("random-password-strength", "Generated passwords and pre-shared keys are long (RandomPassword length).",
      enforcement=MANDATORY, severity=HIGH, types=("random:index/randomPassword:RandomPassword",),
      params={"minLength": Param("integer", 32, "shortest acceptable generated secret")})
def random_password_strength(r: Resource, config) -> Iterator[str]:
    length = r.props.get("length")
    if length is not None and not is_unknown(length) and int(length) < config["minLength"]:
        yield f"length {length:g}; at least {config['minLength']}"


RULES = [tls_key_strength, tls_certificate_validity, tls_leaf_cannot_sign, tls_early_renewal, random_password_strength]
