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


@rule("tls-ca-no-auto-renewal",
      "CA certificates never renew on their own (earlyRenewalHours 0): replacing the root replaces trust in every "
      "leaf, so rotation is a planned procedure (docs/security.md), not a side effect of a routine `pulumi up`.",
      enforcement=MANDATORY, severity=HIGH, types=CERTIFICATES)
def tls_ca_no_auto_renewal(r: Resource, config) -> Iterator[str]:
    if r.props.get("isCaCertificate") is not True:
        return
    early = r.props.get("earlyRenewalHours", 0)
    if not is_unknown(early) and early:
        yield f"earlyRenewalHours {early:g} on a CA: a routine update re-issues the root and breaks every leaf"


@rule("tls-ca-constrained",
      "CA certificates may only sign (cert_signing, crl_signing), never serve TLS themselves, and set a path length.",
      enforcement=MANDATORY, severity=MEDIUM, types=CERTIFICATES)
def tls_ca_constrained(r: Resource, config) -> Iterator[str]:
    if r.props.get("isCaCertificate") is not True:
        return
    uses = [u for u in as_list(r.props.get("allowedUses")) if not is_unknown(u)]
    extra = [u for u in uses if u not in ("cert_signing", "crl_signing", "digital_signature")]
    if extra:
        yield f"the CA also allows {extra}"
    if "cert_signing" not in uses and not is_unknown(r.props.get("allowedUses")):
        yield "the CA lacks cert_signing"


@rule("tls-no-self-signed-leaf",
      "Only CAs are self-signed; every other certificate is issued by the private CA (trusted and rotatable).",
      enforcement=MANDATORY, severity=MEDIUM, types=(SELF_SIGNED,))
def tls_no_self_signed_leaf(r: Resource, config) -> Iterator[str]:
    if r.props.get("isCaCertificate") is not True and not is_unknown(r.props.get("isCaCertificate")):
        yield "a self-signed certificate that is not a CA"


@rule("random-password-strength", "Generated passwords and pre-shared keys are long (RandomPassword length).",
      enforcement=MANDATORY, severity=HIGH, types=("random:index/randomPassword:RandomPassword",),
      params={"minLength": Param("integer", 32, "shortest acceptable generated secret")})
def random_password_strength(r: Resource, config) -> Iterator[str]:
    length = r.props.get("length")
    if length is not None and not is_unknown(length) and int(length) < config["minLength"]:
        yield f"length {length:g}; at least {config['minLength']}"


RULES = [tls_key_strength, tls_certificate_validity, tls_leaf_cannot_sign, tls_early_renewal, tls_ca_no_auto_renewal,
         tls_ca_constrained, tls_no_self_signed_leaf, random_password_strength]
