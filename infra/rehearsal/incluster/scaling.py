"""Scaling signals: a KEDA ScaledObject over a model server scales on a number the server makes
meaningful, and its settings take effect.

- vLLM queues a request (`vllm:num_requests_waiting` > 0) only when it cannot schedule it: at
  `--max-num-seqs` running sequences (default 256) or a full KV cache. Scaling on the waiting queue
  therefore reacts at the per-replica concurrency only if the server is started with `--max-num-seqs`
  set to it (https://docs.vllm.ai/en/stable/configuration/engine_args/ ; the plan's number when it
  carries one as `max_num_seqs`).
- `cooldownPeriod` applies only to scaling to zero; with `minReplicaCount` > 0 scale-down from N is the
  HPA's (https://keda.sh/docs/2.18/reference/scaledobject-spec/#cooldownperiod), tuned through
  `advanced.horizontalPodAutoscalerConfig.behavior.scaleDown`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infra.rehearsal.incluster.budgets import arg, is_vllm
from infra.rehearsal.incluster.inventory import cluster_of, inventory
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
QUEUE_METRIC = "vllm:num_requests_waiting"
VLLM_DEFAULT_MAX_NUM_SEQS = 256


def _planned_max_num_seqs(plan: Any) -> int | None:
    server = getattr(plan, "server", None) if plan is not None else None
    value = getattr(server, "max_num_seqs", None)
    return int(value) if value else None


@rule("incluster/scaling", stage="incluster", source="https://keda.sh/docs/2.18/reference/scaledobject-spec/")
def scaling(ctx: Context) -> Iterable[Violation]:
    """A model server's ScaledObject scales on a signal set by --max-num-seqs, and its cooldown takes effect."""
    inv = inventory(ctx.run)
    planned = _planned_max_num_seqs(ctx.plan)
    for so in inv.of_type(SCALED_OBJECT):
        spec, meta = so.inputs.get("spec") or {}, so.inputs.get("metadata") or {}
        target = (spec.get("scaleTargetRef") or {}).get("name")
        pods = [p for p in inv.pods if p.cluster == cluster_of(so) and p.name == target and p.kind == "Deployment"
                and p.namespace == meta.get("namespace", "default")]
        servers = [c for p in pods for c in p.spec.get("containers") or () if is_vllm(c)]
        if not servers:
            continue
        name = f"ScaledObject {meta.get('namespace', 'default')}/{meta.get('name')}"
        queries = " ".join(str((t.get("metadata") or {}).get("query", "")) for t in spec.get("triggers") or ())
        if QUEUE_METRIC in queries:
            for c in servers:
                given = arg([str(a) for a in c.get("args") or ()], "--max-num-seqs")
                if given is None:
                    yield Violation("incluster/scaling", so.urn,
                                    f"{name} scales on {QUEUE_METRIC} but {target} runs without --max-num-seqs: "
                                    f"requests queue only at {VLLM_DEFAULT_MAX_NUM_SEQS} running sequences "
                                    "(or a full KV cache), not at the per-replica concurrency the sizing assumes")
                elif planned is not None and int(given) != planned:
                    yield Violation("incluster/scaling", so.urn,
                                    f"{name}: {target} runs --max-num-seqs {given}, the plan sizes {planned}")
        behavior = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get("behavior") or {}
        if int(spec.get("minReplicaCount", 0) or 0) > 0 and "cooldownPeriod" in spec and not behavior.get("scaleDown"):
            yield Violation("incluster/scaling", so.urn,
                            f"{name}: cooldownPeriod {spec['cooldownPeriod']} s applies only to scaling to zero; "
                            f"with minReplicaCount {spec['minReplicaCount']} the HPA's default scale-down "
                            "(300 s stabilization) decides: set "
                            "advanced.horizontalPodAutoscalerConfig.behavior.scaleDown")
