"""The reconcile script the Job runs (components/database/scripts/reconcile.js), driven under node against
a fake replica set (tests/fake_replica_set.js) that refuses what MongoDB refuses: through every
membership change the planner can ask for (grow from the bootstrap member, add a region, remove a
region, remove the primary's region, remove a lost region), cleanly and with a crash before and after
every mutating call, asserting at each step: one voting change per reconfig, a majority of healthy
voters kept, no vote to a member that is not SECONDARY, and the planned document reached with every
member's _id kept. Also the planned document itself and the failure drill CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache

import pytest

from components.database.replica_set import SCRIPT
from infra.config import MongoDbConfig
from infra.offline.preview import main as preview_main
from infra.planning.database import plan_database
from infra.planning.plan import plan_for_stack_file
from tests.factories import ROOT
from tests.previews import run_cli
from tests.topology_plans import regions_plan

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the script's tests need it)")
FAKE = ROOT / "tests" / "fake_replica_set.js"
DOMAIN = "rollout.example.com"
LOCATIONS = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-central-1"), ("gcp", "europe-west4"),
             ("gcp", "asia-northeast1")]
TRAFFIC = [60.0, 30.0, 20.0, 56.0, 10.0]


@cache
def document(count: int = 5, without: str | None = None, primary: str | None = None) -> dict:
    """The planned document for the first `count` regions (optionally minus one)."""
    rp = regions_plan(LOCATIONS[:count])
    regions = [r for r in rp.regions if r.name != without]
    traffic = {r.name: t for r, t in zip(rp.regions, TRAFFIC, strict=False)}
    cfg = MongoDbConfig(primary_region=primary)
    return plan_database(regions, traffic, cfg, DOMAIN).replica_set_config()


def names(count: int = 5) -> list[str]:
    return [r.name for r in regions_plan(LOCATIONS[:count]).regions]


def converged(doc: dict, version: int = 9) -> dict:
    return {**json.loads(json.dumps(doc)), "version": version}


def sweep(current: dict, desired: dict, down: tuple[str, ...] = ()) -> dict:
    scenario = {"script": str(SCRIPT), "current": current, "desired": desired, "down": list(down),
                "syncSeconds": 120}
    done = subprocess.run([NODE, str(FAKE)], input=json.dumps(scenario), capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def votes(config: dict) -> dict[str, int]:
    return {m["host"]: m.get("votes", 1) for m in config["members"]}


def assert_reaches_the_plan(result: dict, current: dict, desired: dict) -> None:
    assert result["error"] is None, (result["error"], result["log"][-5:])
    assert result["violations"] == []
    final = result["final"]
    shape = {m["host"]: (m["votes"], m["priority"], m["tags"]) for m in desired["members"]}
    assert {m["host"]: (m.get("votes", 1), m.get("priority", 1), m.get("tags")) for m in final["members"]} == shape
    kept = {m["host"]: m["_id"] for m in current["members"]}
    assert all(m["_id"] == kept[m["host"]] for m in final["members"] if m["host"] in kept)
    assert len({m["_id"] for m in final["members"]}) == len(final["members"])
    previous = current
    for config in result["history"]:  # independent of the fake's own refusals
        before, after = votes(previous), votes(config)
        hosts = set(before) | set(after)
        assert sum(before.get(h, 0) != after.get(h, 0) for h in hosts) <= 1, config
        assert sum(after.values()) <= 7
        previous = config


def check_every_crash_point(current: dict, desired: dict, down: tuple[str, ...] = ()) -> dict:
    result = sweep(current, desired, down)
    assert_reaches_the_plan(result["clean"], current, desired)
    assert result["clean"]["operations"] >= 1
    assert len(result["crashes"]) == 2 * result["clean"]["operations"]
    for crashed in result["crashes"]:
        assert crashed["runs"] >= 2, crashed["crashAt"]  # the crash happened and the rerun finished the job
        assert_reaches_the_plan(crashed, current, desired)
    return result["clean"]


@needs_node
def test_a_set_that_matches_is_left_alone():
    desired = document()
    result = sweep(converged(desired), desired)["clean"]
    assert result["error"] is None and result["history"] == [] and result["operations"] == 0


@needs_node
def test_growing_from_the_bootstrap_member_adds_non_voting_then_grants_votes_once_caught_up():
    desired = document()
    first = next(m for m in desired["members"] if m["votes"] and m["priority"] == max(
        x["priority"] for x in desired["members"]))
    current = {"_id": desired["_id"], "version": 1, "members": [first]}
    clean = check_every_crash_point(current, desired)
    added = clean["history"][0]
    assert len(added["members"]) == len(desired["members"])
    assert all(m["votes"] == 0 and m["priority"] == 0 for m in added["members"] if m["host"] != first["host"])
    grants = [c for c in clean["history"][1:] if sum(votes(c).values()) > 1]
    assert len(grants) >= sum(m["votes"] for m in desired["members"]) - 1
    assert any("waiting" in line and "STARTUP2" in line for line in clean["log"]), "never waited for a sync"


@needs_node
def test_adding_a_region_keeps_every_member_and_moves_votes_one_at_a_time():
    before, after = document(4, primary=names()[0]), document(5, primary=names()[0])
    assert {m["host"] for m in before["members"]} < {m["host"] for m in after["members"]}
    check_every_crash_point(converged(before), after)


@needs_node
def test_removing_a_region_demotes_its_members_before_they_leave():
    region = names()[2]
    before, after = document(primary=names()[0]), document(without=region, primary=names()[0])
    clean = check_every_crash_point(converged(before), after)
    leaving = {m["host"] for m in before["members"]} - {m["host"] for m in after["members"]}
    previous = converged(before)
    for config in clean["history"]:
        gone = set(votes(previous)) - set(votes(config))
        assert all(votes(previous)[h] == 0 for h in gone), "a voting member was removed"
        previous = config
    assert leaving and not leaving & set(votes(clean["final"]))


@needs_node
def test_removing_the_primarys_region_steps_the_primary_down_first():
    old, new = names()[0], names()[1]
    before, after = document(primary=old), document(without=old, primary=new)
    clean = check_every_crash_point(converged(before), after)
    assert any(line.startswith("stepDown:") for line in clean["log"])
    assert clean["primary"].startswith(f"mongodb-{new}-")


@needs_node
def test_removing_a_lost_region_demotes_its_unreachable_members_first():
    region = names()[3]
    before, after = document(primary=names()[0]), document(without=region, primary=names()[0])
    lost = tuple(m["host"] for m in before["members"] if f"-{region}-" in m["host"])
    clean = check_every_crash_point(converged(before), after, down=lost)
    assert set(votes(clean["final"])).isdisjoint(lost)


@needs_node
def test_a_vote_is_never_granted_while_the_member_syncs():
    """The violating case: a plan step that granted a vote at once would be caught by the fake."""
    desired = document()
    first = desired["members"][0]
    current = {"_id": desired["_id"], "version": 1, "members": [first]}
    probe = f"""
const {{ FakeSet }} = require({json.dumps(str(FAKE))});
const set = new FakeSet({{ current: {json.dumps(current)} }});
const next = set.conf(); next.version += 1;
next.members.push({{ _id: 1, host: "new:27017", votes: 0, priority: 0 }});
set.reconfig(next);
const eager = set.conf(); eager.version += 1; eager.members[1].votes = 1;
set.reconfig(eager);
console.log(JSON.stringify(set.violations));
"""
    done = subprocess.run([NODE, "-e", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == ["vote granted to new:27017 in state STARTUP2",
                                       "majority lost: 1 of 2 voters healthy"]


def test_the_planned_document_names_every_member_once_with_its_votes():
    doc = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database.replica_set_config()
    assert doc["_id"] == "rs0"
    assert sum(m["votes"] for m in doc["members"]) == 7
    assert len({m["host"] for m in doc["members"]}) == len(doc["members"])
    assert all(set(m["tags"]) == {"region", "zone", "cloud"} for m in doc["members"])


def test_failure_drill_cli_prints_votes_and_the_new_primary():
    done = run_cli(preview_main, "--stack", "prod", "--lose", "use1")
    assert done.returncode == 0, done.stderr
    assert "whole region: 5 of 7 votes remain; new primary in usw2" in done.stdout
    bad = run_cli(preview_main, "--stack", "prod", "--lose", "mars1")
    assert bad.returncode == 2 and "--lose: no region 'mars1'" in bad.stderr


@needs_node
def test_users_are_per_purpose_created_once_then_updated_and_never_root():
    probe = f"""
const {{ ensureUsers }} = require({json.dumps(str(SCRIPT))});
const users = new Map([["app", {{ roles: [] }}]]);
const calls = [];
const admin = {{
  getUser: (u) => (users.has(u) ? users.get(u) : null),
  createUser: (doc) => {{ calls.push(["create", doc.user, doc.roles]); users.set(doc.user, doc); }},
  updateUser: (u, doc) => calls.push(["update", u, doc.roles]),
}};
const env = {{ APP_PASSWORD: "a", BACKUP_PASSWORD: "b", RESTORE_PASSWORD: "r", APP_DATABASE: "rollout" }};
ensureUsers(admin, env);
ensureUsers(admin, env);
console.log(JSON.stringify(calls));
"""
    done = subprocess.run([NODE, "-e", probe], capture_output=True, text=True, timeout=60, check=True)
    calls = json.loads(done.stdout)
    assert calls[:3] == [["update", "app", [{"role": "readWrite", "db": "rollout"}]],
                         ["create", "backup", [{"role": "backup", "db": "admin"}]],
                         ["create", "restore", [{"role": "restore", "db": "admin"}]]]
    assert [c[0] for c in calls[3:]] == ["update"] * 3  # a rerun changes passwords, creates nothing
    assert not any(r["role"] in ("root", "userAdminAnyDatabase", "clusterAdmin") for c in calls for r in c[2])


BOOTSTRAP = SCRIPT.parent / "bootstrap.js"


def run_bootstrap(hello: dict, others_in_set: bool = False, create_error: str | None = None) -> dict:
    """bootstrap.js in a sandbox with a fake mongosh: what it initiated and which users it created."""
    probe = f"""
const vm = require("vm"); const fs = require("fs");
const calls = [];
const hello = {json.dumps(hello)};
class Quit extends Error {{}}
const sandbox = {{
  process: {{ env: {{ BOOTSTRAP_MEMBER: JSON.stringify({{ _id: 0, host: "m0:27017", votes: 1, priority: 5 }}),
                     REPLICA_SET: "rs0", RECONCILE_SUBJECT: "CN=mongodb-reconcile,O=clients",
                     TLS_DIR: "/tls", SCRIPTS_DIR: "/scripts" }} }},
  require: (name) => name === "fs" ? {{ readFileSync: () => "m0:27017\\nm1:27017\\nm2:27017\\n" }} : require(name),
  print: () => {{}}, sleep: () => {{}},
  quit: () => {{ throw new Quit(); }},
  Mongo: function (uri) {{ calls.push(["probe", uri.split("/")[2]]);
    return {{ getDB: () => ({{ runCommand: () => {{ if (!{json.dumps(others_in_set)}) throw new Error("unreachable");
                                                   return {{ setName: "rs0" }}; }} }}) }}; }},
  db: {{
    adminCommand: () => ({{ ok: 1 }}),
    hello: () => ({{ ...hello, isWritablePrimary: true }}),
    getSiblingDB: (name) => ({{ createUser: (doc) => {{ calls.push(["createUser", name, doc.user]);
      if ({json.dumps(create_error)}) {{
        const e = new Error("x"); e.codeName = {json.dumps(create_error)}; throw e; }} }} }}),
  }},
  rs: {{ initiate: (doc) => {{ calls.push(["initiate", doc.members.map((m) => m.host)]); hello.setName = "rs0";
                               hello.hosts = ["m0:27017"]; }} }},
}};
try {{ vm.runInNewContext(fs.readFileSync({json.dumps(str(BOOTSTRAP))}, "utf8"), sandbox); }}
catch (e) {{ if (!(e instanceof Quit) && e.constructor.name !== "Quit") {{ calls.push(["error", e.message]); }} }}
console.log(JSON.stringify(calls));
"""
    done = subprocess.run([NODE, "-e", probe], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@needs_node
def test_bootstrap_initiates_alone_and_creates_only_the_reconcile_identity():
    calls = run_bootstrap({})
    assert ["initiate", ["m0:27017"]] in calls
    assert [c for c in calls if c[0] == "createUser"] == [["createUser", "$external", "CN=mongodb-reconcile,O=clients"]]
    assert not any(c[0] == "error" for c in calls)


@needs_node
def test_bootstrap_never_initiates_a_second_set_when_another_member_has_one():
    calls = run_bootstrap({}, others_in_set=True)
    assert not any(c[0] in ("initiate", "createUser") for c in calls) and ["probe", "m1:27017"] in calls


@needs_node
def test_bootstrap_rerun_after_the_user_exists_or_the_set_grew_changes_nothing():
    alone = run_bootstrap({"setName": "rs0", "hosts": ["m0:27017"]}, create_error="Unauthorized")
    assert not any(c[0] in ("initiate", "error") for c in alone)
    grown = run_bootstrap({"setName": "rs0", "hosts": ["m0:27017", "m1:27017"]})
    assert grown == []


def readiness(status: dict | str) -> int:
    """The members' readiness script (manifests.READY_JS) against a fake rs.status(): its exit code."""
    from components.database.manifests import READY_JS

    probe = f"""
const vm = require("vm");
const status = {json.dumps(status)};
class Quit extends Error {{ constructor(code) {{ super("quit"); this.code = code; }} }}
const sandbox = {{
  quit: (code) => {{ throw new Quit(code); }},
  rs: {{ status: () => {{
    if (typeof status === "string") {{ const e = new Error(status); e.codeName = status; throw e; }}
    return {{ members: status.members.map((m) => ({{ ...m, optimeDate: new Date(m.optimeDate) }})) }};
  }} }},
}};
let code = 0;
try {{ vm.runInNewContext({json.dumps(READY_JS)}, sandbox); }} catch (e) {{ code = e.code === undefined ? 2 : e.code; }}
console.log(code);
"""
    done = subprocess.run([NODE, "-e", probe], capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout)


def member_status(state: str, lag_seconds: float, primary: bool = True) -> dict:
    members = [{"name": "me", "self": True, "stateStr": state, "optimeDate": 1_000_000 - lag_seconds * 1000}]
    if primary and state != "PRIMARY":
        members.append({"name": "p", "stateStr": "PRIMARY", "optimeDate": 1_000_000})
    return {"members": members}


@needs_node
@pytest.mark.parametrize(("status", "ready"), [
    ("NotYetInitialized", True),  # first deploy / not added yet: nothing to catch up to
    (member_status("PRIMARY", 0), True),
    (member_status("SECONDARY", 2), True),
    (member_status("SECONDARY", 60), False),  # restarted and still replaying: the rolling change waits
    (member_status("STARTUP2", 0), False),  # initial sync
    (member_status("RECOVERING", 0), False),
    (member_status("SECONDARY", 0, primary=False), False),  # no primary in sight: stop rolling
    ("InvalidReplicaSetConfig", False),  # removed from the set
])
def test_a_member_is_ready_only_when_caught_up(status, ready):
    assert (readiness(status) == 0) is ready
