"""A leaf certificate signed by the stack's RootCa: server or client use, DNS/IP SANs, early renewal.

Key -> CSR -> locally signed certificate, all in pulumi-tls; the key and the CA key travel only as
secrets. With `early_renewal_hours` the provider replaces the certificate on the first `pulumi up`
inside the window (https://www.pulumi.com/registry/packages/tls/api-docs/locallysignedcert/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_tls as tls

from components.pki.root_ca import private_key

Usage = Literal["server", "client", "peer"]
# Key usages for ECDSA leaves (RFC 5280 4.2.1.3 / 4.2.1.12); "peer" is both, e.g. MongoDB members that
# authenticate to each other with x.509 and serve clients.
ALLOWED_USES: dict[str, list[str]] = {
    "server": ["digital_signature", "key_agreement", "server_auth"],
    "client": ["digital_signature", "key_agreement", "client_auth"],
    "peer": ["digital_signature", "key_agreement", "server_auth", "client_auth"],
}


@dataclass(frozen=True)
class LeafCertificateArgs:
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]
    common_name: str
    usage: Usage
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    validity_days: int = 90
    early_renewal_days: int = 30
    organization: str = "global-ai-rollout"


class LeafCertificate(pulumi.ComponentResource):
    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]  # secret

    def __init__(self, name: str, args: LeafCertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:pki:LeafCertificate", name, None, opts)
        if args.usage in ("server", "peer") and not (args.dns_names or args.ip_addresses):
            raise ValueError(f"{name}: a {args.usage} certificate needs at least one DNS or IP SAN")
        if not 0 <= args.early_renewal_days < args.validity_days:
            raise ValueError(f"{name}: early renewal ({args.early_renewal_days}d) must be shorter than validity")
        key = private_key(f"{name}-key", self)
        key_pem = pulumi.Output.secret(key.private_key_pem)
        request = tls.CertRequest(
            f"{name}-csr", private_key_pem=key_pem, dns_names=list(args.dns_names),
            ip_addresses=list(args.ip_addresses),
            subject=tls.CertRequestSubjectArgs(common_name=args.common_name, organization=args.organization),
            opts=pulumi.ResourceOptions(parent=self))
        cert = tls.LocallySignedCert(
            f"{name}-cert", cert_request_pem=request.cert_request_pem, ca_cert_pem=args.ca_cert_pem,
            ca_private_key_pem=pulumi.Output.secret(args.ca_private_key_pem),
            allowed_uses=ALLOWED_USES[args.usage], validity_period_hours=args.validity_days * 24,
            early_renewal_hours=args.early_renewal_days * 24, set_subject_key_id=True,
            opts=pulumi.ResourceOptions(parent=self))
        self.cert_pem = cert.cert_pem
        self.private_key_pem = key_pem
        self.register_outputs({"certPem": cert.cert_pem})
