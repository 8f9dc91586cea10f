"""Bad input never crashes: every CLI exits 2 naming the problem, with no traceback and nothing on stdout.

The battery (tests/bad_stacks.py) has one defect per file across every section and stage: YAML syntax,
duplicated keys at any depth, types, non-finite and out-of-range numbers, unknown keys, bad and
overlapping CIDRs, unknown regions/instance types/geographies, tag rules of both clouds, cluster
settings and infeasible sizing. Each file goes through the three commands in-process (fast); a few go
through real subprocesses too, where a crash of the solver would show as a signal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.offline import policy_check, preview
from infra.planning.sizing import cli as sizing_cli
from tests.bad_stacks import CASES, valid_text
from tests.factories import ROOT

COMMANDS = {
    "preview": lambda path: preview.main(["--stack-file", str(path)]),
    "sizing": lambda path: sizing_cli.main(["--stack-file", str(path)]),
    "policy_check": lambda path: policy_check.main([str(path)]),
}


def stack_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_battery_is_wide():
    assert len(CASES) >= 110
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_unbroken_battery_base_is_a_valid_stack(tmp_path, capsys):
    assert sizing_cli.main(["--stack-file", str(stack_file(tmp_path, "ok", valid_text())), "--json"]) == 0
    assert '"replicas"' in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_broken_stack_exits_2_naming_the_problem(case, command, tmp_path, capsys):
    code = COMMANDS[command](stack_file(tmp_path, case.id, case.text))
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""  # nothing partial on stdout
    assert err.startswith("error: ") and case.names in err
    assert "Traceback" not in err


def test_non_utf8_and_directories_are_config_errors(tmp_path, capsys):
    binary = tmp_path / "Pulumi.binary.yaml"
    binary.write_bytes(b"config:\n  global-ai-rollout:environment: \xff\xfe\n")
    for path, words in ((binary, "UTF-8"), (tmp_path, "directory"), (tmp_path / "missing.yaml", "no such")):
        for command in COMMANDS.values():
            assert command(path) == 2
            out, err = capsys.readouterr()
            assert out == "" and words in err


def test_one_bad_file_among_several_leaves_nothing_on_stdout(tmp_path, capsys):
    good = stack_file(tmp_path, "good", valid_text())
    bad = stack_file(tmp_path, "bad", valid_text().replace("rps: 4", "rps: .inf"))
    assert policy_check.main([str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Pulumi.bad.yaml" in err and "demand[0].rps" in err


def test_problems_of_every_stage_come_in_one_error(tmp_path, capsys):
    """Addresses, cluster settings and sizing inputs are all checked before the first error is shown."""
    text = (valid_text()
            .replace("kubernetesVersion: '1.36'", "kubernetesVersion: '1.20'")  # cluster settings
            .replace("  - name: euw4\n", "  - name: euw4\n    cidr: 10.0.0.0/16\n")  # overlaps use1's slot
            .replace("normalMs: 120", "normalMs: 1"))  # sizing: no region in reach
    assert sizing_cli.main(["--stack-file", str(stack_file(tmp_path, "three", text))]) == 2
    err = capsys.readouterr().err
    assert "kubernetesVersion" in err and "overlapping" in err and "latency.normalMs" in err


def test_as_real_processes_no_crash_and_no_traceback(tmp_path):
    """`.inf` used to kill all three commands with a segmentation fault inside the solver."""
    cases = {c.id: c for c in CASES if c.id in ("rps-inf", "duplicate-top-key", "price-negative")}
    paths = {cid: stack_file(tmp_path, cid, c.text) for cid, c in cases.items()}
    runs = (("infra.preview", ["--stack-file", str(paths["rps-inf"])], ["rps-inf"]),
            ("infra.sizing", ["--stack-file", str(paths["price-negative"])], ["price-negative"]),
            ("infra.policy_check", [str(p) for p in paths.values()], list(paths)))
    for module, args, expected in runs:
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, (module, done.returncode, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr
        assert all(cases[cid].names in done.stderr for cid in expected)
