"""The `mongodb-voting-layout` rule against the program's own `mongodb` output: prod passes, the dev
opt-out passes only in dev, zone losses count, and the real stacks' outputs are what it reads."""

from __future__ import annotations

from policies.rules.stack import mongodb_voting_layout
from tests.test_policies_stack_rules import outputs


def member(region, zone, votes=1, priority=1):
    return {"region": region, "zone": zone, "votes": votes, "priority": priority}


PROD = [member("use1", "a"), member("use1", "b"), member("euw4", "a"), member("euw4", "b"), member("ane1", "a")]
DEV = [member("use1", "a", priority=2), member("use1", "b", priority=2), member("euw4", "a")]


def test_prod_layout_passes_and_the_dev_opt_out_passes_only_in_dev():
    assert mongodb_voting_layout.evaluate([outputs(mongodb={"members": PROD, "surviveRegionLoss": True,
                                                            "environment": "prod"})]) == []
    dev = {"members": DEV, "surviveRegionLoss": False, "environment": "dev"}
    assert mongodb_voting_layout.evaluate([outputs(mongodb=dev)]) == []
    found = mongodb_voting_layout.evaluate([outputs(mongodb={**dev, "environment": "prod"})])
    assert any("surviveRegionLoss is false in a prod stack" in msg for msg, _ in found)


def test_without_the_opt_out_two_regions_fail():
    found = mongodb_voting_layout.evaluate([outputs(mongodb={"members": DEV, "environment": "dev"})])
    assert any("losing region use1 leaves 1 of 3" in msg for msg, _ in found)


def test_two_votes_in_one_zone_fail_as_a_zone_loss():
    layout = [member("use1", "a"), member("use1", "a"), member("euw4", "a"), member("usw2", "a"),
              member("usw2", "b"), member("ane1", "a"), member("euc1", "a")]
    assert mongodb_voting_layout.evaluate([outputs(mongodb={"members": layout})]) == []
    crowded = [member("use1", "a"), member("use1", "a"), member("use1", "a"), member("euw4", "a"), member("ane1", "a")]
    found = mongodb_voting_layout.evaluate([outputs(mongodb={"members": crowded})])
    assert any("losing zone a of use1" in msg for msg, _ in found)


def test_priority_without_a_vote_fails():
    layout = [*PROD, member("euc1", "a", votes=0, priority=1)]
    found = mongodb_voting_layout.evaluate([outputs(mongodb={"members": layout})])
    assert any("priority > 0 but no vote" in msg for msg, _ in found)
