"""A seeded discrete-event simulation of in-region request routing over mixed GPU replicas.

Pure (no pulumi import). It answers one question for the serving design: with replicas of different
capacity in one region, how much queueing delay does each routing policy add at the planned load?

Model (kept small on purpose):
- requests arrive as a Poisson process at the region's planned rate;
- a replica is a continuous-batching server with `slots` concurrent requests (slots per GPU x its
  GPUs); a request holds a slot for an exponential time whose mean is slots / capacity, so a full
  replica completes exactly its planned requests/s (GPUs x throughput per GPU);
- a request routed to a replica with every slot busy waits in that replica's FIFO queue: the
  queueing delay is the time from arrival to getting a slot (what least-loaded routing reduces).

Policies:
- `round_robin`: replicas in turn, blind to capacity and load (plain Kubernetes Service / LB default);
- `weighted_least_outstanding`: the replica with the fewest outstanding (running + queued) requests per
  unit of capacity (GCP's LEAST_REQUEST with RATE capacity per endpoint; Envoy's weighted least request);
- `pool_weighted_then_least_outstanding`: what the AWS shape does: the listener picks a target group
  at random with weights proportional to pool capacity, then the group sends to its replica with
  the fewest outstanding requests (`least_outstanding_requests`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

POLICIES = ("round_robin", "weighted_least_outstanding", "pool_weighted_then_least_outstanding")


@dataclass(frozen=True)
class Replica:
    pool: str
    capacity_rps: float
    slots: int


@dataclass(frozen=True)
class SimResult:
    policy: str
    requests: int
    offered_rps: float
    utilization: float  # offered / total capacity
    p50_wait_ms: float
    p99_wait_ms: float
    mean_wait_ms: float
    waited_share: float  # share of requests that waited at all

    def row(self) -> dict[str, float | str | int]:
        return {"policy": self.policy, "requests": self.requests, "offered_rps": round(self.offered_rps, 3),
                "utilization": round(self.utilization, 3), "p50_wait_ms": round(self.p50_wait_ms, 1),
                "p99_wait_ms": round(self.p99_wait_ms, 1), "mean_wait_ms": round(self.mean_wait_ms, 1),
                "waited_share": round(self.waited_share, 4)}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in [0, 100])."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def replicas_of(pools: Sequence[tuple[str, int, float, int]], slots_per_gpu: int) -> list[Replica]:
    """(pool, replicas, rps per replica, GPUs per replica) -> the replicas."""
    return [Replica(pool, rps, slots_per_gpu * gpus) for pool, count, rps, gpus in pools for _ in range(count)]


def _chooser(policy: str, replicas: Sequence[Replica], outstanding: list[int],
             rng: random.Random) -> Callable[[], int]:
    n = len(replicas)
    if policy == "round_robin":
        state = {"next": 0}

        def rr() -> int:
            i = state["next"]
            state["next"] = (i + 1) % n
            return i
        return rr
    if policy == "weighted_least_outstanding":
        def wlo() -> int:
            # Ties go to the larger replica, then the lower index (deterministic).
            return min(range(n), key=lambda i: (outstanding[i] / replicas[i].capacity_rps,
                                                -replicas[i].capacity_rps, i))
        return wlo
    if policy == "pool_weighted_then_least_outstanding":
        pools: dict[str, list[int]] = {}
        for i, r in enumerate(replicas):
            pools.setdefault(r.pool, []).append(i)
        names = sorted(pools)
        weights = [sum(replicas[i].capacity_rps for i in pools[p]) for p in names]

        def two_level() -> int:
            members = pools[rng.choices(names, weights=weights)[0]]
            return min(members, key=lambda i: (outstanding[i], i))
        return two_level
    raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")


def simulate(replicas: Sequence[Replica], offered_rps: float, policy: str, *, requests: int = 100_000,
             seed: int = 1, warmup: int = 5_000) -> SimResult:
    """Run `requests` arrivals (after `warmup` discarded ones) through `policy`; same seed, same run."""
    if not replicas or offered_rps <= 0:
        raise ValueError("need replicas and a positive load")
    arrivals_rng, service_rng, choice_rng = (random.Random(f"{seed}/{k}") for k in ("arrive", "serve", "choose"))
    n = len(replicas)
    busy, outstanding = [0] * n, [0] * n
    queues: list[deque[float]] = [deque() for _ in range(n)]
    choose = _chooser(policy, replicas, outstanding, choice_rng)
    mean_hold = [r.slots / r.capacity_rps for r in replicas]
    completions: list[tuple[float, int]] = []
    waits: list[float] = []
    now, total = 0.0, requests + warmup

    def start(i: int, at: float, arrived: float, index: int) -> None:
        busy[i] += 1
        if index >= warmup:
            waits.append(at - arrived)
        heapq.heappush(completions, (at + service_rng.expovariate(1 / mean_hold[i]), i))

    index = 0
    next_arrival = arrivals_rng.expovariate(offered_rps)
    queued_index: list[deque[int]] = [deque() for _ in range(n)]
    while index < total or completions:
        if index < total and (not completions or next_arrival <= completions[0][0]):
            now = next_arrival
            i = choose()
            outstanding[i] += 1
            if busy[i] < replicas[i].slots:
                start(i, now, now, index)
            else:
                queues[i].append(now)
                queued_index[i].append(index)
            index += 1
            next_arrival = now + arrivals_rng.expovariate(offered_rps)
        else:
            now, i = heapq.heappop(completions)
            busy[i] -= 1
            outstanding[i] -= 1
            if queues[i]:
                start(i, now, queues[i].popleft(), queued_index[i].popleft())
    waits.sort()
    capacity = sum(r.capacity_rps for r in replicas)
    return SimResult(policy=policy, requests=len(waits), offered_rps=offered_rps, utilization=offered_rps / capacity,
                     p50_wait_ms=1000 * percentile(waits, 50), p99_wait_ms=1000 * percentile(waits, 99),
                     mean_wait_ms=1000 * sum(waits) / len(waits),
                     waited_share=sum(1 for w in waits if w > 0) / len(waits))


def compare(replicas: Sequence[Replica], offered_rps: float, *, requests: int = 100_000, seed: int = 1,
            policies: Sequence[str] = POLICIES) -> list[SimResult]:
    """Every policy on the same arrivals and service draws (common random numbers)."""
    return [simulate(replicas, offered_rps, p, requests=requests, seed=seed) for p in policies]
