"""Scaling: a ScaledObject on vLLM's waiting queue needs --max-num-seqs at the planned concurrency (else
the queue fills only at 256 running sequences), and cooldownPeriod is inert with a non-zero minimum."""

from __future__ import annotations

from types import SimpleNamespace

from tests.incluster_docs import RESTRICTED_CONTAINER_SC, cluster, deployment, messages, namespace, res, run

QUERY = 'sum(vllm:num_requests_waiting{namespace="rollout-serving"})'


def server(*args: str) -> dict:
    return {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.24.0",
                            "securityContext": RESTRICTED_CONTAINER_SC, "args": ["--model", "m", *args]}]}


def scaled(minimum: int = 2, cooldown: int | None = 600, behavior: dict | None = None) -> dict:
    spec = {"scaleTargetRef": {"name": "vllm"}, "minReplicaCount": minimum, "maxReplicaCount": 10,
            "triggers": [{"type": "prometheus", "metadata": {"query": QUERY, "threshold": "4"}}]}
    if cooldown is not None:
        spec["cooldownPeriod"] = cooldown
    if behavior:
        spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}
    return res("kubernetes:keda.sh/v1alpha1:ScaledObject", "so",
               metadata={"name": "vllm", "namespace": "rollout-serving"}, spec=spec)


def found(*extra, plan=None):
    return messages(run(*cluster(), namespace("rollout-serving"), *extra, plan=plan), "incluster/scaling")


def test_defect_the_waiting_queue_without_max_num_seqs_fills_only_at_256():
    msgs = found(deployment("vllm", "rollout-serving", server()), scaled(cooldown=None))
    assert len(msgs) == 1 and "without --max-num-seqs" in msgs[0]


def test_max_num_seqs_at_the_planned_concurrency_passes():
    plan = SimpleNamespace(server=SimpleNamespace(max_num_seqs=16))
    assert found(deployment("vllm", "rollout-serving", server("--max-num-seqs", "16")), scaled(cooldown=None),
                 plan=plan) == []
    msgs = found(deployment("vllm", "rollout-serving", server("--max-num-seqs", "64")), scaled(cooldown=None),
                 plan=plan)
    assert "the plan sizes 16" in msgs[0]


def test_defect_cooldown_is_inert_with_a_non_zero_minimum():
    base = deployment("vllm", "rollout-serving", server("--max-num-seqs", "16"))
    assert "applies only to scaling to zero" in found(base, scaled(minimum=2))[0]
    assert found(base, scaled(minimum=0)) == []
    assert found(base, scaled(minimum=2, behavior={"scaleDown": {"stabilizationWindowSeconds": 600}})) == []
