"""The public edge of the model API, per region: which paths are public, how much one key and one
address may send, how big a request may be, and where the region's key store is. Pure: the
components translate it into an AWS WAF web ACL (components/serving/aws_waf.py) or a Cloud Armor
policy (components/serving/gcp_armor.py) and the servers' key check (components/serving/api_auth.py).

Limits follow the plan: a key of tier T may send `share(T) x the region's planned requests/s` per
minute (the plan's capacity at the target utilisation, RegionServing.capacity_rps), so no single
client can take more than its share of a region's GPUs; one address `addressShare` of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from infra.planning.api_keys import PREFIX
from infra.planning.serving import RegionServing

HEADER = "authorization"
WINDOW_SECONDS = 60  # AWS WAF evaluation window (60/120/300/600) and the Cloud Armor interval
# AWS WAF rate-based rules take a limit of 10 or more per window:
# https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html
MIN_LIMIT = 10
# Generous bytes per token of a request body (text ~4 bytes per token, JSON escaping and the chat
# structure around it): the edge refuses bodies far beyond what --max-model-len could ever accept.
BODY_BYTES_PER_TOKEN = 16

# The OpenAI-compatible routes of the vLLM server a client may call, and /health for the health
# checkers. Everything else (/metrics, /tokenize, /collective_rpc, /v1/load_lora_adapter, /pooling,
# /server_info, ...) is refused at the edge.
PUBLIC_ROUTES = ("/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/responses")
PUBLIC_PATH_REGEX = (r"^(/health|/v1/models|/v1/completions|/v1/chat/completions|/v1/embeddings"
                     r"|/v1/responses(/[A-Za-z0-9_-]+(/cancel)?)?)$")


def is_public_path(path: str) -> bool:
    return re.fullmatch(PUBLIC_PATH_REGEX, path) is not None


@dataclass(frozen=True)
class TierLimit:
    tier: str
    share: float
    per_window: int  # requests per WINDOW_SECONDS for one key of this tier

    @property
    def header_prefix(self) -> str:
        """What every key of the tier starts with, as sent: `Bearer rk_<tier>_`."""
        return f"Bearer {PREFIX}_{self.tier}_"


@dataclass(frozen=True)
class RegionApiEdge:
    region: str
    cloud: str
    capacity_rps: float
    tiers: tuple[TierLimit, ...]
    address_per_window: int
    max_body_digits: int  # Content-Length values with more digits are refused (>= 10**digits bytes)
    key_store: str  # AWS Secrets Manager secret name / GCP Secret Manager secret id (this region's copy)
    refresh_seconds: int
    max_stale_seconds: int
    log_retention_days: int

    @property
    def bearer_regex(self) -> str:
        """A header carrying a key of a configured tier (the edge drops every other model request)."""
        return rf"^Bearer {PREFIX}_(" + "|".join(t.tier for t in self.tiers) + ")_"

    @property
    def body_regex(self) -> str:
        return rf"^[0-9]{{{self.max_body_digits + 1},}}$"


def per_window(share: float, capacity_rps: float) -> int:
    return max(MIN_LIMIT, math.ceil(share * capacity_rps * WINDOW_SECONDS))


def body_digits(max_model_len: int) -> int:
    return len(str(max_model_len * BODY_BYTES_PER_TOKEN))


def key_store_name(cluster_name: str) -> str:
    return f"{cluster_name}-api-keys"


def plan_api_edge(serving: Mapping[str, RegionServing], cluster_names: Mapping[str, str],
                  tiers: Mapping[str, float], address_share: float, max_model_len: int,
                  refresh_seconds: int, max_stale_seconds: int, log_retention_days: int) -> dict[str, RegionApiEdge]:
    """Region -> its edge, for every region that serves."""
    out = {}
    for name, rs in serving.items():
        if not rs.pools:
            continue
        capacity = rs.capacity_rps
        out[name] = RegionApiEdge(
            region=name, cloud=rs.cloud, capacity_rps=capacity,
            tiers=tuple(TierLimit(t, share, per_window(share, capacity)) for t, share in sorted(tiers.items())),
            address_per_window=per_window(address_share, capacity), max_body_digits=body_digits(max_model_len),
            key_store=key_store_name(cluster_names[name]), refresh_seconds=refresh_seconds,
            max_stale_seconds=max_stale_seconds, log_retention_days=log_retention_days)
    return out
