"""k8s-network-policy-narrow and the one documented way to reach the metadata address: a /32 with ports in a
NetworkPolicy annotated with the reason (GKE Workload Identity). Everything else that reaches it is caught."""

from __future__ import annotations

import pytest

from components.serving.manifests import network_policy
from policies.rules.core import Resource
from policies.rules.k8s_security import METADATA_EGRESS_ANNOTATION, network_policy_narrow

NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
GKE_METADATA = {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]}


def verdict(spec: dict, annotations: dict | None = None) -> list[str]:
    metadata = {"name": "p", "namespace": "n", **({"annotations": annotations} if annotations else {})}
    resource = Resource(type=NP, props={"metadata": metadata, "spec": spec}, urn=f"urn:pulumi:s::p::{NP}::p")
    return network_policy_narrow.evaluate(resource)


def test_the_serving_policies_of_both_clouds_pass():
    for cloud in ("aws", "gcp"):
        rendered = network_policy(["10.0.0.0/16"], "monitoring", cloud)
        assert verdict(rendered["spec"], rendered["metadata"].get("annotations")) == [], cloud


def test_the_annotated_gke_metadata_allow_passes():
    assert verdict({"egress": [GKE_METADATA]}, {METADATA_EGRESS_ANNOTATION: "Workload Identity"}) == []


@pytest.mark.parametrize("egress, annotations", [
    ([GKE_METADATA], None),  # no reason given
    ([GKE_METADATA], {METADATA_EGRESS_ANNOTATION: "  "}),  # an empty reason
    ([{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]}], {METADATA_EGRESS_ANNOTATION: "x"}),  # any port
    ([{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}], "ports": [{"port": 80}]}], {METADATA_EGRESS_ANNOTATION: "x"}),
    ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}], {METADATA_EGRESS_ANNOTATION: "x"}),
    ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}], "ports": [{"port": 80}]}],
     None),
])
def test_every_other_way_to_the_metadata_address_is_caught(egress, annotations):
    assert any("metadata" in m for m in verdict({"egress": egress}, annotations))
