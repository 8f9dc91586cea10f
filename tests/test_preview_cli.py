"""The preview CLI as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.factories import ROOT, raw_config, write_stack_file
from tests.previews import run_cli


def preview(*args: str) -> subprocess.CompletedProcess:
    """The CLI's main in this process (tests/previews.py); `python -m infra.preview` itself is run below."""
    from infra.offline.preview import main

    return run_cli(main, *args)


def preview_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.preview", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180)


def test_dev_preview_prints_the_tree_counts_and_outputs():
    done = preview("--stack", "dev")
    assert done.returncode == 0, done.stderr
    assert "rollout:region:Region use1" in done.stdout and "rollout:region:Region euw4" in done.stdout
    assert "resources by type and region" in done.stdout and "outputs" in done.stdout
    assert "Sizing plan" in done.stdout and "g2-standard-4" in done.stdout  # the fleet, next to the tree
    assert "previewed" in done.stderr


def test_json_output_is_one_object_with_secrets_replaced(tmp_path):
    done = preview("--stack", "dev", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["stack"] == "dev" and len(document["resources"]) > 10


def test_overlapping_cidrs_exit_2_naming_both_regions_without_a_traceback(tmp_path):
    raw = raw_config()
    raw["regions"][0]["cidr"] = "10.100.0.0/15"
    raw["regions"][1]["cidr"] = "10.101.0.0/16"
    done = preview("--stack-file", str(write_stack_file(tmp_path / "Pulumi.bad.yaml", raw)))
    assert done.returncode == 2
    assert "'use1'" in done.stderr and "'euw4'" in done.stderr and "overlapping" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_unknown_region_exits_2_naming_it_and_the_valid_ones(tmp_path):
    raw = raw_config()
    raw["regions"][1]["location"] = "europe-west99"
    done = preview("--stack-file", str(write_stack_file(tmp_path / "Pulumi.bad.yaml", raw)))
    assert done.returncode == 2
    assert "europe-west99" in done.stderr and "europe-west4" in done.stderr and "us-central1" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_missing_stack_exits_2():
    done = preview("--stack", "nope")
    assert done.returncode == 2 and "no such stack file" in done.stderr


def test_the_policy_verdict_joins_the_json_and_sets_the_exit_code():
    done = preview("--stack", "dev", "--json", "--policy-pack", "policies")
    assert done.returncode == 0, done.stderr
    policy = json.loads(done.stdout)["policy"]
    assert not [v for v in policy["violations"] if v["enforcement"] == "mandatory"]
    assert any(v["policy"] == "log-retention-bounds" for v in policy["violations"])  # dev keeps logs 7 days


def test_a_missing_policy_pack_is_a_clear_error(tmp_path):
    done = preview_process("--stack", "dev", "--policy-pack", str(tmp_path / "nope"))  # the module, run as a user does
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
    assert "no such directory" in done.stderr and "previewing" not in done.stderr  # before any preview work


def test_the_diagram_is_a_mermaid_graph_of_regions_and_links():
    done = preview("--stack", "prod", "--diagram")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "graph LR"
    assert sum("TGW peering" in line for line in lines) == 3  # three AWS regions, full mesh
    assert sum("HA VPN x4" in line for line in lines) == 6  # each AWS region to its two nearest GCP regions
