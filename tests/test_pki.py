"""PKI under mocks: a CA that can only sign, leaves with the right uses and SANs, keys only as secrets."""

from __future__ import annotations

import pulumi
import pytest

from components.pki import ALLOWED_USES, LeafCertificate, LeafCertificateArgs, RootCa, RootCaArgs
from infra.offline.mock_runtime import SECRET, run_mocked

KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CSR = "tls:index/certRequest:CertRequest"
SIGNED = "tls:index/locallySignedCert:LocallySignedCert"


def pki_program():
    ca = RootCa("ca", RootCaArgs(common_name="rollout test CA", organization="platform-team"))
    LeafCertificate("mongo-use1", LeafCertificateArgs(
        ca_cert_pem=ca.cert_pem, ca_private_key_pem=ca.private_key_pem, common_name="mongo-0.use1.internal",
        usage="peer", dns_names=("mongo-0.use1.internal",), ip_addresses=("10.0.0.10",)))
    LeafCertificate("client", LeafCertificateArgs(
        ca_cert_pem=ca.cert_pem, ca_private_key_pem=ca.private_key_pem, common_name="serving", usage="client"))
    pulumi.export("caCertPem", ca.cert_pem)


@pytest.fixture(scope="module")
def run():
    captured = run_mocked(pki_program, stack="test")
    assert len(captured.of_type(KEY)) == 3, "the program ran and declared one key per certificate"
    return captured


def test_root_ca_is_ecdsa_p384_and_may_only_sign(run):
    (ca,) = run.of_type(SELF_SIGNED)
    assert ca.inputs["isCaCertificate"] is True
    assert sorted(ca.inputs["allowedUses"]) == ["cert_signing", "crl_signing"]
    # five years and no automatic early renewal: rotating the root is a planned procedure (docs/security.md)
    assert ca.inputs["validityPeriodHours"] == 5 * 8760 and ca.inputs.get("earlyRenewalHours", 0) == 0
    assert all(k.inputs == {"algorithm": "ECDSA", "ecdsaCurve": "P384"} for k in run.of_type(KEY))


def test_every_private_key_reaches_other_resources_only_as_a_secret(run):
    (ca,) = run.of_type(SELF_SIGNED)
    assert ca.inputs["privateKeyPem"] == SECRET
    assert [r.inputs["privateKeyPem"] for r in run.of_type(CSR)] == [SECRET, SECRET]
    assert [r.inputs["caPrivateKeyPem"] for r in run.of_type(SIGNED)] == [SECRET, SECRET]
    # The CA certificate is public and passed as is.
    assert all(r.inputs["caCertPem"].startswith("-----BEGIN CERTIFICATE-----") for r in run.of_type(SIGNED))


def test_only_the_ca_certificate_is_exported(run):
    assert list(run.outputs) == ["caCertPem"]
    assert run.outputs["caCertPem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in str(run.outputs)


def test_leaves_carry_their_uses_sans_and_renewal_window(run):
    csrs = {r.name: r.inputs for r in run.of_type(CSR)}
    certs = {r.name: r.inputs for r in run.of_type(SIGNED)}
    assert csrs["mongo-use1-csr"]["dnsNames"] == ["mongo-0.use1.internal"]
    assert csrs["mongo-use1-csr"]["ipAddresses"] == ["10.0.0.10"]
    assert certs["mongo-use1-cert"]["allowedUses"] == ALLOWED_USES["peer"]
    assert certs["client-cert"]["allowedUses"] == ALLOWED_USES["client"]
    assert "server_auth" not in certs["client-cert"]["allowedUses"]
    for c in certs.values():
        assert c["validityPeriodHours"] == 90 * 24 and c["earlyRenewalHours"] == 30 * 24
        assert "cert_signing" not in c["allowedUses"]


def test_a_server_certificate_without_names_is_refused():
    def program():
        LeafCertificate("bad", LeafCertificateArgs(ca_cert_pem="x", ca_private_key_pem="y", common_name="bad",
                                                   usage="server"))

    with pytest.raises(ValueError, match="needs at least one DNS or IP SAN"):
        run_mocked(program)
