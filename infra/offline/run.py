"""Run the real program (`infra/__main__.py`) under Pulumi mocks for one stack file.

Shared by the preview CLI and the policy check (both depend on this module, never on each other).
"""

from __future__ import annotations

import os
import runpy
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra.config import PROJECT, stack_file_config
from infra.planning.plan import plan_for_stack_file
from infra.planning.sizing.lock import lock_path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra" / "__main__.py"


def stack_config(path: Path) -> dict[str, Any]:
    """The stack file's whole `config:` map (every namespace), as the engine would pass it."""
    return dict(stack_file_config(path))


def run_stack(path: Path, stack: str):
    """Validate the stack file, then run the program under mocks; returns the CapturedRun."""
    return run_stack_with_plan(path, stack)[0]


def run_stack_with_plan(path: Path, stack: str):
    """(CapturedRun, RolloutPlan): the plan is computed first, so bad config fails before anything runs."""
    from infra.offline.mock_runtime import run_mocked  # pulumi imports are slow: only after config is valid
    from infra.program import SIZING_LOCK_ENV

    plan = plan_for_stack_file(path)
    with _env(SIZING_LOCK_ENV, str(lock_path(path))):  # the lock beside this stack file, wherever it is
        run = run_mocked(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack=stack,
                         project=PROJECT, config=stack_config(path))
    return run, plan


@contextmanager
def _env(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


