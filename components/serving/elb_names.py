"""Logical names for Elastic Load Balancing resources that fit the service's 32-character names.

Pulumi auto-names a load balancer or target group `<logical name>-<7 random hex>` and the AWS provider
refuses the result beyond 32 characters (it does not truncate: pulumi_aws 7.51.1 lb/target_group.py,
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html). A
logical name of at most 24 characters keeps auto-naming (and so create-before-delete replacement).
A longer one keeps its ends (`use1-serving-entry` + `vllm-p4d-24xlarge` -> `use1-vllm-p4d-24xlarge`:
region and pool, what a reader looks for); still too long, it is cut and given a digest of the whole.
The same input always gives the same name (a stable URN); two inputs that shorten alike in one
component fail the preview loudly (duplicate URN), never silently.
"""

from __future__ import annotations

import hashlib

ELB_NAME_LIMIT = 32
AUTONAME_SUFFIX = 8  # "-" + 7 random hex characters
DIGEST = 6


def elb_logical_name(*parts: str, limit: int = ELB_NAME_LIMIT) -> str:
    """`-`-joined parts, at most `limit - 8` characters, letters/digits/hyphens, no edge hyphen."""
    room = limit - AUTONAME_SUFFIX
    full = "-".join(p.strip("-") for p in parts if p)
    if len(full) <= room:
        return full
    ends = f"{parts[0].split('-', 1)[0]}-{parts[-1].strip('-')}" if len(parts) > 1 else full
    if len(ends) <= room:
        return ends
    digest = hashlib.sha256(full.encode()).hexdigest()[:DIGEST]
    return f"{full[:room - DIGEST - 1].rstrip('-')}-{digest}"
