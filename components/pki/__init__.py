"""Private PKI: a root CA and leaf certificates from pulumi-tls; keys exist only as Pulumi secrets."""

from components.pki.leaf import ALLOWED_USES, LeafCertificate, LeafCertificateArgs
from components.pki.root_ca import RootCa, RootCaArgs

__all__ = ["ALLOWED_USES", "LeafCertificate", "LeafCertificateArgs", "RootCa", "RootCaArgs"]
