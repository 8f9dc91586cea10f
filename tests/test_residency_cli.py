"""The residency CLI on the committed stacks: prod plans its zones, dev has none."""

from __future__ import annotations

import json

from infra.planning.residency_cli import main


def test_prod_plans_a_shard_per_zone_and_the_drill_names_the_zone_that_stops(capsys):
    assert main(["--stack", "prod", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["zones"] == {"us": ["use1", "usw2"], "eu": ["euc1", "euw4"], "apac": ["ane1"]}
    assert [s["name"] for s in out["shards"]] == ["shard-us", "shard-eu", "shard-apac"]
    assert all(m["region"] in out["zones"][s["zone"]] for s in out["shards"] for m in s["members"])
    assert [s["survivesRegionLoss"] for s in out["shards"]] == [False, False, False]
    assert main(["--stack", "prod", "--lose", "ane1"]) == 0
    text = capsys.readouterr().out
    assert "zone apac: CANNOT survive the loss of ane1" in text and "cfg: losing region ane1" in text
    assert main(["--stack", "prod", "--lose", "aps1"]) == 2
    assert "no such region 'aps1'" in capsys.readouterr().err


def test_a_stack_without_the_section_says_so(capsys):
    assert main(["--stack", "dev"]) == 1
    assert "no `residency` section" in capsys.readouterr().out
