"""What the key check adds to a request: the middleware vLLM loads (components/serving/key_auth.py)
run in-process around an empty ASGI app, against the same app without it.

    .venv/bin/python bench/bench_auth.py [--requests 50000] [--keys 10000] [--runs 5]

Prints the median per-request time of each path (valid key, no key, revoked key) and of the bare app,
in microseconds. The key store is read in a background thread, never on a request's path.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.serving.key_auth import KeyAuth, KeyStore
from infra.planning import api_keys
from infra.planning.api_keys import KeyDocument


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _send(message):
    return None


async def _receive():
    return {"type": "http.request", "body": b"", "more_body": False}


def scope(authorization: str | None) -> dict:
    headers = [(b"host", b"api"), (b"content-type", b"application/json"), (b"user-agent", b"bench")]
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "root_path": "",
            "headers": headers, "client": ("203.0.113.9", 5555)}


async def timed(handler, request: dict, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await handler(request, _receive, _send)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import logging
    logging.getLogger("rollout.auth").setLevel(logging.ERROR)  # measure the check, not the log handler

    doc, valid, revoked = KeyDocument(), "", ""
    for i in range(args.keys):
        doc, key = api_keys.create(doc, f"client-{i}", "standard", 0)
        valid = valid or key
        if i == 1:
            revoked = key
    doc = api_keys.revoke(doc, "client-1", 1)
    text = doc.to_json()
    store = KeyStore(lambda: text)
    store.refresh()
    guarded = KeyAuth(app, store=store)
    cases = {"bare app (no check)": (app, scope(f"Bearer {valid}")),
             "valid key": (guarded, scope(f"Bearer {valid}")),
             "no key (401)": (guarded, scope(None)),
             "revoked key (401)": (guarded, scope(f"Bearer {revoked}"))}
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (handler, request) in cases.items():
            results[name].append(asyncio.run(timed(handler, request, args.requests)))
    print(f"{args.keys} keys in the document, {args.requests} requests per run, median of {args.runs} runs")
    base = statistics.median(results["bare app (no check)"])
    for name, values in results.items():
        median = statistics.median(values)
        extra = "" if name.startswith("bare") else f"  (+{median - base:.1f} us over the bare app)"
        print(f"{name:<22} {median:8.1f} us/request{extra}")


if __name__ == "__main__":
    main()
