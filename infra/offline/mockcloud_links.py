"""Mock outputs for the private links and the PKI: VPN tunnel addresses, HA VPN interface IPs,
peering attachment states, random passwords and TLS material (deterministic, realistic in shape).

`infra.offline.mockcloud.mock_outputs` merges these into every resource's state.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from typing import Any


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _public_ip(*parts: str) -> str:
    # 198.18.0.0/15 (RFC 2544 benchmarking): plausible public-looking addresses that route nowhere.
    net = ipaddress.ip_network("198.18.0.0/15")
    return str(net.network_address + int(_digest(*parts)[:8], 16) % (net.num_addresses - 2) + 1)


def fake_pem(label: str, seed: str, size: int = 180) -> str:
    """A deterministic PEM block of the right shape (base64 lines of 64); not a parseable key or cert."""
    raw = b"".join(hashlib.sha256(f"{seed}/{i}".encode()).digest() for i in range(size // 32 + 1))[:size]
    body = base64.b64encode(raw).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _hosts(cidr: str | None) -> list[str]:
    return [str(h) for h in ipaddress.ip_network(cidr).hosts()] if cidr else ["", ""]


def link_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Computed outputs of link and PKI resource types (empty for any other type)."""
    h = _digest(typ, name)
    if typ == "aws:ec2/vpnConnection:VpnConnection":
        t1, t2 = _hosts(inputs.get("tunnel1InsideCidr")), _hosts(inputs.get("tunnel2InsideCidr"))
        return {"tunnel1Address": _public_ip(name, "t1"), "tunnel2Address": _public_ip(name, "t2"),
                "tunnel1VgwInsideAddress": t1[0], "tunnel1CgwInsideAddress": t1[1],
                "tunnel2VgwInsideAddress": t2[0], "tunnel2CgwInsideAddress": t2[1],
                "transitGatewayAttachmentId": f"tgw-attach-{h[17:34]}", "customerGatewayConfiguration": "<xml/>"}
    if typ == "aws:ec2/customerGateway:CustomerGateway":
        return {"deviceName": ""}
    if typ in ("aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
               "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter"):
        return {"state": "available"}
    if typ == "gcp:compute/haVpnGateway:HaVpnGateway":
        return {"vpnInterfaces": [{"id": i, "ipAddress": _public_ip(name, f"if{i}")} for i in (0, 1)]}
    if typ == "gcp:compute/vPNTunnel:VPNTunnel":
        return {"tunnelId": str(int(h[:12], 16)), "detailedStatus": "Tunnel is up and running.",
                "sharedSecretHash": h[:32]}
    if typ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        seed = int(_digest(typ, name, "result"), 16)
        result = "".join(alphabet[(seed >> (6 * i)) % len(alphabet)] for i in range(length))
        return {"result": result, "bcryptHash": "$2a$10$" + h[:53]}
    if typ == "tls:index/privateKey:PrivateKey":
        return {"privateKeyPem": fake_pem("EC PRIVATE KEY", h, 167), "publicKeyPem": fake_pem("PUBLIC KEY", h, 120),
                "privateKeyPemPkcs8": fake_pem("PRIVATE KEY", h, 185), "privateKeyOpenssh": fake_pem(
                    "OPENSSH PRIVATE KEY", h, 300),
                "publicKeyOpenssh": f"ecdsa-sha2-nistp384 {base64.b64encode(bytes.fromhex(h)).decode()}\n",
                "publicKeyFingerprintSha256": f"SHA256:{base64.b64encode(bytes.fromhex(h)).decode()[:43]}",
                "publicKeyFingerprintMd5": ":".join(h[i:i + 2] for i in range(0, 32, 2))}
    if typ == "tls:index/certRequest:CertRequest":
        return {"certRequestPem": fake_pem("CERTIFICATE REQUEST", h, 400)}
    if typ in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
        hours = int(inputs.get("validityPeriodHours", 8760))
        return {"certPem": fake_pem("CERTIFICATE", h, 560), "validityStartTime": "2025-01-01T00:00:00Z",
                "validityEndTime": f"+{hours}h", "readyForRenewal": False}
    return {}
