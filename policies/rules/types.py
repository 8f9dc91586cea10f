"""The resource type tokens the installed provider SDKs register, read from their source files.

A rule keyed on a misspelled type never runs and nothing fails (the GCP VPN tunnel registers as
`gcp:compute/vPNTunnel:VPNTunnel`, not `gcp:compute/vPNTunnel:VPNTunnel`). Every generated resource
class in pulumi-aws / -gcp / -kubernetes / -tls / -random carries `@pulumi.type_token("<token>")`,
so scanning the packages' files for that decorator gives the exact set the engine will send. Read as
text, because importing every pulumi_aws/pulumi_gcp module takes minutes and gigabytes.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PROVIDER_PACKAGES = ("pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_tls", "pulumi_random")
_DECORATOR = re.compile(r'^@pulumi\.type_token\("([^"]+)"\)', re.MULTILINE)
_INVOKE = re.compile(r"pulumi\.runtime\.invoke(?:_output)?\('([^']+)'")
# Anything that looks like a provider resource token: <package>:<module>:<Name>.
# (ARNs such as arn:aws:kms:us-east-1:... have no "/" in the module part, so they do not match.)
TOKEN = re.compile(r"\b((?:aws|gcp|kubernetes|tls|random):[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+:[A-Za-z0-9_]+)\b")


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(package)
    return Path(spec.origin).parent


@cache
def registered_types(packages: tuple[str, ...] = PROVIDER_PACKAGES) -> frozenset[str]:
    """Every resource type token (and function token, for mocked calls) the installed SDKs register."""
    found: set[str] = set()
    for package in packages:
        for path in package_dir(package).rglob("*.py"):
            text = path.read_text(encoding="utf-8", errors="replace")
            if "type_token" in text:
                found.update(_DECORATOR.findall(text))
            if "runtime.invoke" in text:
                found.update(_INVOKE.findall(text))
    return frozenset(found)


def tokens_in(text: str) -> set[str]:
    """Provider type tokens written in a piece of source (string literals and comments alike)."""
    return set(TOKEN.findall(text))


ENGINE_TYPES = frozenset({"pulumi:pulumi:Stack"})
_COMPONENT = re.compile(r'super\(\)\.__init__\(\s*"(rollout:[^"]+)"')


@cache
def component_types() -> frozenset[str]:
    """The program's own component tokens (`rollout:<module>:<Name>`), from components/ next to the pack."""
    root = Path(__file__).resolve().parents[2] / "components"
    return frozenset(t for path in root.rglob("*.py") for t in _COMPONENT.findall(path.read_text()))


def unregistered(tokens: Iterable[str], also_known: Iterable[str] = ()) -> list[str]:
    """The tokens nothing registers (typos, wrong case, removed types), sorted. Provider tokens resolve
    against the SDKs, `rollout:` tokens against the program's components; `also_known` adds tokens no
    SDK class registers (custom resources the program declares)."""
    known = registered_types() | component_types() | ENGINE_TYPES | set(also_known)
    return sorted(t for t in set(tokens) if t not in known)
