"""How one model is served on one instance type: GPUs per server, servers per node, capacity.

Pure (no pulumi import); the sizing (capacity per node) and the serving plan (Deployments) both read
it, so the capacity the sizing buys is the capacity the servers have.

- A model that fits one GPU runs one server per GPU (`nvidia.com/gpu: 1`): a p4d.24xlarge runs eight
  servers. Data parallelism over independent servers scales linearly; tensor parallelism does not.
- A model that does not fit one GPU runs with the smallest tensor-parallel degree (a power of two,
  vLLM splits attention heads evenly) whose GPUs hold the weights with room for the KV cache, and
  its per-GPU throughput is discounted by the tensor-parallel efficiency.

"Fits": weights <= GPU memory x gpu_memory_utilization x (1 - KV_CACHE_SHARE). vLLM allocates
`gpu_memory_utilization` of the GPU and gives what the weights and activations leave to the KV cache
(https://docs.vllm.ai/en/stable/configuration/engine_args/ , --gpu-memory-utilization); with less than
a fifth of it left, a server holds too few sequences to reach the measured throughput.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

KV_CACHE_SHARE = 0.2  # of the usable GPU memory kept for the KV cache and activations
TP_DEGREES = (1, 2, 4, 8)
# Per-GPU throughput at tensor parallel N relative to N independent one-GPU servers, used only when the
# model does not fit one GPU and the config gives no measured value (model.tensorParallelEfficiency).
# Tensor parallelism adds an all-reduce per layer; measured per-GPU throughput falls as N grows
# (AMD, "Analyzing the Impact of Tensor Parallelism Configurations on LLM Inference Performance",
# https://rocm.blogs.amd.com/artificial-intelligence/tensor-parallelism/README.html ; vLLM TP vs DP on
# 8x H100, https://pavlokhmel.com/llm_inferencing_benchmark_with_vllm_benchmark_script_tensor_parallel_vs_data_parallel.html).
# Conservative defaults; measure with `vllm bench serve` and set model.tensorParallelEfficiency.
DEFAULT_TP_EFFICIENCY: Mapping[int, float] = {1: 1.0, 2: 0.85, 4: 0.7, 8: 0.55}


@dataclass(frozen=True)
class ServerShape:
    """`servers_per_node` servers of `tensor_parallel` GPUs each on one node."""

    tensor_parallel: int
    servers_per_node: int
    rps_per_server: float
    efficiency: float

    @property
    def rps_per_node(self) -> float:
        return self.servers_per_node * self.rps_per_server


def tensor_parallel_for(weights_gib: float, gpu_memory_gib: float, gpu_memory_utilization: float) -> int | None:
    """Smallest tensor-parallel degree whose GPUs hold the weights with room for the KV cache; None if
    even eight GPUs cannot."""
    usable = gpu_memory_gib * gpu_memory_utilization * (1 - KV_CACHE_SHARE)
    return next((tp for tp in TP_DEGREES if weights_gib <= tp * usable), None)


def server_shape(*, gpu_count: int, gpu_memory_gib: float, per_gpu_rps: float, weights_gib: float,
                 gpu_memory_utilization: float, efficiency: Mapping[int, float] | None = None) -> ServerShape | None:
    """The servers one node runs; None when the model does not fit the node's GPUs."""
    tp = tensor_parallel_for(weights_gib, gpu_memory_gib, gpu_memory_utilization)
    if tp is None or tp > gpu_count:
        return None
    eff = 1.0 if tp == 1 else {**DEFAULT_TP_EFFICIENCY, **(efficiency or {})}[tp]
    return ServerShape(tensor_parallel=tp, servers_per_node=gpu_count // tp,
                       rps_per_server=tp * per_gpu_rps * eff, efficiency=eff)


def max_num_seqs(concurrency_per_gpu: int, tensor_parallel: int) -> int:
    """vLLM's --max-num-seqs: the concurrency the throughput was measured at, per GPU of the server."""
    return concurrency_per_gpu * tensor_parallel


def in_flight_target(concurrency_per_gpu: int, tensor_parallel: int, utilization: float) -> float:
    """KEDA's target of requests in flight per server: the sizing runs a server at `utilization` of its
    measured capacity, and by Little's law (latency ~ constant below saturation) at that share of the
    measured concurrency."""
    return max(1.0, math.floor(max_num_seqs(concurrency_per_gpu, tensor_parallel) * utilization * 100) / 100)
