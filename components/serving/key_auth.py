"""The API-key check inside every model server: an ASGI middleware vLLM loads with
`--middleware rollout_key_auth.KeyAuth` (vLLM 0.24 `build_app`: a class is added with
`app.add_middleware`; vllm/entrypoints/openai/api_server.py).

Why not vLLM's own `--api-key` / `VLLM_API_KEY`: in 0.24 the list is read once when the app is built
(a revoked key works until the server restarts) and it guards only `/v1`, `/v2`, `/inference`
(vllm/entrypoints/serve/utils/server_utils.py, `GUARDED_PREFIX`), leaving `/tokenize`, `/pooling`,
`/collective_rpc` ... open. This check guards every path but `/health` (probes, load balancer health
checks) and `/metrics` (scraped in-cluster; refused at the edge), and re-reads the key document
from the region's secret manager every `ROLLOUT_AUTH_REFRESH_SECONDS` without touching requests in
flight. It fails closed: no document yet, or none fetched for `ROLLOUT_AUTH_MAX_STALE_SECONDS`,
answers 503 to everything it guards.

Runs inside the vLLM image: standard library only, plus boto3 on AWS (in the image with
runai-model-streamer[s3]) and the GKE metadata server on GCP. Shipped with `rollout_client_keys.py`
(infra/planning/api_keys.py) in a ConfigMap (components/serving/api_auth.py).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

try:  # in the repository (tests, bench)
    from infra.planning import api_keys
except ImportError:  # in the server pod: shipped beside this file
    import rollout_client_keys as api_keys  # type: ignore[no-redef]

OPEN_PATHS = frozenset({"/health", "/metrics"})
STORE_ENV = "ROLLOUT_AUTH_STORE"
REFRESH_ENV, STALE_ENV = "ROLLOUT_AUTH_REFRESH_SECONDS", "ROLLOUT_AUTH_MAX_STALE_SECONDS"
DEFAULT_REFRESH_SECONDS, DEFAULT_MAX_STALE_SECONDS = 30, 300
GCP_METADATA_TOKEN = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"

log = logging.getLogger("rollout.auth")


_COUNTER: list[Any] = []


def _counter() -> Any:
    """rollout_api_auth_total{result} on the server's /metrics (prometheus_client ships with vLLM);
    one per process, however many apps are built."""
    if not _COUNTER:
        try:
            from prometheus_client import Counter
            _COUNTER.append(Counter("rollout_api_auth", "API key checks by result", ["result"]))
        except ImportError:
            _COUNTER.append(None)
    return _COUNTER[0]


# --- where the document comes from -----------------------------------------------------------------------


def fetch_file(path: str) -> Callable[[], str]:
    def fetch() -> str:
        with open(path, encoding="utf-8") as f:
            return f.read()
    return fetch


def fetch_aws(region: str, secret_id: str) -> Callable[[], str]:
    """Secrets Manager GetSecretValue with the pod's IRSA role (boto3's web-identity credentials)."""
    import boto3

    client = boto3.client("secretsmanager", region_name=region)
    return lambda: client.get_secret_value(SecretId=secret_id)["SecretString"]


def fetch_gcp(secret: str, urlopen: Callable[..., Any] = urllib.request.urlopen) -> Callable[[], str]:
    """Secret Manager `versions/latest:access` with a Workload Identity token from the metadata server."""
    def fetch() -> str:
        req = urllib.request.Request(GCP_METADATA_TOKEN, headers={"Metadata-Flavor": "Google"})
        with urlopen(req, timeout=5) as resp:
            token = json.loads(resp.read())["access_token"]
        req = urllib.request.Request(f"https://secretmanager.googleapis.com/v1/{secret}/versions/latest:access",
                                     headers={"Authorization": f"Bearer {token}"})
        with urlopen(req, timeout=5) as resp:
            return base64.b64decode(json.loads(resp.read())["payload"]["data"]).decode("utf-8")
    return fetch


def fetcher(store: str) -> Callable[[], str]:
    """`file:<path>`, `aws-secretsmanager:<region>:<secret id>`, `gcp-secretmanager:projects/<p>/secrets/<s>`."""
    kind, _, where = store.partition(":")
    if kind == "file":
        return fetch_file(where)
    if kind == "aws-secretsmanager":
        region, _, secret_id = where.partition(":")
        return fetch_aws(region, secret_id)
    if kind == "gcp-secretmanager":
        return fetch_gcp(where)
    raise ValueError(f"{STORE_ENV}={store!r}: unknown key store")


class KeyStore:
    """The last good key document, refreshed in the background; `index(now)` is None when it is too old."""

    def __init__(self, fetch: Callable[[], str], refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
                 max_stale_seconds: float = DEFAULT_MAX_STALE_SECONDS, clock: Callable[[], float] = time.time):
        self._fetch, self._clock = fetch, clock
        self.refresh_seconds, self.max_stale_seconds = refresh_seconds, max_stale_seconds
        self._index: api_keys.KeyIndex | None = None
        self._loaded_at: float | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """One fetch; a failure keeps the last good document (until it is stale) and says why in the log."""
        try:
            index = api_keys.KeyIndex(api_keys.KeyDocument.from_json(self._fetch()))
        except Exception as exc:
            log.warning("api key store unreadable: %s", type(exc).__name__)
            return False
        with self._lock:
            self._index, self._loaded_at = index, self._clock()
        return True

    def index(self) -> api_keys.KeyIndex | None:
        with self._lock:
            if self._loaded_at is None or self._clock() - self._loaded_at > self.max_stale_seconds:
                return None
            return self._index

    def start(self) -> None:
        """First fetch now, then every refresh_seconds in a daemon thread."""
        self.refresh()

        def loop() -> None:
            while True:
                time.sleep(self.refresh_seconds)
                self.refresh()

        self._thread = threading.Thread(target=loop, name="rollout-key-store", daemon=True)
        self._thread.start()


def store_from_env(env: dict[str, str] | None = None) -> KeyStore:
    env = dict(os.environ if env is None else env)
    store = KeyStore(fetcher(env.get(STORE_ENV, "")),
                     refresh_seconds=float(env.get(REFRESH_ENV, DEFAULT_REFRESH_SECONDS)),
                     max_stale_seconds=float(env.get(STALE_ENV, DEFAULT_MAX_STALE_SECONDS)))
    store.start()
    return store


async def _reply(send: Any, status: int, message: str, kind: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="model-api"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class KeyAuth:
    """Pure ASGI middleware: 401 without a valid key, 503 when the key store is unavailable."""

    def __init__(self, app: Any, store: KeyStore | None = None, clock: Callable[[], float] = time.time):
        self.app, self.clock = app, clock
        self.store = store if store is not None else store_from_env()
        self.counter = _counter()

    def _count(self, result: str) -> None:
        if self.counter is not None:
            self.counter.labels(result=result).inc()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if path in OPEN_PATHS:
            return await self.app(scope, receive, send)
        index = self.store.index()
        if index is None:
            self._count("unavailable")
            log.error("api key store unavailable: refusing %s", path)
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1013})
            return await _reply(send, 503, "authentication unavailable, retry later", "auth_unavailable")
        authorization = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        verdict = index.check(authorization, self.clock())
        client = (scope.get("client") or ("-",))[0]
        if not verdict.ok:
            self._count(verdict.status)
            # The key id (never the key) and why: enough to tell a revoked client from a guesser.
            log.warning("auth %s key=%s client=%s path=%s", verdict.status, verdict.key_id or "-", client, path)
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _reply(send, 401, "invalid or missing API key", "invalid_api_key")
        self._count("ok")
        log.info("auth ok key=%s tenant=%s client=%s path=%s", verdict.key_id, verdict.client, client, path)
        return await self.app(scope, receive, send)
