"""Client API keys: format, hashing and the key document every region's model servers read.

Pure and standard-library only: the same file is shipped into the server pods (beside
`components/serving/key_auth.py`) as `rollout_client_keys.py`, so the CLI that issues keys and the
servers that check them share one definition.

A key is `rk_<tier>_<id>_<secret>`: `id` (8 hex) names the key in listings and logs, `secret` is
32 random bytes (URL-safe base64). Only `sha256(key)` is stored: a key of 256 random bits needs no
salt or slow hash (nobody can enumerate the input space), and a leaked document issues no key.
The tier is in the key so the edge (WAF / Cloud Armor) can rate-limit per tier before the server
sees the request; editing the tier in a key changes its hash, so a client cannot promote itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

PREFIX = "rk"
FORMAT = 1
TIER_PATTERN = r"[a-z][a-z0-9]{0,15}"
CLIENT_PATTERN = r"[a-z0-9][a-z0-9.-]{0,62}"
_KEY = re.compile(rf"^{PREFIX}_({TIER_PATTERN})_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")

# Verdicts of a key check.
OK, MISSING, MALFORMED, UNKNOWN, REVOKED, EXPIRED = "ok", "missing", "malformed", "unknown", "revoked", "expired"


@dataclass(frozen=True)
class KeyRecord:
    """One issued key: who holds it and until when it works. Never the key itself."""

    id: str
    client: str
    tier: str
    sha256: str
    created: int  # epoch seconds
    expires: int | None = None  # rotation: the old key works until then
    revoked: int | None = None

    def active(self, now: float) -> bool:
        return self.revoked is None and (self.expires is None or now < self.expires)

    def state(self, now: float) -> str:
        if self.revoked is not None:
            return REVOKED
        if self.expires is not None and now >= self.expires:
            return EXPIRED
        return OK


@dataclass(frozen=True)
class KeyDocument:
    """Every key of the stack, as the secret managers hold it (JSON, hashes only)."""

    keys: tuple[KeyRecord, ...] = ()
    updated: int = 0

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "updated": self.updated, "keys": [asdict(k) for k in self.keys]},
                          sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str | bytes) -> KeyDocument:
        """Raises ValueError on anything but a well-formed document (the servers then fail closed)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("keys"), list):
            raise ValueError("not an API key document of format 1")
        keys = []
        for item in data["keys"]:
            record = KeyRecord(**item)
            if not re.fullmatch(r"[0-9a-f]{64}", record.sha256) or not re.fullmatch(TIER_PATTERN, record.tier):
                raise ValueError(f"key {record.id}: malformed record")
            keys.append(record)
        return KeyDocument(keys=tuple(keys), updated=int(data.get("updated", 0)))


@dataclass(frozen=True)
class Verdict:
    status: str
    key_id: str | None = None
    client: str | None = None
    tier: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """(tier, id) of a well-formed key, else None."""
    match = _KEY.match(key)
    return (match.group(1), match.group(2)) if match else None


def new_key(tier: str, token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> tuple[str, str]:
    """A fresh key and its id."""
    if not re.fullmatch(TIER_PATTERN, tier):
        raise ValueError(f"tier {tier!r}: lowercase letters and digits, starting with a letter, at most 16")
    key_id = token_bytes(4).hex()
    secret = base64.urlsafe_b64encode(token_bytes(32)).decode().rstrip("=")
    return f"{PREFIX}_{tier}_{key_id}_{secret}", key_id


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class KeyIndex:
    """Lookup by hash, built once per document (a request costs one SHA-256 and one dict lookup)."""

    def __init__(self, document: KeyDocument):
        self._by_hash = {k.sha256: k for k in document.keys}

    def check(self, authorization: str | None, now: float) -> Verdict:
        token = bearer(authorization)
        if token is None:
            return Verdict(MISSING)
        parsed = parse_key(token)
        if parsed is None:
            return Verdict(MALFORMED)
        record = self._by_hash.get(key_hash(token))
        if record is None:
            return Verdict(UNKNOWN, key_id=parsed[1])
        return Verdict(record.state(now), key_id=record.id, client=record.client, tier=record.tier)


# --- what the keys command does to the document -------------------------------------------------------


def _client_keys(doc: KeyDocument, client: str) -> list[KeyRecord]:
    return [k for k in doc.keys if k.client == client]


def create(doc: KeyDocument, client: str, tier: str, now: int,
           token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> tuple[KeyDocument, str]:
    """A new key for a new client. Returns the document and the key (shown once, stored nowhere)."""
    if not re.fullmatch(CLIENT_PATTERN, client):
        raise ValueError(f"client {client!r}: lowercase letters, digits, '.' and '-', at most 63")
    if any(k.active(now) for k in _client_keys(doc, client)):
        raise ValueError(f"client {client!r} already has an active key: rotate it")
    key, key_id = new_key(tier, token_bytes)
    record = KeyRecord(id=key_id, client=client, tier=tier, sha256=key_hash(key), created=now)
    return KeyDocument(keys=(*doc.keys, record), updated=now), key


def rotate(doc: KeyDocument, client: str, now: int, overlap_seconds: int,
           token_bytes: Callable[[int], bytes] = secrets.token_bytes, tier: str | None = None
           ) -> tuple[KeyDocument, str]:
    """A new key for the client; its active keys keep working for `overlap_seconds` more."""
    active = [k for k in _client_keys(doc, client) if k.active(now)]
    if not active:
        raise ValueError(f"client {client!r} has no active key to rotate: create one")
    key, key_id = new_key(tier or active[-1].tier, token_bytes)
    until = now + overlap_seconds
    keys = tuple(replace(k, expires=min(k.expires or until, until)) if k in active else k for k in doc.keys)
    record = KeyRecord(id=key_id, client=client, tier=tier or active[-1].tier, sha256=key_hash(key), created=now)
    return KeyDocument(keys=(*keys, record), updated=now), key


def revoke(doc: KeyDocument, client: str, now: int, key_id: str | None = None) -> KeyDocument:
    """Revoke one key of the client, or all of them."""
    hit = [k for k in _client_keys(doc, client) if k.revoked is None and key_id in (None, k.id)]
    if not hit:
        raise ValueError(f"client {client!r} has no unrevoked key" + (f" {key_id}" if key_id else ""))
    return KeyDocument(keys=tuple(replace(k, revoked=now) if k in hit else k for k in doc.keys), updated=now)


def listing(doc: KeyDocument, now: float) -> list[dict[str, object]]:
    """One row per key: client, tier, id, state, dates (never a hash: not needed to manage keys)."""
    return [{"client": k.client, "tier": k.tier, "id": k.id, "state": k.state(now), "created": k.created,
             "expires": k.expires, "revoked": k.revoked} for k in sorted(doc.keys, key=lambda k: (k.client, k.created))]


def tiers_in_use(doc: KeyDocument, now: float) -> Iterable[str]:
    return sorted({k.tier for k in doc.keys if k.active(now)})
