"""The stack's private root CA: an ECDSA P-384 key and a self-signed CA certificate from pulumi-tls.

The key never leaves state except as a Pulumi secret; only the certificate is an output. Leaf
certificates for MongoDB members and internal services are issued by `LeafCertificate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

HOURS_PER_YEAR = 24 * 365
# The tls provider's PrivateKey marks private_key_pem secret; we say it again so an SDK change cannot
# quietly publish a key (https://www.pulumi.com/registry/packages/tls/api-docs/privatekey/).
KEY_SECRETS = ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]


def private_key(name: str, parent: pulumi.Resource) -> tls.PrivateKey:
    """ECDSA P-384: 192-bit security, accepted by MongoDB's OpenSSL and every TLS 1.2+/1.3 stack."""
    return tls.PrivateKey(name, algorithm="ECDSA", ecdsa_curve="P384",
                          opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=KEY_SECRETS))


@dataclass(frozen=True)
class RootCaArgs:
    common_name: str
    organization: str
    # Five years, half the pack's CA ceiling, and no automatic early renewal: re-issuing the root replaces
    # the trust anchor of every leaf, so it is a planned rotation (docs/security.md "Root CA rotation"),
    # never a side effect of a routine `pulumi up` in year N.
    validity_years: int = 5
    early_renewal_years: int = 0


class RootCa(pulumi.ComponentResource):
    """Self-signed CA allowed only to sign certificates and CRLs; path length 0 (no intermediates)."""

    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]  # secret; pass to LeafCertificate, never export

    def __init__(self, name: str, args: RootCaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:pki:RootCa", name, None, opts)
        if not 0 <= args.early_renewal_years < args.validity_years:
            raise ValueError(f"{name}: early renewal ({args.early_renewal_years}y) must be shorter than validity")
        key = private_key(f"{name}-key", self)
        cert = tls.SelfSignedCert(
            f"{name}-cert", private_key_pem=pulumi.Output.secret(key.private_key_pem), is_ca_certificate=True,
            max_path_length=0, allowed_uses=["cert_signing", "crl_signing"],
            subject=tls.SelfSignedCertSubjectArgs(common_name=args.common_name, organization=args.organization),
            validity_period_hours=args.validity_years * HOURS_PER_YEAR,
            early_renewal_hours=args.early_renewal_years * HOURS_PER_YEAR, set_subject_key_id=True,
            opts=pulumi.ResourceOptions(parent=self))
        self.cert_pem = cert.cert_pem
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.register_outputs({"certPem": cert.cert_pem})
