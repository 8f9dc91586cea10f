"""Builders for stack configs in tests: a small valid config, changed only where a test says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

BASE: dict[str, Any] = {
    "environment": "dev",
    "domain": "test.rollout.example.com",
    "tags": {"owner": "platform-team", "costCenter": "cc-1"},
    "regions": [
        {"name": "use1", "cloud": "aws", "location": "us-east-1", "zones": 3},
        {"name": "euw4", "cloud": "gcp", "location": "europe-west4", "zones": 3},
    ],
    "model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "throughputRps": {"A10G": 1.5, "L4": 1.2}},
    "demand": [{"geography": "us-east", "rps": 4}],
    "latency": {"normalMs": 120, "failoverMs": 250},
    "cluster": {"apiAccess": {"mode": "dns-endpoint", "deployerCidrs": ["203.0.113.0/24"]}},
    # Where the first deploy stages the weights buckets from (serving.weights, docs/serving.md).
    "serving": {"weights": {"huggingFaceModel": "meta-llama/Llama-3.1-8B-Instruct"}},
    # Users in no listed geography get no answer (a test stack; the real stacks count them).
    "restOfWorld": {"refuse": True},
}


def raw_config(**changes: Any) -> dict[str, Any]:
    """A valid un-namespaced config mapping with top-level keys replaced by `changes`."""
    raw = copy.deepcopy(BASE)
    raw.update(copy.deepcopy(changes))
    return raw


def write_stack_file(path: Path, raw: dict[str, Any], project: str = "global-ai-rollout") -> Path:
    """Write `raw` as a Pulumi.<stack>.yaml with namespaced keys."""
    document = {"config": {f"{project}:{k}": v for k, v in raw.items()}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
