"""Every resource type the pack or its tests name is one the installed provider SDKs register.

A rule keyed on a misspelled type never runs and nothing fails: that is how four mandatory rules
skipped every GCP VPN tunnel (`gcp:compute/vPNTunnel:VPNTunnel` is the registered token). These
tests collect every token written in the pack, the tests and the offline mock cloud, and resolve
each against the tokens the SDKs' resource classes declare (`@pulumi.type_token(...)`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.rules import ALL_RULES
from policies.rules.types import registered_types, tokens_in, unregistered

ROOT = Path(__file__).resolve().parent.parent
# Custom resources the program declares through `kubernetes.apiextensions.CustomResource`: no SDK class
# registers them, so they are known here, each with the CRD that defines it. The pack names none of them.
CUSTOM_RESOURCE_TYPES = frozenset({
    "kubernetes:keda.sh/v1alpha1:ScaledObject",  # https://keda.sh/docs/2.17/reference/scaledobject-spec/
    # https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/targetgroupbinding/spec/
    "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding",
})
SOURCES = sorted([*ROOT.glob("policies/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("infra/offline/*.py")])


def test_the_registry_knows_the_real_tokens_and_not_the_look_alikes():
    known = registered_types()
    assert len(known) > 3000
    assert {"gcp:compute/vPNTunnel:VPNTunnel", "aws:eks/cluster:Cluster", "kubernetes:apps/v1:Deployment",
            "tls:index/privateKey:PrivateKey", "random:index/randomPassword:RandomPassword",
            "kubernetes:helm.sh/v3:Release"} <= known
    assert "gcp:compute/" + "vpnTunnel:VpnTunnel" not in known


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_every_rule_names_only_registered_types(rule):
    assert unregistered(rule.resource_types) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_type_written_in_the_pack_and_tests_is_registered(path):
    assert unregistered(tokens_in(path.read_text()), CUSTOM_RESOURCE_TYPES) == [], \
        f"misspelled resource type in {path.name}"


def test_a_misspelled_fixture_is_caught(tmp_path):
    """The check itself: a fixture written with the old, wrong tunnel token fails it."""
    wrong = "gcp:compute/" + "vpnTunnel:VpnTunnel"  # split so this file's own scan stays clean
    fixture = tmp_path / "fixture.py"
    fixture.write_text(f'TUNNEL = "{wrong}"\nCLUSTER = "aws:eks/cluster:Cluster"\n')
    found = tokens_in(fixture.read_text())
    assert found == {wrong, "aws:eks/cluster:Cluster"}
    assert unregistered(found) == [wrong]


def test_the_sources_scanned_include_the_rules_and_the_rule_tests():
    names = {p.name for p in SOURCES}
    assert {"links.py", "clusters.py", "test_policies_rules.py", "mockcloud.py"} <= names
    assert sum(len(tokens_in(p.read_text())) for p in SOURCES) > 100
