"""Change rehearsal CLI: what `pulumi up` would do going from the deployed stack file to the edited one.

    python -m infra.change --deployed OLD.yaml --edited Pulumi.prod.yaml
    python -m infra.change --deployed-rev origin/main --stack prod       # the deployed side from git
    python -m infra.change ... --removing euw4                           # removing a region on purpose
    python -m infra.change ... --json

Each side is previewed offline with the sizing lock beside its stack file (from git for a revision).
Exit codes: 0 the change is safe, 1 it would replace/delete stateful resources or send a refused update,
2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.config import stack_file_path
from infra.errors import ConfigError
from infra.planning.sizing.lock import lock_path


def preview_document(path: Path, stack: str) -> dict:
    return preview_with_links(path, stack)[0]


def preview_with_links(path: Path, stack: str) -> tuple[dict, tuple]:
    """The preview document and the plan's VPN links (to tell a redundant re-pairing from a lost link)."""
    from infra.offline.preview import as_json
    from infra.offline.run import run_stack_with_plan

    run, plan = run_stack_with_plan(path, stack)
    return as_json(run), plan.topology.vpns


def files_at_revision(rev: str, stack_file: Path, into: Path) -> Path:
    """Write the stack file and its lock as they are at git revision `rev` into `into`."""
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                               check=True, cwd=stack_file.parent).stdout.strip())
    out = into / stack_file.name
    for path in (stack_file, lock_path(stack_file)):
        rel = path.resolve().relative_to(root)
        shown = subprocess.run(["git", "show", f"{rev}:{rel.as_posix()}"], capture_output=True, cwd=root)
        if shown.returncode == 0:
            (into / path.name).write_bytes(shown.stdout)
        elif path == stack_file:
            raise ConfigError([f"--deployed-rev: {rel} does not exist at {rev}: "
                               f"{shown.stderr.decode(errors='replace').strip()}"])
    return out


def render(report, out) -> None:
    counts = report.counts()
    print("changes: " + ", ".join(f"{n} {a}" for a, n in counts.items() if a != "same") +
          f" ({counts['same']} unchanged)", file=out)
    for c in report.changes:
        if c.action in ("replace", "delete"):
            why = f" ({'; '.join(c.reasons)})" if c.reasons else ""
            print(f"  {c.action:8} {c.type} {c.urn.rsplit('::', 1)[-1]}{why}", file=out)
    for step in report.steps:
        print(f"  step: {step}", file=out)
    if report.ok:
        print("change rehearsal: 0 violations", file=out)
    else:
        print(f"change rehearsal: {len(report.violations)} violation(s)", file=out)
        for v in report.violations:
            print(f"  {v.rule} {v.urn.rsplit('::', 1)[-1]}: {v.message} ({v.source})", file=out)


def run_battery(stack_file: Path, stack: str, as_json: bool) -> int:
    """Every standard edit of the stack, one verdict each; exit 1 if any edit is unsafe."""
    import yaml

    from infra.offline.change_battery import edits_for, sides
    from infra.rehearsal.change import rehearse_change

    try:
        edits = edits_for(yaml.safe_load(stack_file.read_text()))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = {}
    deployed_cache: dict[Path, tuple] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, edit in enumerate(edits):
            try:
                with edit.context():
                    old_path, new_path = sides(edit, stack_file, Path(tmp) / str(i))
                    if old_path not in deployed_cache:
                        deployed_cache[old_path] = preview_with_links(old_path, stack)
                    (old, old_links), (new, new_links) = deployed_cache[old_path], preview_with_links(new_path, stack)
                    report = rehearse_change(old, new, removing=edit.removing, links=(old_links, new_links))
            except ConfigError as exc:
                print(f"error: edit {edit.name!r}: {exc}", file=sys.stderr)
                return 2
            results[edit.name] = report
            if not as_json:
                print(f"== {edit.name}")
                render(report, sys.stdout)
    if as_json:
        print(json.dumps({name: r.to_json() for name, r in results.items()}, indent=2))
    return 0 if all(r.ok for r in results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.change", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod", help="stack name (default prod): Pulumi.<stack>.yaml")
    parser.add_argument("--edited", type=Path, help="the edited stack file (default Pulumi.<stack>.yaml)")
    deployed = parser.add_mutually_exclusive_group(required=True)
    deployed.add_argument("--battery", action="store_true",
                          help="rehearse the standard edits (demand, price, add/remove a region, Kubernetes "
                               "upgrade, image) against the stack file as it is")
    deployed.add_argument("--deployed", type=Path, help="the stack file as deployed (its lock beside it)")
    deployed.add_argument("--deployed-rev", metavar="REV", help="the edited file and its lock at git revision REV")
    parser.add_argument("--removing", action="append", default=[], metavar="REGION",
                        help="a region this change removes on purpose (its deletions become steps)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from infra.rehearsal.change import rehearse_change

    edited = args.edited or stack_file_path(args.stack)
    stack = edited.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for path in (edited, args.deployed):
        if path is not None and not path.is_file():
            print(f"error: {path}: no such stack file", file=sys.stderr)
            return 2
    if args.battery:
        return run_battery(edited, stack, args.json)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            old_path = args.deployed or files_at_revision(args.deployed_rev, edited, Path(tmp))
            old, old_links = preview_with_links(old_path, stack)
            new, new_links = preview_with_links(edited, stack)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: git: {exc.stderr.strip() if exc.stderr else exc}", file=sys.stderr)
        return 2
    known = {r.get("name") for r in new["resources"] + old["resources"] if r["type"] == "rollout:region:Region"}
    unknown = sorted(set(args.removing) - known)
    if unknown:
        print(f"error: --removing: no region {', '.join(unknown)} in either stack", file=sys.stderr)
        return 2
    report = rehearse_change(old, new, removing=args.removing, links=(old_links, new_links))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, sys.stdout)
    return 0 if report.ok else 1
