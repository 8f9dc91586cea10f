"""Tags and labels every taggable resource carries (owner, cost-center, stack, ...)."""

from __future__ import annotations

import re

import pulumi


def aws_tags(base: dict[str, str], name: str) -> dict[str, str]:
    """AWS tags: the plan's tags, the stack and a Name."""
    return {**base, "stack": pulumi.get_stack(), "Name": name}


def gcp_labels(base: dict[str, str]) -> dict[str, str]:
    """GCP labels allow only lowercase letters, digits, '_' and '-' (max 63), so values are folded."""

    def fold(text: str) -> str:
        return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]

    return {fold(k): fold(v) for k, v in {**base, "stack": pulumi.get_stack()}.items()}
