"""A small three-region stack (two AWS regions peered, one GCP region with HA VPNs) for the ops tests,
written as a stack file, with its plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infra.config import parse_config
from infra.planning.plan import RolloutPlan, build_plan
from tests.factories import raw_config

GCP_PROJECT = "rollout-test"
REGIONS = [
    {"name": "use1", "cloud": "aws", "location": "us-east-1", "zones": 3},
    {"name": "usw2", "cloud": "aws", "location": "us-west-2", "zones": 3},
    {"name": "euw4", "cloud": "gcp", "location": "europe-west4", "zones": 3},
]


def ops_raw(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "regions": REGIONS,
        "sizing": {"minReplicasPerRegion": 1, "burstReplicas": 1, "instanceTypes": ["g5.xlarge", "g2-standard-4"]},
        "demand": [{"geography": "us-east", "rps": 4}, {"geography": "central-europe", "rps": 2}],
    }
    return raw_config(**{**base, **changes})


def ops_plan(**changes: Any) -> RolloutPlan:
    return build_plan(parse_config(ops_raw(**changes)))


def write_ops_stack(directory: Path, stack: str = "ops", secrets_provider: str | None = None,
                    **changes: Any) -> Path:
    document: dict[str, Any] = {"config": {"gcp:project": GCP_PROJECT,
                                           **{f"global-ai-rollout:{k}": v for k, v in ops_raw(**changes).items()}}}
    if secrets_provider:
        document["secretsprovider"] = secrets_provider
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
