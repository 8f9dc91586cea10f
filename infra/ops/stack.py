"""What the ops commands know about a stack: its validated config and plan, plus where its state and
secrets live. Loading validates and plans exactly like the preview (`plan_for_stack_file`: the stack file
plus its pinned sizing lock, if any), so bad config is one `ConfigError` (exit 2).

Where the state backend comes from (first found): the environment variable `PULUMI_BACKEND_URL`, then
`backend.url` in `Pulumi.yaml`. Without either, the backend is whatever `pulumi login` chose and it is not
checked. The secrets provider comes from the stack file's top-level `secretsprovider` key
(https://www.pulumi.com/docs/iac/concepts/secrets/#available-encryption-providers); without one, a
Pulumi Cloud backend encrypts with its own key and any other backend uses a passphrase.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.config import RolloutConfig, config_from_stack_file, stack_file_path
from infra.errors import ConfigError
from infra.planning.plan import RolloutPlan, plan_for_stack_file, stack_name
from infra.stack_yaml import StackFileError, load_stack_yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackTarget:
    name: str  # the stack name, as `pulumi.get_stack()` returns it (the `stack` tag on AWS resources)
    path: Path
    config: RolloutConfig
    plan: RolloutPlan
    gcp_project: str | None  # `gcp:project` from the stack file
    backend_url: str | None
    secrets_provider: str | None


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    where.add_argument("--stack-file", type=Path, help="path to a Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def backend_url(env: Mapping[str, str], project_file: Path) -> str | None:
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    try:
        document = yaml.safe_load(project_file.read_text()) or {}
    except FileNotFoundError:
        return None
    backend = document.get("backend") if isinstance(document, dict) else None
    return backend.get("url") if isinstance(backend, dict) else None


def load_target(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> StackTarget:
    """Validate and plan the stack the arguments name; raises ConfigError."""
    env = os.environ if env is None else env
    path = Path(args.stack_file) if args.stack_file else stack_file_path(args.stack)
    plan = plan_for_stack_file(path)  # validates the file (YAML, schema, provider keys, lock) first
    try:
        document = load_stack_yaml(path)
    except StackFileError as exc:
        raise ConfigError([f"{path}: {p}" for p in exc.problems], title="cannot load stack config") from None
    values = document.get("config") or {}
    return StackTarget(name=stack_name(path), path=path, config=config_from_stack_file(path), plan=plan,
                       gcp_project=values.get("gcp:project"),
                       backend_url=backend_url(env, path.parent / "Pulumi.yaml"),
                       secrets_provider=document.get("secretsprovider"))
