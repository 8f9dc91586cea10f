"""Check results of the ops commands (preflight, verify): one row per check, a rich table, JSON, exit codes.

A check is `pass`, `fail` (blocking: exit 1), `warn` (shown, not blocking) or `skip` (could not or need not
be checked here; the detail says why). Every failing check names its fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

Status = Literal["pass", "fail", "warn", "skip"]
STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked (`check`, `scope`), the outcome, what was seen, how to fix it."""

    check: str  # e.g. "gpu-offered", "quota-vcpu", "vpn-tunnels"
    scope: str  # region name, "stack", or a link id
    status: Status
    detail: str
    fix: str = ""

    @property
    def blocking(self) -> bool:
        return self.status == "fail"


def passed(check: str, scope: str, detail: str) -> Check:
    return Check(check, scope, "pass", detail)


def failed(check: str, scope: str, detail: str, fix: str) -> Check:
    return Check(check, scope, "fail", detail, fix)


@dataclass(frozen=True)
class Step:
    """A unit of work for the progress display: its label and the function that returns its checks."""

    label: str
    run: Callable[[], Sequence[Check]]


def run_steps(steps: Sequence[Step], *, on_error: Callable[[Step, Exception], Check],
              console: Console | None = None) -> list[Check]:
    """Run every step under a progress bar on stderr (when it is a terminal); an exception in one step
    becomes one failed check (via `on_error`) and the other steps still run."""
    console = console or Console(stderr=True)
    results: list[Check] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=console, transient=True,
                  disable=not console.is_terminal) as progress:  # no bar (and no refresh thread) in logs
        task = progress.add_task("starting", total=len(steps))
        for step in steps:
            progress.update(task, description=step.label)
            try:
                results.extend(step.run())
            except Exception as error:  # any cloud/API error becomes a failed check
                results.append(on_error(step, error))
            progress.advance(task)
    return results


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing blocks, 1 when any check failed."""
    return 1 if any(c.blocking for c in checks) else 0


def render_table(title: str, checks: Sequence[Check], console: Console) -> None:
    table = Table(title=title, show_lines=False)
    for column in ("check", "scope", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(c.check, c.scope, f"[{STYLE[c.status]}]{c.status}[/]", c.detail, c.fix)
    console.print(table)
    counts = {s: sum(1 for c in checks if c.status == s) for s in STYLE}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    console.print(f"{len(checks)} checks: {summary}")


def to_json(command: str, stack: str, checks: Sequence[Check]) -> str:
    """`{"command", "stack", "ok", "counts", "checks": [{check, scope, status, detail, fix}]}`."""
    counts = {s: sum(1 for c in checks if c.status == s) for s in STYLE}
    return json.dumps({"command": command, "stack": stack, "ok": exit_code(checks) == 0, "counts": counts,
                       "checks": [asdict(c) for c in checks]}, indent=2)
