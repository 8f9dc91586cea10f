"""Budgets: a model server's memory limit covers the Run:ai streamer buffer and the process; mongod's
covers its WiredTiger cache; the startup probe covers the plan's load time. The issue's OOM at load
(12 GiB limit, ~15 GiB of weights, no streamer cap) is caught."""

from __future__ import annotations

from types import SimpleNamespace

from infra.rehearsal.incluster.budgets import GIB, memory_findings, quantity, startup_budget, streamer_buffer
from tests.incluster_docs import RESTRICTED_CONTAINER_SC, cluster, deployment, messages, namespace, run


def vllm(limit: str = "12Gi", env=(), startup=(10, 90)) -> dict:
    return {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "server", "image": "vllm/vllm-openai:v0.24.0", "securityContext": RESTRICTED_CONTAINER_SC,
                "args": ["--model", "s3://b/llama-3.1-8b-instruct", "--served-model-name", "llama-3.1-8b-instruct",
                         "--load-format", "runai_streamer"],
                "env": [{"name": k, "value": v} for k, v in env],
                "resources": {"limits": {"memory": limit, "nvidia.com/gpu": "1"}},
                "startupProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": startup[0],
                                 "failureThreshold": startup[1]}}]}


def test_defect_oom_at_load_with_a_12_gib_limit_and_15_gib_of_weights():
    report = run(*cluster(), namespace("rollout-serving"), deployment("vllm-g6", "rollout-serving", vllm()))
    found = messages(report, "incluster/budget-memory")
    assert len(found) == 1 and "memory limit 12.00 GiB" in found[0] and "RUNAI_STREAMER_MEMORY_LIMIT=unset" in found[0]


def test_a_capped_streamer_buffer_fits_the_same_limit():
    capped = vllm(env=[("RUNAI_STREAMER_MEMORY_LIMIT", str(512 * 1024 ** 2))])
    report = run(*cluster(), namespace("rollout-serving"), deployment("vllm-g6", "rollout-serving", capped))
    assert messages(report, "incluster/budget-memory") == []


def test_the_streamer_buffer_follows_its_documented_settings():
    weights = 15 * GIB
    c = vllm()["containers"][0]
    assert streamer_buffer(c, weights) == weights  # min(40 GB, weights)
    assert streamer_buffer(c, 60 * GIB) == 40 * 1000 ** 3
    assert streamer_buffer({"env": [{"name": "RUNAI_STREAMER_MEMORY_LIMIT", "value": "-1"}]}, 60 * GIB) == 60 * GIB
    assert streamer_buffer({"env": [{"name": "RUNAI_STREAMER_MEMORY_LIMIT", "value": "0"}]}, weights) < GIB


def test_weights_come_from_the_plan_when_it_carries_them():
    plan = SimpleNamespace(server=SimpleNamespace(weights_gib=2.0))
    assert memory_findings(vllm(), plan) == []
    assert memory_findings(vllm(), None)


def test_mongod_cache_and_reserve_fit_the_limit():
    def mongod(limit, args=()):
        return {"containers": [{"name": "mongod", "image": "mongo:8.0.17", "args": ["--replSet", "rs0", *args],
                                "resources": {"limits": {"memory": limit}}}]}
    assert memory_findings(mongod("4Gi")) == []  # default cache: half of (limit - 1 GB)
    assert memory_findings(mongod("4Gi", ["--wiredTigerCacheSizeGB", "4"]))


def test_startup_probe_covers_the_plans_load_time():
    plan = SimpleNamespace(server=SimpleNamespace(model_load_seconds=900))
    short = run(*cluster(), namespace("rollout-serving"),
                deployment("vllm-g6", "rollout-serving", vllm(limit="40Gi", startup=(10, 30))), plan=plan)
    assert "startup budget 300 s < model load 900 s" in messages(short, "incluster/budget-startup")[0]
    enough = run(*cluster(), namespace("rollout-serving"),
                 deployment("vllm-g6", "rollout-serving", vllm(limit="40Gi", startup=(10, 90))), plan=plan)
    assert messages(enough, "incluster/budget-startup") == []
    assert startup_budget({"startupProbe": {"initialDelaySeconds": 30, "periodSeconds": 10,
                                            "failureThreshold": 3}}) == 60


def test_quantities():
    assert quantity("12Gi") == 12 * GIB and quantity("1000Mi") == 1000 * 1024 ** 2 and quantity("2G") == 2 * 10 ** 9
