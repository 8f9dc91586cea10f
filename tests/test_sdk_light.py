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


def _load(module: str, *, postponed: bool):
    """A fresh copy of an SDK module under another name, compiled with or without postponed annotations."""
    import importlib.util

    from components.sdk import LazyAnnotationsLoader

    spec = importlib.util.find_spec(module)
    source = spec.loader.get_data(spec.origin)
    flags = LazyAnnotationsLoader.FLAGS if postponed else 0
    copy = type(sys)(module)
    copy.__package__ = module.rpartition(".")[0]
    exec(compile(source, spec.origin, "exec", flags=flags, dont_inherit=True), copy.__dict__)
    return copy


@pytest.mark.parametrize("module", ["pulumi_aws.wafv2._inputs", "pulumi_kubernetes.apps.v1._inputs"])
def test_postponed_annotations_give_the_sdk_the_same_input_types(module):
    """What pulumi._types reads from each input class (wire names, the type of every property) is the
    same whether the module's annotations were evaluated at import or postponed (PEP 563)."""
    from pulumi import _types

    eager, postponed = _load(module, postponed=False), _load(module, postponed=True)
    classes = [n for n, v in vars(eager).items() if isinstance(v, type) and _types.is_input_type(v)]
    assert len(classes) > 30
    for name in classes:
        a, b = getattr(eager, name), getattr(postponed, name)
        assert _types.input_type_py_to_pulumi_names(a) == _types.input_type_py_to_pulumi_names(b), name
        assert {k: repr(t) for k, t in _types.input_type_types(a).items()} == \
            {k: repr(t) for k, t in _types.input_type_types(b).items()}, name


def test_the_program_loads_the_sdk_input_modules_with_postponed_annotations(prod_run):
    from components.sdk import LazyAnnotationsLoader

    inputs = {n: m for n, m in sys.modules.items() if n.endswith("._inputs") and n.startswith("pulumi_")}
    assert "pulumi_aws.wafv2._inputs" in inputs
    assert all(isinstance(m.__loader__, LazyAnnotationsLoader) for m in inputs.values()), \
        sorted(n for n, m in inputs.items() if not isinstance(m.__loader__, LazyAnnotationsLoader))
