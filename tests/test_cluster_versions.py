"""The pinned Kubernetes minor is in standard support on both clouds, and the advisory rule warns in
time to move it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from infra.planning.cluster_versions import (
    DEFAULT_KUBERNETES_VERSION,
    SUPPORT_WARNING_DAYS,
    SUPPORT_WINDOWS,
    SUPPORTED,
)
from policies.rules import ALL_RULES
from policies.rules.clusters import END_OF_STANDARD_SUPPORT
from policies.rules.core import Resource

PINNED_ON = date(2026, 11, 27)  # the day the minor was chosen; the sources were read then
RULE = next(r for r in ALL_RULES if r.name == "kubernetes-version-support")


def test_every_supported_minor_has_a_window_with_sources():
    assert set(SUPPORTED) == set(SUPPORT_WINDOWS) and DEFAULT_KUBERNETES_VERSION in SUPPORTED
    for window in SUPPORT_WINDOWS.values():
        assert window.sources and all(s.startswith("https://") for s in window.sources)
        assert window.end == min(window.eks_end_of_standard_support, window.gke_end_of_standard_support)


def test_the_default_minor_had_more_than_the_warning_period_left_on_both_clouds_when_pinned():
    window = SUPPORT_WINDOWS[DEFAULT_KUBERNETES_VERSION]
    assert window.days_left(PINNED_ON) > SUPPORT_WARNING_DAYS
    assert window.eks_end_of_standard_support > PINNED_ON and window.gke_end_of_standard_support > PINNED_ON


def test_the_policy_pack_carries_the_same_end_dates():
    """The pack runs on its own and cannot import the program: its copy must not drift."""
    assert {v: w.end for v, w in SUPPORT_WINDOWS.items()} == END_OF_STANDARD_SUPPORT


@pytest.mark.parametrize("typ, key", [("aws:eks/cluster:Cluster", "version"),
                                      ("gcp:container/cluster:Cluster", "minMasterVersion")])
def test_the_rule_warns_within_90_days_of_the_end_and_not_before(typ, key):
    end = SUPPORT_WINDOWS[DEFAULT_KUBERNETES_VERSION].end
    cluster = Resource(type=typ, props={key: DEFAULT_KUBERNETES_VERSION})
    assert RULE.evaluate(cluster, {"asOf": (end - timedelta(days=91)).isoformat()}) == []
    (warning,) = RULE.evaluate(cluster, {"asOf": (end - timedelta(days=90)).isoformat()})
    assert end.isoformat() in warning and "90 days" in warning
    assert RULE.evaluate(cluster, {"asOf": (end + timedelta(days=1)).isoformat()})
    assert RULE.evaluate(cluster, {"asOf": (end - timedelta(days=200)).isoformat(), "warnDays": 365})


def test_the_rule_flags_a_minor_it_has_no_date_for_and_skips_unknowns():
    assert RULE.evaluate(Resource(type="aws:eks/cluster:Cluster", props={"version": "1.29"}))
    assert RULE.evaluate(Resource(type="gcp:container/cluster:Cluster", props={"minMasterVersion": "1.36.2-gke.1"}),
                         {"asOf": PINNED_ON.isoformat()}) == []
    assert RULE.evaluate(Resource(type="aws:eks/cluster:Cluster", props={})) == []
