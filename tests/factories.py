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


# Prices for catalogued regions without a catalog price (sizing.prices overrides), so a generated stack
# can use every catalogued region: the cheapest on-demand rows of each cloud's L4 / A10G types.
_FALLBACK_PRICES = {"aws": {"g6.xlarge": 0.805, "g5.xlarge": 1.006}, "gcp": {"g2-standard-4": 0.707}}
_GEN_MODEL = {"name": "m", "image": "vllm/vllm-openai:v0.6.3",
              "throughputRps": {"A10G": 1.5, "L4": 1.2, "A100-40GB": 5.0, "A100-80GB": 5.5, "H100-80GB": 10.0}}


def generated_raw(regions: int, seed: int | None = None) -> dict[str, Any]:
    """A stack of `regions` catalogued regions (at most 50) with a demand next to each, as a user growing
    the fleet writes it: seed None = the scale bench's stack (regions alternating AWS and GCP, 5 rps each);
    a seed = a random choice of regions and demands (0.5 to 300 rps)."""
    import random

    from infra.catalog import load_catalog
    from infra.planning.geolocations import COUNTRIES

    catalog = load_catalog()
    # The global AWS partition and GCP only: a China region needs partition credentials (docs/partitions.md).
    every = sorted((r for r in catalog.regions.values() if r.partition in ("aws", "gcp")),
                   key=lambda r: (not catalog.offerings_in(r.cloud, r.location), r.number))
    if seed is None:
        aws = [r for r in every if r.cloud == "aws"]
        gcp = [r for r in every if r.cloud == "gcp"]
        pairs = [x for pair in zip(aws, gcp, strict=False) for x in pair]
        picked = (pairs + [r for r in every if r not in pairs])[:regions]
        rps = [5.0] * len(picked)
    else:
        rng = random.Random(seed)
        picked = rng.sample(every, regions)
        rps = [round(10 ** rng.uniform(-0.3, 2.5), 2) for _ in picked]
    entries = [{"name": f"r{r.number:02d}", "cloud": r.cloud, "location": r.location, "zones": min(3, len(r.zones))}
               for r in picked]
    demand = [{"geography": f"near-{r.location}", "rps": v, "latitude": r.latitude, "longitude": r.longitude}
              for r, v in zip(picked, rps, strict=True)]
    prices = {f"r{r.number:02d}": dict(_FALLBACK_PRICES[r.cloud]) for r in picked
              if not catalog.offerings_in(r.cloud, r.location)}
    # Route 53 locations for geographies given by coordinates: one stand-in country each
    countries = sorted(COUNTRIES - {"US"})
    traffic = {"geolocations": {d["geography"]: [countries[i]] for i, d in enumerate(demand)}}
    return raw_config(regions=entries, demand=demand, latency={"normalMs": 150, "failoverMs": 400},
                      environment="prod", network={"natPerZone": True}, model=_GEN_MODEL, traffic=traffic,
                      sizing={"prices": prices} if prices else {})
