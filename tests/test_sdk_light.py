"""The light SDK loader: a class is imported from its own module, never through its package's __init__."""

from __future__ import annotations

import sys

import pytest

from components.sdk import LightPackage, _snake


@pytest.mark.parametrize(("cls", "module"), [
    ("VPNTunnel", "vpn_tunnel"), ("HaVpnGateway", "ha_vpn_gateway"), ("SSLCertificate", "ssl_certificate"),
    ("ManagedSslCertificate", "managed_ssl_certificate"), ("Network", "network"),
    ("RouterPeer", "router_peer"), ("VpnConnection", "vpn_connection"), ("WebAcl", "web_acl"),
    ("BucketV2", "bucket_v2"), ("GlobalAddress", "global_address"),
])
def test_class_names_map_to_their_generated_module(cls, module):
    assert _snake(cls) == module


def test_every_class_the_program_uses_is_found_without_running_a_package_init(prod_run, dev_run):
    """After the dev and prod programs ran, no provider sub-package had to fall back to its whole
    __init__ (which imports every module of the service: ~290 for pulumi_gcp.compute)."""
    light = {name: m for name, m in sys.modules.items() if isinstance(m, LightPackage)}
    assert light, "the program no longer loads the SDKs through components.sdk"
    whole = sorted(name for name, m in light.items() if m.__dict__.get("_light_whole"))
    assert not whole, f"these sub-packages ran their whole __init__: {whole}"
