"""Every rule of the pack, by concern. Relative imports only, so the package loads both as `rules`
(the engine runs the pack with policies/ first on sys.path) and as `policies.rules` (pytest, docs)."""

from __future__ import annotations

from . import (
    api_edge,
    certificates,
    cluster_hardening,
    clusters,
    cmdline,
    cost,
    data,
    dns,
    edge,
    iam,
    k8s_security,
    links,
    network,
    quotas,
    residency,
    secret_values,
    secrets,
    stack,
    storage,
    tagging,
    tls,
    workloads,
)
from .core import Rule, StackRule

PACK_NAME = "global-ai-rollout"

ALL_RULES: list[Rule | StackRule] = [
    *network.RULES,
    *iam.RULES,
    *tagging.RULES,
    *links.RULES,
    *tls.RULES,
    *secrets.RULES,
    *clusters.RULES,
    *cluster_hardening.RULES,
    *workloads.RULES,
    *k8s_security.RULES,
    *cmdline.RULES,
    *secret_values.RULES,
    *data.RULES,
    *residency.RULES,
    *dns.RULES,
    *certificates.RULES,
    *edge.RULES,
    *api_edge.RULES,
    *storage.RULES,
    *cost.RULES,
    *stack.RULES,
    *quotas.RULES,
]


def build_policies() -> list:
    """The pulumi_policy objects, in a stable order (docs and reports list them the same way)."""
    return [r.policy() for r in ALL_RULES]
