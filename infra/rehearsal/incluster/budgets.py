"""Memory and start-time budgets: each container's memory limit covers what it is known to need, and
each startup probe covers the known start time.

vLLM with `--load-format runai_streamer`: the Run:ai Model Streamer reads tensors into a CPU buffer
capped by `RUNAI_STREAMER_MEMORY_LIMIT` (bytes; -1 unlimited, 0 minimal); unset, the cap is 40 GB for a
single process (https://github.com/run-ai/runai-model-streamer/blob/master/docs/src/env-vars.md), so the
buffer is min(40 GB, weights). Measured on the streamer library: 4.03 GiB peak for a 4 GiB file by
default, 0.53 GiB with a 512 MiB cap (docs/serving.md). On top of it the server process itself.

mongod: the WiredTiger cache defaults to the larger of 50% of (RAM - 1 GB) and 256 MB, RAM being the
container's memory limit when there is one; the 1 GB is what MongoDB leaves to everything else
(https://www.mongodb.com/docs/manual/core/wiredtiger/#memory-use).

Start time: startupProbe initialDelaySeconds + failureThreshold x periodSeconds (or, without one, the
liveness probe's) must cover the model's load time from the plan
(https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from infra.rehearsal.incluster.inventory import Pod, inventory
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

GIB = 1024 ** 3
GB = 1000 ** 3
STREAMER_DEFAULT_LIMIT = 40 * GB
# RUNAI_STREAMER_MEMORY_LIMIT=0: one chunk per reader thread; object storage: 8 threads x 8 MiB (env-vars.md).
STREAMER_MIN_BUFFER = 8 * 8 * 1024 ** 2
# The server process besides the streamer buffer (Python, PyTorch, the CUDA context, tokenizer, API server).
# No upstream figure: this is the project's allowance; re-measure with the pinned image when it changes.
VLLM_PROCESS_ALLOWANCE = 3 * GIB
MONGOD_RESERVED = 1 * GB  # "RAM - 1 GB"
MONGOD_MIN_CACHE = 256 * 1000 ** 2
# Weights of models served here (bytes on disk, BF16 safetensors), from each model card's file list:
# meta-llama/Llama-3.1-8B-Instruct: 4.98 + 5.00 + 4.92 + 1.17 GB
# (https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/tree/main).
KNOWN_WEIGHTS = {"llama-3.1-8b-instruct": int(16.07 * GB), "meta-llama/llama-3.1-8b-instruct": int(16.07 * GB)}

_UNITS = {"": 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def quantity(value: Any) -> int | None:
    """Bytes of a Kubernetes memory quantity ("12Gi", "1000Mi", "2G", 1024)."""
    if value is None:
        return None
    m = re.fullmatch(r"([0-9.]+)([kMGT]i?|)", str(value).strip())
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


def arg(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _env(container: Mapping[str, Any], name: str) -> str | None:
    for e in container.get("env") or ():
        if e.get("name") == name and "value" in e:
            return str(e["value"])
    return None


def is_vllm(c: Mapping[str, Any]) -> bool:
    return "vllm" in str(c.get("image", "")).split(":")[0]


def is_mongod(c: Mapping[str, Any]) -> bool:
    return str(c.get("image", "")).split(":")[0].endswith("mongo") and (
        c.get("name") == "mongod" or "mongod" in (c.get("command") or []) or "--replSet" in (c.get("args") or []))


def weights_bytes(plan: Any, container: Mapping[str, Any]) -> int | None:
    """The plan's weights size if it carries one, else the known size of the served model."""
    server = getattr(plan, "server", None) if plan is not None else None
    for attr in ("weights_bytes",):
        if getattr(server, attr, None):
            return int(getattr(server, attr))
    if getattr(server, "weights_gib", None):
        return int(server.weights_gib * GIB)  # type: ignore[union-attr]
    args = [str(a) for a in container.get("args") or ()]
    for name in (arg(args, "--served-model-name"), arg(args, "--model")):
        if name and name.lower().rstrip("/").split("/")[-1] in KNOWN_WEIGHTS:
            return KNOWN_WEIGHTS[name.lower().rstrip("/").split("/")[-1]]
        if name and name.lower() in KNOWN_WEIGHTS:
            return KNOWN_WEIGHTS[name.lower()]
    return None


def streamer_buffer(container: Mapping[str, Any], weights: int) -> int:
    raw = _env(container, "RUNAI_STREAMER_MEMORY_LIMIT")
    if raw is None:
        return min(STREAMER_DEFAULT_LIMIT, weights)
    limit = int(raw)
    if limit < 0:
        return weights
    if limit == 0:
        return min(STREAMER_MIN_BUFFER, weights)
    return min(limit, weights)


def vllm_need(container: Mapping[str, Any], weights: int) -> tuple[int, str]:
    args = [str(a) for a in container.get("args") or ()]
    buffer = streamer_buffer(container, weights) if arg(args, "--load-format") == "runai_streamer" else 0
    need = buffer + VLLM_PROCESS_ALLOWANCE
    return need, (f"streamer buffer {buffer / GIB:.2f} GiB (weights {weights / GIB:.2f} GiB, "
                  f"RUNAI_STREAMER_MEMORY_LIMIT={_env(container, 'RUNAI_STREAMER_MEMORY_LIMIT') or 'unset'}) "
                  f"+ process {VLLM_PROCESS_ALLOWANCE / GIB:.0f} GiB")


def mongod_need(container: Mapping[str, Any], limit: int) -> tuple[int, str]:
    args = [str(a) for a in container.get("args") or ()]
    given = arg(args, "--wiredTigerCacheSizeGB")
    cache = int(float(given) * GB) if given else max(int(0.5 * (limit - MONGOD_RESERVED)), MONGOD_MIN_CACHE)
    return cache + MONGOD_RESERVED, f"WiredTiger cache {cache / GIB:.2f} GiB + {MONGOD_RESERVED / GIB:.2f} GiB reserved"


def memory_findings(spec: Mapping[str, Any], plan: Any = None) -> list[str]:
    out = []
    for c in spec.get("containers") or ():
        limit = quantity(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        if is_vllm(c):
            weights = weights_bytes(plan, c)
            if weights is None:
                out.append(f"container {c.get('name')}: the model's weights size is unknown (plan or KNOWN_WEIGHTS)")
                continue
            need, why = vllm_need(c, weights)
        elif is_mongod(c) and limit is not None:
            need, why = mongod_need(c, limit)
        else:
            continue
        if limit is not None and limit < need:
            out.append(f"container {c.get('name')}: memory limit {limit / GIB:.2f} GiB < need "
                       f"{need / GIB:.2f} GiB ({why}): OOM-killed")
    return out


def startup_budget(container: Mapping[str, Any]) -> int | None:
    probe = container.get("startupProbe") or container.get("livenessProbe")
    if not probe:
        return None
    return int(probe.get("initialDelaySeconds", 0)) + int(probe.get("failureThreshold", 3)) * int(
        probe.get("periodSeconds", 10))


def model_load_seconds(plan: Any, pod: Pod) -> int | None:
    """The plan's start time for a model server: an explicit `model_load_seconds` if the plan carries one,
    else the startup budget the plan sized for that pool (`ServingPool.probes`)."""
    if plan is None:
        return None
    for holder in (getattr(plan, "server", None), plan):
        if getattr(holder, "model_load_seconds", None):
            return int(holder.model_load_seconds)  # type: ignore[union-attr]
    for serving in (getattr(plan, "serving", None) or {}).values():
        for pool in serving.pools:
            if pool.name == pod.name:
                return int(pool.probes.startup_budget_seconds)
    return None


@rule("incluster/budget-memory", stage="incluster",
      source="https://github.com/run-ai/runai-model-streamer/blob/master/docs/src/env-vars.md")
def budget_memory(ctx: Context) -> Iterable[Violation]:
    """Each model server's and mongod's memory limit covers its known need."""
    for pod in inventory(ctx.run).pods:
        for f in memory_findings(pod.spec, ctx.plan):
            yield Violation("incluster/budget-memory", pod.urn, f"{pod.describe()}: {f}")


@rule("incluster/budget-startup", stage="incluster",
      source="https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/")
def budget_startup(ctx: Context) -> Iterable[Violation]:
    """Each model server's startup probe covers the plan's model load time."""
    for pod in inventory(ctx.run).pods:
        need = model_load_seconds(ctx.plan, pod)
        if need is None:
            continue
        for c in pod.spec.get("containers") or ():
            if not is_vllm(c):
                continue
            budget = startup_budget(c)
            if budget is None or budget < need:
                yield Violation("incluster/budget-startup", pod.urn,
                                f"{pod.describe()}: container {c.get('name')} startup budget "
                                f"{budget if budget is not None else 'none'} s < model load {need} s: "
                                f"killed mid-load ({math.ceil(need / 10)} x 10 s would cover it)")

# A Deployment's create and rolling-update waits against its ready time: deploy/workload-wait
# (infra/rehearsal/waits.py), one rule for every awaited workload.
