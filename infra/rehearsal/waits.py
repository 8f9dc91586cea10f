"""Waits and data: every workload the Kubernetes provider awaits has a deliberate wait that covers
its ready time, and the data a workload loads before it can be ready has a producer ordered first.

pulumi-kubernetes awaits Deployments, StatefulSets, DaemonSets and Jobs until ready, 10 minutes by
default (https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/#await-logic;
DaemonSets since pulumi/pulumi-kubernetes#2953). The wait is `customTimeouts` (create/update), the
`pulumi.com/timeoutSeconds` annotation, or `pulumi.com/skipAwait: "true"` with a reason in
`rollout.dev/skip-await-reason`.

Ready time, from the manifest the plan rendered (its startup probe is sized to the plan's model load,
infra/planning/serving.py `probes_for`):
- create: node boot (GPU pods wait for their node) + image pull + the startup probe's budget
  (+ volume provisioning for claims); every replica starts in parallel;
- update: a rolling update replaces `maxUnavailable + maxSurge` replicas at a time (Deployments;
  StatefulSets one at a time), each batch pull + startup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from infra.rehearsal.model import Resource, RunView
from infra.rehearsal.order import engine_order
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

AWAITED = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet",
           "kubernetes:batch/v1:Job")
DEFAULT_AWAIT_SECONDS = 600  # pulumi-kubernetes: "10 minutes" (the await-logic page above)
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
SKIP_ANNOTATION = "pulumi.com/skipAwait"
SKIP_REASON = "rollout.dev/skip-await-reason"

# Start-time budget constants (conservative; re-measure on the real clusters and lower them):
# A GPU node: instance launch + join + NVIDIA driver/device plugin. EKS nodes join in ~2-3 min
# (https://docs.aws.amazon.com/eks/latest/userguide/launch-workers.html); GKE installs the GPU driver
# at boot, which "can take several minutes" (https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#installing_drivers).
GPU_NODE_BOOT_SECONDS = 600
# vllm/vllm-openai images are ~10 GB compressed (https://hub.docker.com/r/vllm/vllm-openai/tags): at the
# ~50-100 MB/s a node pulls from Docker Hub, 2-4 minutes; 5 with extraction.
GPU_IMAGE_PULL_SECONDS = 300
IMAGE_PULL_SECONDS = 60  # sub-GB images (mongo, controllers)
# A dynamically provisioned EBS/PD volume: create + attach, ~1-2 min
# (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html).
VOLUME_SECONDS = 120

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """Go durations as customTimeouts carry them: "30m", "1h30m", "900s"."""
    if not text:
        return None
    parts = _DURATION.findall(str(text))
    if not parts:
        return None
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def _template(r: Resource) -> Mapping[str, Any]:
    return ((r.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}


def _containers(r: Resource) -> list[Mapping[str, Any]]:
    spec = _template(r)
    return [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]


def _needs_gpu(r: Resource) -> bool:
    return any("nvidia.com/gpu" in ((c.get("resources") or {}).get("limits") or {})
               or "nvidia.com/gpu" in ((c.get("resources") or {}).get("requests") or {}) for c in _containers(r))


def _probe_budget(container: Mapping[str, Any]) -> int:
    """Seconds until the pod may first be ready: the startup probe's whole budget, else readiness's."""
    probe = container.get("startupProbe") or container.get("readinessProbe") or {}
    if not probe:
        return 0
    return int(probe.get("initialDelaySeconds", 0)) + int(probe.get("periodSeconds", 10)) * \
        int(probe.get("failureThreshold", 3))


def start_seconds(r: Resource, *, typical: bool = False, model_load: int = 0) -> int:
    """One replica from scheduled to ready (node boot counted separately). The worst case a wait must
    cover uses the startup probe's whole budget; `typical` counts it only for GPU servers (there it is
    the plan's model load) and the first readiness period otherwise (a database starts in seconds)."""
    gpu = _needs_gpu(r)
    pull = GPU_IMAGE_PULL_SECONDS if gpu else IMAGE_PULL_SECONDS
    spec = r.inputs.get("spec") or {}
    claims = bool(spec.get("volumeClaimTemplates")) or any("persistentVolumeClaim" in v
                                                           for v in _template(r).get("volumes") or ())
    containers = _template(r).get("containers") or ()
    if typical and not gpu:
        probe = max((int((c.get("readinessProbe") or {}).get("periodSeconds", 10)) for c in containers), default=0)
    else:
        probe = max((_probe_budget(c) for c in containers), default=0)
    return pull + max(probe, model_load) + (VOLUME_SECONDS if claims else 0)


def _count(value: Any, replicas: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = replicas * float(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def plan_model_load(ctx: Context, r: Resource) -> int:
    """The plan's start budget of the model servers this Deployment is (0 when not one of them)."""
    serving = getattr(ctx.plan, "serving", None) or {}
    region = ctx.run.region_of(r)
    name = ((r.inputs.get("metadata") or {}).get("name"))
    for pool in getattr(serving.get(region), "pools", ()):
        if pool.name == name:
            return int(pool.probes.startup_budget_seconds)
    return 0


def ready_seconds(r: Resource, model_load: int = 0) -> tuple[int, int]:
    """(create, rolling update) seconds until every replica is ready; `model_load`: the plan's budget,
    when it is longer than the manifest's startup probe allows."""
    replicas = int((r.inputs.get("spec") or {}).get("replicas") or 1)
    one = start_seconds(r, model_load=model_load)
    create = one + (GPU_NODE_BOOT_SECONDS if _needs_gpu(r) else 0)
    if r.type == "kubernetes:apps/v1:Deployment":
        rolling = ((r.inputs.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
        surge = _count(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        unavailable = _count(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
        batches = math.ceil(replicas / max(1, surge + unavailable))
        per_batch = one + (GPU_NODE_BOOT_SECONDS if surge and _needs_gpu(r) else 0)
        return create, batches * per_batch
    if r.type == "kubernetes:apps/v1:StatefulSet":
        return create, replicas * one
    return create, create


def ready_seconds_by_urn(run: RunView) -> dict[str, int]:
    """Typical create-time ready seconds of the awaited workloads (the critical path's durations)."""
    return {r.urn: start_seconds(r, typical=True) + (GPU_NODE_BOOT_SECONDS if _needs_gpu(r) else 0)
            for r in run.of_type(*AWAITED)}


def waits(r: Resource) -> tuple[float, float, str]:
    """(create wait, update wait, how it was set: "annotation" | "customTimeouts" | "default")."""
    annotated = r.annotation(TIMEOUT_ANNOTATION)
    if annotated:
        return float(annotated), float(annotated), "annotation"
    timeouts = r.custom_timeouts
    create, update = parse_duration(timeouts.get("create")), parse_duration(timeouts.get("update"))
    if create or update:
        return create or DEFAULT_AWAIT_SECONDS, update or DEFAULT_AWAIT_SECONDS, "customTimeouts"
    return DEFAULT_AWAIT_SECONDS, DEFAULT_AWAIT_SECONDS, "default"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


@rule("deploy/workload-wait", stage="deploy",
      source="https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/#await-logic")
def waits_cover_ready_time(ctx: Context) -> Iterator[Violation]:
    """Each awaited workload's wait is deliberate and covers its create and rolling-update ready time."""
    for r in ctx.run.of_type(*AWAITED):
        if str(r.annotation(SKIP_ANNOTATION)).lower() == "true":
            if not r.annotation(SKIP_REASON):
                yield Violation("deploy/workload-wait", r.urn,
                                f"{SKIP_ANNOTATION} without a reason ({SKIP_REASON})")
            continue
        create_wait, update_wait, how = waits(r)
        create, update = ready_seconds(r, plan_model_load(ctx, r))
        if how == "default":
            yield Violation("deploy/workload-wait", r.urn,
                            f"keeps the provider's default {_minutes(DEFAULT_AWAIT_SECONDS)} wait; ready in "
                            f"~{_minutes(create)} (update ~{_minutes(update)}): set customTimeouts or "
                            f"{TIMEOUT_ANNOTATION}")
            continue
        if create_wait < create:
            yield Violation("deploy/workload-wait", r.urn,
                            f"create wait {_minutes(create_wait)} ({how}) < ready time ~{_minutes(create)}")
        if update_wait < update:
            yield Violation("deploy/workload-wait", r.urn,
                            f"update wait {_minutes(update_wait)} ({how}) < rolling-update time ~{_minutes(update)}"
                            " (replicas / (maxSurge + maxUnavailable) batches)")


# --- data before its readers -----------------------------------------------------------------
PRODUCES = "rollout.dev/produces"  # on a Job/Deployment/...: comma-separated URIs it writes (s3://, gs://)
CONSUMES = "rollout.dev/consumes"  # on a workload: URIs it must read before it can be ready
_MODEL_FLAGS = ("--model", "--model-path")
BUCKET_TYPES = {"aws:s3/bucket:Bucket": ("bucket", "bucketPrefix"), "gcp:storage/bucket:Bucket": ("name", None)}
OBJECT_TYPES = {"aws:s3/bucketObjectv2:BucketObjectv2": ("bucket", "key"),
                "aws:s3/bucketObject:BucketObject": ("bucket", "key"),
                "gcp:storage/bucketObject:BucketObject": ("bucket", "name")}


def consumed_uris(r: Resource) -> list[str]:
    """Bucket URIs a workload reads before it is ready: `--model` arguments and the consumes annotation."""
    uris = [u.strip() for u in (r.annotation(CONSUMES) or "").split(",") if u.strip()]
    for c in _template(r).get("containers") or ():
        args = [str(a) for a in [*(c.get("command") or ()), *(c.get("args") or ())]]
        for i, arg in enumerate(args):
            value = args[i + 1] if arg in _MODEL_FLAGS and i + 1 < len(args) else \
                arg.split("=", 1)[1] if arg.split("=", 1)[0] in _MODEL_FLAGS and "=" in arg else None
            if value and value.startswith(("s3://", "gs://")):
                uris.append(value)
    return uris


def _bucket_of(uri: str) -> str:
    return uri.split("://", 1)[1].split("/", 1)[0]


def _bucket_declared(run: RunView, bucket: str) -> Resource | None:
    for r in run.of_type(*BUCKET_TYPES):
        name_key, prefix_key = BUCKET_TYPES[r.type]
        name, prefix = r.inputs.get(name_key), r.inputs.get(prefix_key) if prefix_key else None
        if name == bucket or (isinstance(prefix, str) and bucket.startswith(prefix)):
            return r
    return None


def produces(r: Resource) -> list[str]:
    """URIs (or prefixes) a resource writes: the produces annotation, or a bucket object's own URI."""
    out = [u.strip() for u in (r.annotation(PRODUCES) or "").split(",") if u.strip()]
    if r.type in OBJECT_TYPES:
        bucket_key, key_key = OBJECT_TYPES[r.type]
        scheme = "gs" if r.type.startswith("gcp:") else "s3"
        out.append(f"{scheme}://{r.inputs.get(bucket_key)}/{r.inputs.get(key_key)}")
    return out


def _covers(written: str, needed: str) -> bool:
    """A producer of `s3://b/model` (or of `s3://b/model/config.json`) serves a reader of `s3://b/model`."""
    w, n = written.rstrip("/"), needed.rstrip("/")
    return n == w or n.startswith(w + "/") or w.startswith(n + "/")


@rule("deploy/data-producer", stage="deploy",
      source="https://docs.vllm.ai/en/stable/models/extensions/runai_model_streamer/ (the server reads the "
             "weights from the bucket at start; an empty bucket never becomes ready)")
def data_is_produced_first(ctx: Context) -> Iterator[Violation]:
    """A workload reading a bucket this run creates has a producer of that data ordered before it;
    a bucket the run does not create is pre-existing by declaration (weights staged elsewhere)."""
    order = engine_order(ctx.run)
    producers = [(r.urn, uri) for r in ctx.run for uri in produces(r)]
    for r in ctx.run.of_type(*AWAITED):
        for uri in consumed_uris(r):
            bucket = _bucket_declared(ctx.run, _bucket_of(uri))
            if bucket is None:
                continue
            makers = [urn for urn, written in producers if _covers(written, uri)]
            if not makers:
                yield Violation("deploy/data-producer", r.urn,
                                f"reads {uri} from {bucket.name}, created empty by this run, and nothing writes it "
                                f"(a staging Job annotated {PRODUCES}, or a bucket object)")
            elif not any(m in order.before(r.urn) for m in makers):
                yield Violation("deploy/data-producer", r.urn,
                                f"reads {uri}; its producer {makers[0].rsplit('::', 1)[-1]} is not ordered before it")
