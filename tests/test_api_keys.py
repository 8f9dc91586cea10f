"""Client keys and the servers' key check: a request without a key, with a revoked key and with a valid
key take the right path through the middleware vLLM loads (run in-process against a fake key store)."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.serving import key_auth
from infra.planning import api_keys
from infra.planning.api_keys import KeyDocument

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_800_000_000


class FakeStore:
    """What the secret manager holds: a JSON text the test edits, or an outage."""

    def __init__(self, doc: KeyDocument):
        self.text: str | None = doc.to_json()

    def fetch(self) -> str:
        if self.text is None:
            raise ConnectionError("secret manager unreachable")
        return self.text


class Clock:
    def __init__(self, t: float = NOW):
        self.t = t

    def __call__(self) -> float:
        return self.t


def run_async(coroutine) -> None:
    """Run on a private loop: asyncio.run would unset the thread's loop for the Pulumi tests after these."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


def call(app, path: str, authorization: str | None = None) -> tuple[int, bool, dict]:
    """Run one HTTP request through the ASGI app; (status, reached the model server, body)."""
    reached: list[bool] = []

    async def server(scope, receive, send):
        reached.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app.app = server
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [(b"authorization", authorization.encode())] if authorization else []
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": headers,
             "client": ("203.0.113.9", 5555)}
    run_async(app(scope, receive, send))
    body = json.loads(sent[1]["body"]) if len(sent) > 1 else {}
    return sent[0]["status"], bool(reached), body


def deterministic_bytes(seed: int):
    state = {"n": seed}

    def token_bytes(n: int) -> bytes:
        state["n"] += 1
        return bytes((state["n"] * 31 + i) % 256 for i in range(n))
    return token_bytes


@pytest.fixture
def world():
    doc, key = api_keys.create(KeyDocument(), "acme", "standard", NOW, deterministic_bytes(1))
    store, clock = FakeStore(doc), Clock()
    ks = key_auth.KeyStore(store.fetch, refresh_seconds=30, max_stale_seconds=300, clock=clock)
    assert ks.refresh()
    return {"doc": doc, "key": key, "store": store, "clock": clock,
            "app": key_auth.KeyAuth(None, store=ks, clock=clock), "ks": ks}


def test_a_request_without_a_key_is_refused_before_the_model(world):
    status, reached, body = call(world["app"], "/v1/chat/completions")
    assert (status, reached) == (401, False)
    assert body["error"]["type"] == "invalid_api_key"


def test_a_valid_key_reaches_the_model(world):
    status, reached, _ = call(world["app"], "/v1/chat/completions", f"Bearer {world['key']}")
    assert (status, reached) == (200, True)


def test_a_revoked_key_stops_at_the_next_refresh_without_a_restart(world):
    app, store, ks = world["app"], world["store"], world["ks"]
    assert call(app, "/v1/completions", f"Bearer {world['key']}")[:2] == (200, True)
    store.text = api_keys.revoke(world["doc"], "acme", NOW + 10).to_json()
    assert call(app, "/v1/completions", f"Bearer {world['key']}")[:2] == (200, True)  # not yet re-read
    world["clock"].t += 30
    assert ks.refresh()  # what the background thread does every refresh_seconds
    assert call(app, "/v1/completions", f"Bearer {world['key']}")[:2] == (401, False)


def test_a_guessed_or_mangled_key_is_refused(world):
    key = world["key"]
    tier, _ = api_keys.parse_key(key)
    promoted = key.replace(f"_{tier}_", "_premium_", 1)  # a client rewriting its own tier
    for bad in (promoted, key[:-1] + ("A" if key[-1] != "A" else "B"), "sk-not-ours", key.upper()):
        assert call(world["app"], "/v1/models", f"Bearer {bad}")[:2] == (401, False), bad
    assert call(world["app"], "/v1/models", f"Basic {key}")[:2] == (401, False)


def test_rotation_keeps_the_old_key_for_the_overlap_only(world):
    doc, new = api_keys.rotate(world["doc"], "acme", NOW + 100, overlap_seconds=3600,
                               token_bytes=deterministic_bytes(9))
    world["store"].text = doc.to_json()
    assert world["ks"].refresh()
    clock, app = world["clock"], world["app"]
    clock.t = NOW + 200
    assert call(app, "/v1/models", f"Bearer {world['key']}")[0] == 200
    assert call(app, "/v1/models", f"Bearer {new}")[0] == 200
    clock.t = NOW + 100 + 3600
    world["ks"].refresh()
    assert call(app, "/v1/models", f"Bearer {world['key']}")[0] == 401
    assert call(app, "/v1/models", f"Bearer {new}")[0] == 200


def test_health_is_open_metrics_in_cluster_everything_else_guarded(world):
    assert call(world["app"], "/health")[:2] == (200, True)
    assert call(world["app"], "/metrics")[:2] == (200, True)  # the edge refuses it (aws_waf, gcp_armor)
    for path in ("/tokenize", "/collective_rpc", "/v2/rerank", "/pooling", "/version"):
        assert call(world["app"], path)[:2] == (401, False), path


def test_it_fails_closed_when_the_store_was_never_read():
    store = FakeStore(KeyDocument())
    store.text = None
    ks = key_auth.KeyStore(store.fetch, clock=Clock())
    assert not ks.refresh()
    status, reached, body = call(key_auth.KeyAuth(None, store=ks), "/v1/models", "Bearer whatever")
    assert (status, reached, body["error"]["type"]) == (503, False, "auth_unavailable")
    assert call(key_auth.KeyAuth(None, store=ks), "/health")[0] == 200  # probes keep the pod in service


def test_an_unreachable_store_keeps_the_last_copy_until_it_is_stale_then_fails_closed(world):
    app, ks, clock, key = world["app"], world["ks"], world["clock"], world["key"]
    world["store"].text = None
    clock.t += 250
    assert not ks.refresh()
    assert call(app, "/v1/models", f"Bearer {key}")[0] == 200  # last good copy, 250 s old
    clock.t += 51
    assert call(app, "/v1/models", f"Bearer {key}")[0] == 503  # older than max_stale_seconds
    world["store"].text = world["doc"].to_json()
    assert ks.refresh()
    assert call(app, "/v1/models", f"Bearer {key}")[0] == 200


def test_a_corrupt_document_is_not_taken(world):
    world["store"].text = json.dumps({"format": 1, "keys": [{"id": "x", "client": "c", "tier": "t",
                                                             "sha256": "plain-text-key", "created": 0}]})
    assert not world["ks"].refresh()
    assert call(world["app"], "/v1/models", f"Bearer {world['key']}")[0] == 200  # still the last good one


def test_the_document_holds_hashes_only(world):
    text = world["doc"].to_json()
    assert world["key"] not in text
    assert api_keys.key_hash(world["key"]) in text
    assert world["key"].split("_")[-1] not in text


def test_create_refuses_a_second_active_key_and_revoke_one_key():
    doc, first = api_keys.create(KeyDocument(), "acme", "standard", NOW)
    with pytest.raises(ValueError, match="rotate"):
        api_keys.create(doc, "acme", "standard", NOW)
    doc, second = api_keys.rotate(doc, "acme", NOW, overlap_seconds=60)
    doc = api_keys.revoke(doc, "acme", NOW, key_id=api_keys.parse_key(second)[1])
    index = api_keys.KeyIndex(doc)
    assert index.check(f"Bearer {first}", NOW + 1).ok
    assert index.check(f"Bearer {second}", NOW + 1).status == api_keys.REVOKED
    assert [row["state"] for row in api_keys.listing(doc, NOW + 61)] == ["expired", "revoked"]


@given(st.binary(min_size=0, max_size=200))
def test_any_header_is_refused_without_raising(raw):
    doc, _ = api_keys.create(KeyDocument(), "acme", "standard", NOW)
    verdict = api_keys.KeyIndex(doc).check(raw.decode("latin-1"), NOW)
    assert verdict.status in (api_keys.MISSING, api_keys.MALFORMED, api_keys.UNKNOWN)


def test_gcp_fetch_reads_the_latest_version_with_a_workload_identity_token():
    calls = []

    class Response:
        def __init__(self, data):
            self.data = data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return json.dumps(self.data).encode()

    def urlopen(req, timeout):
        calls.append((req.full_url, dict(req.header_items())))
        if "metadata" in req.full_url:
            return Response({"access_token": "tok"})
        return Response({"payload": {"data": base64.b64encode(b'{"format":1,"keys":[]}').decode()}})

    text = key_auth.fetch_gcp("projects/p/secrets/s", urlopen=urlopen)()
    assert KeyDocument.from_json(text).keys == ()
    assert calls[1][0] == "https://secretmanager.googleapis.com/v1/projects/p/secrets/s/versions/latest:access"
    assert calls[1][1]["Authorization"] == "Bearer tok"


def test_aws_fetch_reads_the_regional_secret(aws):
    aws.client("secretsmanager", "eu-west-1").create_secret(
        Name="rollout-dev-euw1-api-keys", SecretString=KeyDocument().to_json())
    store = key_auth.KeyStore(key_auth.fetcher("aws-secretsmanager:eu-west-1:rollout-dev-euw1-api-keys"))
    assert store.refresh()
    assert store.index() is not None


def test_the_shipped_modules_need_only_the_standard_library():
    """Both files run inside the vLLM image: nothing from this repository but each other."""
    allowed = set(sys.stdlib_module_names) | {"infra", "rollout_client_keys", "boto3", "prometheus_client",
                                              "__future__"}
    for path in (ROOT / "infra/planning/api_keys.py", ROOT / "components/serving/key_auth.py"):
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert names <= allowed, (path.name, names - allowed)


def test_the_configmap_files_work_alone_as_the_server_imports_them(tmp_path):
    """What the pod gets: the two files on PYTHONPATH, no repository. A file store, one request each way."""
    import subprocess

    from components.serving.api_auth import MIDDLEWARE, middleware_files

    for name, text in middleware_files().items():
        (tmp_path / name).write_text(text)
    doc, key = api_keys.create(KeyDocument(), "acme", "standard", NOW)
    (tmp_path / "keys.json").write_text(doc.to_json())
    module, cls = MIDDLEWARE.rsplit(".", 1)
    script = f"""
import asyncio, importlib, sys
assert not any("infra" in m for m in sys.modules)
KeyAuth = getattr(importlib.import_module("{module}"), "{cls}")
assert "infra" not in sys.modules, "imported the repository"
async def app(scope, receive, send):
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b""}})
auth = KeyAuth(app)
for header in ("Bearer {key}", "Bearer nope"):
    sent = []
    async def send(m):
        sent.append(m)
    scope = {{"type": "http", "path": "/v1/models", "headers": [(b"authorization", header.encode())]}}
    asyncio.run(auth(scope, None, send))
    print(sent[0]["status"])
"""
    env = {"PYTHONPATH": str(tmp_path), "ROLLOUT_AUTH_STORE": f"file:{tmp_path / 'keys.json'}", "PATH": "/usr/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", "401"]
