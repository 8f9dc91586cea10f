"""Bad input never crashes: every CLI exits 2 naming the problem, with no traceback and nothing on stdout.

The battery (tests/bad_stacks.py) has one defect per file across every section and stage: YAML syntax,
duplicated keys at any depth, types, non-finite and out-of-range numbers, unknown keys, bad and
overlapping CIDRs, unknown regions/instance types/geographies, tag rules of both clouds, cluster
settings and infeasible sizing. Each file goes through the three commands in-process (fast); a few go
through real subprocesses too, where a crash of the solver would show as a signal.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import tracemalloc
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from infra.offline import policy_check, preview
from infra.planning.sizing import cli as sizing_cli
from tests.bad_stacks import CASES, GENERATED, combined_cases, render, valid_text
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


# === every command, every generated bad input ===================================================
# The six commands that read a stack file, in-process (`main(argv)`), each with a cloud that fails loudly if
# reached: a refused input must never get that far.

class _NoCloud:
    def client(self, *args, **kwargs):
        raise AssertionError("bad input reached the cloud")


def _no_gcp(project):
    raise AssertionError("bad input reached the cloud")


def every_command(monkeypatch) -> dict[str, Callable[[Path], int]]:
    from infra.ops import deploy, preflight, verify

    def run_deploy(path: Path) -> int:
        monkeypatch.setattr(deploy, "stack_file_path", lambda stack: path)
        outputs = path.with_name("outputs.json")
        outputs.write_text("{}")
        return deploy.main(["--stack", path.name.removeprefix("Pulumi.").removesuffix(".yaml"), "--plan-only",
                            "--outputs-json", str(outputs)])

    return {
        **COMMANDS,
        "sizing --diff": lambda path: sizing_cli.main(["--stack-file", str(path), "--diff", "--json"]),
        "preflight": lambda path: preflight.main(["--stack-file", str(path)], aws=_NoCloud(), gcp_factory=_no_gcp,
                                                 env={}),
        "verify": lambda path: verify.main(["--stack-file", str(path)], aws=_NoCloud(), gcp_factory=_no_gcp, env={}),
        "deploy": run_deploy,
    }


SECONDS_PER_COMMAND = 5.0  # CPU seconds of this process: the work done before refusing, whatever else runs


def refused_everywhere(path: Path, names: list[str], commands, capsys) -> None:
    for name, command in commands.items():
        started = time.process_time()
        code = command(path)
        elapsed = time.process_time() - started
        out, err = capsys.readouterr()
        assert code == 2, (name, err[-2000:])
        assert out == "", name
        assert err.startswith("error: ") and "Traceback" not in err, (name, err[:500])
        missing = [n for n in names if n not in err]
        assert not missing, (name, missing, err[:3000])
        assert elapsed < SECONDS_PER_COMMAND, (name, elapsed)
        assert len(err) < 200_000, (name, "the message must not expand the input")


def test_the_generated_base_is_a_valid_stack_so_each_case_has_exactly_its_defects(tmp_path, capsys):
    assert sizing_cli.main(["--stack-file", str(stack_file(tmp_path, "full", render([]))), "--json"]) == 0
    assert '"replicas"' in capsys.readouterr().out


def test_the_generated_battery_covers_every_key_of_the_schema():
    from infra.config import RolloutConfig

    def keys(model, prefix=""):
        for name, info in model.model_fields.items():
            alias = info.alias or name
            yield prefix + alias
            annotation = info.annotation
            for inner in (annotation, *typing.get_args(annotation),
                          *(a for arg in typing.get_args(annotation) for a in typing.get_args(arg))):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from keys(inner, prefix + alias + ".")
    named = {c.names for c in GENERATED}
    uncovered = [k for k in keys(RolloutConfig) if not any(k.rsplit(".", 1)[-1] in n for n in named)]
    assert uncovered == []
    assert len(GENERATED) >= 350


@pytest.mark.parametrize("case", GENERATED, ids=[c.id for c in GENERATED])
def test_every_command_refuses_every_generated_bad_stack(case, tmp_path, capsys, monkeypatch):
    refused_everywhere(stack_file(tmp_path, "gen", case.text), [case.names], every_command(monkeypatch), capsys)


@pytest.mark.parametrize("cid, text, names", combined_cases(), ids=[c[0][:80] for c in combined_cases()])
def test_three_defects_in_one_file_are_reported_at_once(cid, text, names, tmp_path, capsys, monkeypatch):
    refused_everywhere(stack_file(tmp_path, "three", text), names, every_command(monkeypatch), capsys)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in (
    "health-path-megabytes", "backup-schedule-impossible", "image-truncated-digest", "snake-case-key",
    "yaml11-boolean-off", "region-cidr-outside-supernet", "geolocation-conflict", "alias-bomb")],
    ids=lambda c: c.id)
def test_the_reported_cases_are_refused_by_every_command(case, tmp_path, capsys, monkeypatch):
    refused_everywhere(stack_file(tmp_path, case.id, case.text), [case.names], every_command(monkeypatch), capsys)


def test_an_alias_bomb_is_refused_fast_in_bounded_memory_without_expanding(tmp_path, capsys):
    for depth in (10, 20, 40):
        bomb = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
            f"x{i + 1}: &x{i + 1} [" + ",".join([f"*{'a' if i == 0 else f'x{i}'}"] * 9) + "]\n" for i in range(depth))
        path = stack_file(tmp_path, f"bomb{depth}", bomb + valid_text())
        tracemalloc.start()
        started = time.perf_counter()
        code = preview.main(["--stack-file", str(path)])
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        err = capsys.readouterr().err
        assert code == 2 and "aliases expand" in err and "lol" not in err
        assert elapsed < 2.0 and peak < 50_000_000, (depth, elapsed, peak)


# === provider keys ==============================================================================
def _add(lines: str) -> Callable[[str], str]:
    """Provider keys next to aws:region in the stack file."""
    return lambda text: text.replace("aws:region: us-east-1", "aws:region: us-east-1\n" + lines)


PROVIDER_CASES = [
    ("account-number", "aws:allowedAccountIds", _add("  aws:allowedAccountIds: [123456789012]")),
    ("account-short", "aws:allowedAccountIds[0]", _add("  aws:allowedAccountIds: ['12345']")),
    ("account-not-list", "aws:allowedAccountIds", _add("  aws:allowedAccountIds: '123456789012'")),
    ("account-empty", "aws:allowedAccountIds", _add("  aws:allowedAccountIds: []")),
    ("account-forbidden-too", "aws:forbiddenAccountIds", _add("  aws:allowedAccountIds: ['123456789012']\n"
                                                                "  aws:forbiddenAccountIds: ['123456789012']")),
    ("role-list-arn", "aws:assumeRoles[0].roleArn", _add("  aws:assumeRoles:\n  - roleArn: [a, b]")),
    ("role-foreign-account", "aws:assumeRoles[0].roleArn",
     _add("  aws:allowedAccountIds: ['123456789012']\n"
          "  aws:assumeRoles:\n  - roleArn: arn:aws:iam::999999999999:role/deployer")),
    ("role-not-a-list", "aws:assumeRoles", _add("  aws:assumeRoles: arn:aws:iam::123456789012:role/x")),
    ("role-unknown-key", "role_arn", _add("  aws:assumeRoles:\n  - role_arn: arn:aws:iam::123456789012:role/x")),
    ("role-legacy-key-user", "aws:assumeRole.roleArn", _add("  aws:assumeRole:\n"
                                                             "    roleArn: arn:aws:iam::123456789012:user/x")),
    ("admin-role-foreign-account", "cluster.adminRoleArns[0]", _add("  aws:allowedAccountIds: ['222222222222']")),
    ("project-uppercase", "gcp:project", _add("  gcp:project: My-Project")),
    ("project-number", "gcp:project", _add("  gcp:project: 1234567")),
    ("project-list", "gcp:project", _add("  gcp:project: [a, b]")),
    ("project-too-long", "gcp:project", _add("  gcp:project: " + "p" * 40)),
    ("aws-region-typo", "aws:region", lambda t: t.replace("aws:region: us-east-1", "aws:region: us-east-1a")),
]


@pytest.mark.parametrize("cid, names, edit", PROVIDER_CASES, ids=[c[0] for c in PROVIDER_CASES])
def test_provider_keys_are_validated_by_every_command(cid, names, edit, tmp_path, capsys, monkeypatch):
    text = edit(valid_text())
    assert text != valid_text()
    refused_everywhere(stack_file(tmp_path, cid, text), [names], every_command(monkeypatch), capsys)


# === sizing locks ===============================================================================
def _valid_lock(tmp_path: Path, stack: str) -> tuple[Path, dict]:
    path = stack_file(tmp_path, stack, valid_text())
    assert sizing_cli.main(["--stack-file", str(path), "--write"]) == 0
    lock = path.with_name(f"Pulumi.{stack}.sizing.json")
    return path, json.loads(lock.read_text())


def _first(table: dict) -> tuple[str, str]:
    outer = next(iter(table))
    return outer, next(iter(table[outer]))


def lock_defects(doc: dict) -> list[tuple[str, Any, str]]:
    """(id, the lock's new content: a dict, bytes, text or 'DIR', a word the error names)."""
    r, t = _first(doc["replicas"])
    g, gr = _first(doc["routing"])
    lost = next(iter(doc["failover"]))
    out: list[tuple[str, Any, str]] = [
        ("not-utf8", b'{"version": 1, "stack": "\xff\xfe"}', "UTF-8"),
        ("directory", "DIR", "directory"),
        ("not-json", "{not json", "not valid JSON"),
        ("top-level-list", "[1, 2]", "JSON object"),
        ("duplicate-key", '{"version": 1, "version": 1}', "twice"),
        ("nan-routing", json.dumps(doc).replace(json.dumps(doc["routing"][g][gr]), "NaN", 1), "NaN"),
        ("infinity-replicas", json.dumps(doc).replace(f'"{t}": {doc["replicas"][r][t]}', f'"{t}": Infinity', 1),
         "Infinity"),
    ]
    edits: list[tuple[str, Callable[[dict], None], str]] = [
        ("version", lambda d: d.update(version=2), "version"),
        ("stack-not-text", lambda d: d.update(stack=7), "stack"),
        ("unknown-key", lambda d: d.update(replica={}), "replica"),
        ("replicas-missing", lambda d: d.pop("replicas"), "replicas"),
        ("replicas-negative", lambda d: d["replicas"][r].update({t: -2}), f"replicas.{r}.{t}"),
        ("replicas-fraction", lambda d: d["replicas"][r].update({t: 1.5}), f"replicas.{r}.{t}"),
        ("replicas-text", lambda d: d["replicas"][r].update({t: "2"}), f"replicas.{r}.{t}"),
        ("replicas-huge", lambda d: d["replicas"][r].update({t: 10**12}), f"replicas.{r}.{t}"),
        ("replicas-bool", lambda d: d["replicas"][r].update({t: True}), f"replicas.{r}.{t}"),
        ("replicas-not-mapping", lambda d: d.update(replicas=[1]), "replicas"),
        ("replicas-region-list", lambda d: d["replicas"].update({r: [1]}), f"replicas.{r}"),
        ("replicas-unknown-region", lambda d: d["replicas"].update(nowhere={t: 1}), "replicas.nowhere"),
        ("replicas-unknown-type", lambda d: d["replicas"][r].update({"g9.mega": 1}), f"replicas.{r}.g9.mega"),
        ("routing-unknown-geography", lambda d: d["routing"].update(atlantis={gr: 1.0}), "routing.atlantis"),
        ("routing-unknown-region", lambda d: d["routing"][g].update(nowhere=1.0), f"routing.{g}.nowhere"),
        ("routing-negative", lambda d: d["routing"][g].update({gr: -1.0}), f"routing.{g}.{gr}"),
        ("routing-text", lambda d: d["routing"][g].update({gr: "lots"}), f"routing.{g}.{gr}"),
        ("failover-unknown-region", lambda d: d["failover"].update(nowhere={}), "failover.nowhere"),
        ("failover-not-mapping", lambda d: d.update(failover=[]), "failover"),
        ("failover-geo-unknown", lambda d: d["failover"][lost].update(atlantis={}), f"failover.{lost}.atlantis"),
        ("usd-negative", lambda d: d["usd_per_hour"][r].update({t: -1.0}), f"usd_per_hour.{r}.{t}"),
        ("hourly-cost-text", lambda d: d.update(hourly_cost="cheap"), "hourly_cost"),
    ]
    for cid, edit, names in edits:
        changed = copy.deepcopy(doc)
        edit(changed)
        out.append((cid, changed, names))
    return out


def _lock_cases() -> list[str]:
    return ["not-utf8", "directory", "not-json", "top-level-list", "duplicate-key", "nan-routing",
            "infinity-replicas", "version", "stack-not-text", "unknown-key", "replicas-missing", "replicas-negative",
            "replicas-fraction", "replicas-text", "replicas-huge", "replicas-bool", "replicas-not-mapping",
            "replicas-region-list", "replicas-unknown-region", "replicas-unknown-type",
            "routing-unknown-geography", "routing-unknown-region", "routing-negative", "routing-text",
            "failover-unknown-region", "failover-not-mapping", "failover-geo-unknown", "usd-negative",
            "hourly-cost-text"]


@pytest.mark.parametrize("cid", _lock_cases())
def test_every_command_refuses_every_bad_lock(cid, tmp_path, capsys, monkeypatch):
    path, doc = _valid_lock(tmp_path, "locked")
    capsys.readouterr()
    (_, content, names), = [d for d in lock_defects(doc) if d[0] == cid]
    lock = path.with_name("Pulumi.locked.sizing.json")
    if content == "DIR":
        lock.unlink()
        lock.mkdir()
    elif isinstance(content, bytes):
        lock.write_bytes(content)
    else:
        lock.write_text(content if isinstance(content, str) else json.dumps(content))
    # Plain `sizing` (and `--write`, which replaces a broken lock) solves afresh and never reads the lock.
    readers = {k: v for k, v in every_command(monkeypatch).items() if k != "sizing"}
    refused_everywhere(path, [names], readers, capsys)


def test_the_lock_battery_is_every_defect_listed():
    assert [d[0] for d in lock_defects({"replicas": {"r": {"t": 1}}, "routing": {"g": {"r": 1.0}},
                                        "failover": {"r": {}}, "usd_per_hour": {"r": {"t": 1.0}}})] == \
        _lock_cases()


def test_sizing_diff_json_is_strict_json_when_a_pinned_type_is_no_longer_offered(tmp_path, capsys):
    path, doc = _valid_lock(tmp_path, "moved")
    _, t = _first(doc["replicas"])
    others = [x for x in ("g5.xlarge", "g6.xlarge", "g2-standard-4") if x != t]
    path.write_text(valid_text().replace("    - g5.xlarge\n    - g6.xlarge\n    - g2-standard-4\n",
                                         "".join(f"    - {x}\n" for x in others)))
    capsys.readouterr()
    code = sizing_cli.main(["--stack-file", str(path), "--diff", "--json"])
    out, err = capsys.readouterr()
    if code == 0:
        json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in --diff --json"))
    else:
        assert code == 2 and "Traceback" not in err
