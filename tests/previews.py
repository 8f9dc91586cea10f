"""Each repository stack's preview, computed once per test process (in-process, under mocks), and the
CLIs run in-process: the tests read the same captured runs instead of previewing dev and prod again in
every module, and a CLI test pays no interpreter start and no provider SDK imports of its own.

A captured run is shared: a test that changes one builds a new one (`dataclasses.replace`), never
mutates it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import subprocess
from collections.abc import Callable, Sequence

from tests.factories import ROOT


@functools.cache
def stack_preview(stack: str):
    """(CapturedRun, RolloutPlan) of `Pulumi.<stack>.yaml` in the repository, once per process."""
    from infra.offline.run import run_stack_with_plan

    return run_stack_with_plan(ROOT / f"Pulumi.{stack}.yaml", stack)


def stack_run(stack: str):
    return stack_preview(stack)[0]


def stack_plan(stack: str):
    return stack_preview(stack)[1]


def run_cli(main: Callable[[Sequence[str]], int], *args: str) -> subprocess.CompletedProcess[str]:
    """A CLI's `main(argv)` in this process, as a finished process: exit code, stdout and stderr text."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
