"""The reconcile script the init Job runs (components/database/scripts/reconcile.js), run with node:
from any current config it reaches the planned document, one voting change per reconfig, keeping
every member's _id. Also the planned document itself and the failure drill CLI."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from components.database.replica_set import SCRIPT
from infra.offline.preview import main as preview_main
from infra.planning.plan import plan_for_stack_file
from tests.factories import ROOT
from tests.previews import run_cli

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the script's tests need it)")


def steps(current: dict, desired: dict) -> list[dict]:
    """Every config the script would apply, in order (it applies `nextConfig` until it returns null)."""
    program = f"""
const {{ nextConfig }} = require({json.dumps(str(SCRIPT))});
let current = {json.dumps(current)};
const desired = {json.dumps(desired)};
const out = [];
for (let i = 0; i < 100; i += 1) {{
  const next = nextConfig(current, desired);
  if (next === null) break;
  out.push(next);
  current = next;
}}
console.log(JSON.stringify(out));
"""
    done = subprocess.run([NODE, "-e", program], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def voting(config: dict) -> dict[str, int]:
    return {m["host"]: m.get("votes", 1) for m in config["members"]}


def member(host, votes=1, priority=1, _id=0, **tags):
    return {"_id": _id, "host": host, "votes": votes, "priority": priority, "tags": tags}


def prod_document() -> dict:
    return plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database.replica_set_config()


@needs_node
def test_a_set_that_matches_is_left_alone():
    desired = prod_document()
    assert steps({**desired, "version": 4}, desired) == []


@needs_node
def test_growing_from_three_members_changes_one_vote_per_reconfig_and_keeps_ids():
    desired = prod_document()
    current = {"_id": "rs0", "version": 3, "members": [
        {**m, "_id": 10 + i} for i, m in enumerate(desired["members"][:3])]}
    applied = steps(current, desired)
    assert applied, "nothing to do?"
    previous = current
    for config in applied:
        before, after = voting(previous), voting(config)
        changed = [h for h in after if h in before and after[h] != before[h]]
        added_voting = [h for h in after if h not in before and after[h] > 0]
        assert len(changed) + len(added_voting) <= 1, config
        assert config["version"] == previous["version"] + 1
        previous = config
    final = applied[-1]
    assert voting(final) == voting(desired)
    assert {m["host"]: m["priority"] for m in final["members"]} == {m["host"]: m["priority"]
                                                                    for m in desired["members"]}
    kept = {m["host"]: m["_id"] for m in final["members"]}
    assert [kept[m["host"]] for m in current["members"]] == [10, 11, 12]
    assert len(set(kept.values())) == len(kept)


@needs_node
def test_a_removed_region_is_demoted_before_it_leaves():
    desired = {"_id": "rs0", "members": [member("a:27017", _id=0), member("b:27017", _id=1),
                                         member("c:27017", _id=2)]}
    current = {"_id": "rs0", "version": 7, "members": [*desired["members"], member("d:27017", _id=3),
                                                       member("e:27017", _id=4)]}
    applied = steps(current, desired)
    previous = current
    for config in applied:
        before, after = voting(previous), voting(config)
        assert sum(after.get(h) != v for h, v in before.items() if h in after) <= 1
        assert all(before[h] == 0 for h in before if h not in after), "a voting member was removed"
        previous = config
    assert [m["host"] for m in applied[-1]["members"]] == ["a:27017", "b:27017", "c:27017"]


def test_the_planned_document_names_every_member_once_with_its_votes():
    doc = prod_document()
    assert doc["_id"] == "rs0"
    assert sum(m["votes"] for m in doc["members"]) == 7
    assert len({m["host"] for m in doc["members"]}) == len(doc["members"])
    assert all(set(m["tags"]) == {"region", "zone", "cloud"} for m in doc["members"])


def test_failure_drill_cli_prints_votes_and_the_new_primary():
    done = run_cli(preview_main, "--stack", "prod", "--lose", "euw4")
    assert done.returncode == 0, done.stderr
    assert "whole region: 5 of 7 votes remain; new primary in use1" in done.stdout
    bad = run_cli(preview_main, "--stack", "prod", "--lose", "mars1")
    assert bad.returncode == 2 and "--lose: no region 'mars1'" in bad.stderr
