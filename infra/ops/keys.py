"""Issue, list, rotate and revoke client API keys: `python -m infra.ops.keys --stack prod create --client acme`.

The key document (hashes only, infra/planning/api_keys.py) lives in every serving region's key store:
an AWS Secrets Manager secret or a GCP Secret Manager secret named `<cluster>-api-keys`, made by the
program (components/serving/api_auth.py). Each command reads every store, starts from the newest
document (a region a previous run could not write catches up), applies the change and writes the
result to every store. The servers re-read their region's store every `api.refreshSeconds`, so a
revocation is in force everywhere within that bound after this command returns. A new key is printed
once, on stdout, and stored nowhere; everything else goes to stderr.

Exit codes: 0 every store written; 1 a store could not be read or written (the message names it;
rerun `sync` once it is reachable); 2 bad config or a refused change (unknown client, ...).
Run one command at a time per stack (the stores have no lock across clouds).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from infra.errors import ConfigError
from infra.ops.clouds import CLOUD_PLATFORM_SCOPE, AwsClients
from infra.ops.stack import StackTarget, add_stack_arguments, load_target
from infra.planning import api_keys
from infra.planning.api_keys import KeyDocument

SECRET_MANAGER = "https://secretmanager.googleapis.com/v1"


class KeyStore(Protocol):
    where: str

    def read(self) -> str | None:
        """The latest document; None when the store has no version yet."""
        ...

    def write(self, text: str) -> None: ...


@dataclass
class AwsSecretStore:
    clients: AwsClients
    region: str
    name: str

    @property
    def where(self) -> str:
        return f"aws secretsmanager {self.region}/{self.name}"

    def read(self) -> str | None:
        client = self.clients.client("secretsmanager", self.region)
        try:
            return client.get_secret_value(SecretId=self.name)["SecretString"]
        except client.exceptions.ResourceNotFoundException as exc:
            # The secret exists (the program made it) but has no version yet.
            if "version" in str(exc).lower() or "AWSCURRENT" in str(exc):
                return None
            raise

    def write(self, text: str) -> None:
        self.clients.client("secretsmanager", self.region).put_secret_value(SecretId=self.name, SecretString=text)


class GcpSecretStore:
    """Secret Manager over REST with application default credentials."""

    def __init__(self, project: str, secret: str, session: Any = None):
        self.project, self.secret = project, secret
        if session is None:
            import google.auth
            from google.auth.transport.requests import AuthorizedSession

            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            session = AuthorizedSession(credentials)
        self._session = session

    @property
    def where(self) -> str:
        return f"gcp secretmanager projects/{self.project}/secrets/{self.secret}"

    def read(self) -> str | None:
        url = f"{SECRET_MANAGER}/projects/{self.project}/secrets/{self.secret}/versions/latest:access"
        response = self._session.get(url, timeout=30)
        if response.status_code in (404, 400) and "version" in response.text.lower():
            return None
        response.raise_for_status()
        return base64.b64decode(response.json()["payload"]["data"]).decode("utf-8")

    def write(self, text: str) -> None:
        url = f"{SECRET_MANAGER}/projects/{self.project}/secrets/{self.secret}:addVersion"
        data = base64.b64encode(text.encode("utf-8")).decode()
        self._session.post(url, json={"payload": {"data": data}}, timeout=30).raise_for_status()


def stores_for(target: StackTarget, aws: AwsClients, gcp: Callable[[str, str], KeyStore],
               gcp_project: str | None) -> list[KeyStore]:
    """One store per serving region of the plan."""
    stores: list[KeyStore] = []
    for name, edge in target.plan.api.items():
        region = target.plan.region(name)
        if edge.cloud == "aws":
            stores.append(AwsSecretStore(aws, region.location, edge.key_store))
        else:
            if not gcp_project:
                raise ConfigError(["gcp:project: the stack serves from GCP; set it in the stack file or pass "
                                   "--gcp-project"], title="invalid pulumi config")
            stores.append(gcp(gcp_project, edge.key_store))
    return stores


def read_newest(stores: Sequence[KeyStore]) -> tuple[KeyDocument, list[str]]:
    """The newest document of every store (by `updated`) and the stores that could not be read."""
    newest, failed = KeyDocument(), []
    for store in stores:
        try:
            text = store.read()
        except Exception as exc:  # any failure: name the store, refuse to write a stale base
            failed.append(f"{store.where}: {type(exc).__name__}: {exc}")
            continue
        if text is not None:
            doc = KeyDocument.from_json(text)
            if doc.updated > newest.updated:
                newest = doc
    return newest, failed


def write_all(stores: Sequence[KeyStore], doc: KeyDocument) -> list[str]:
    failed = []
    for store in stores:
        try:
            store.write(doc.to_json())
        except Exception as exc:  # any failure: name the store
            failed.append(f"{store.where}: {type(exc).__name__}: {exc}")
    return failed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.ops.keys", description=__doc__.splitlines()[0])
    add_stack_arguments(p)
    p.add_argument("--gcp-project", help="GCP project (default: gcp:project of the stack file)")
    sub = p.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="issue the first key of a new client (printed once)")
    create.add_argument("--client", required=True)
    create.add_argument("--tier", help="a tier of api.tiers (default: the first)")
    sub.add_parser("list", help="every key: client, tier, id, state, dates")
    rotate = sub.add_parser("rotate", help="issue a new key; the old one works for the overlap")
    rotate.add_argument("--client", required=True)
    rotate.add_argument("--overlap-hours", type=float, help="default api.rotationOverlapHours")
    rotate.add_argument("--tier", help="move the client to another tier with the new key")
    revoke = sub.add_parser("revoke", help="revoke the client's keys (or one key) now")
    revoke.add_argument("--client", required=True)
    revoke.add_argument("--key-id")
    sub.add_parser("sync", help="write the newest document to every store (after a failed write)")
    return p


def main(argv: Sequence[str] | None = None, *, aws: AwsClients | None = None,
         gcp: Callable[[str, str], KeyStore] = GcpSecretStore, env: Mapping[str, str] | None = None,
         clock: Callable[[], float] = time.time) -> int:
    args = parser().parse_args(argv)
    try:
        target = load_target(args, os.environ if env is None else env)
        stores = stores_for(target, aws or AwsClients(), gcp, args.gcp_project or target.gcp_project)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not stores:
        print("error: the stack serves from no region; no key store", file=sys.stderr)
        return 2
    doc, unreadable = read_newest(stores)
    if unreadable:
        # Writing now could drop a revocation only the unreadable store holds: refuse.
        print("error: cannot read " + "; ".join(unreadable), file=sys.stderr)
        return 1
    now = int(clock())
    api = target.config.api
    key = None
    try:
        if args.command == "list":
            rows = api_keys.listing(doc, now)
            print(json.dumps(rows, indent=2) if args.json else "\n".join(
                f"{r['client']:<24} {r['tier']:<10} {r['id']}  {r['state']}" for r in rows) or "(no keys)")
            return 0
        if args.command == "create":
            tier = args.tier or next(iter(api.tiers))
            if tier not in api.tiers:
                raise ValueError(f"tier {tier!r} is not one of api.tiers {sorted(api.tiers)}")
            doc, key = api_keys.create(doc, args.client, tier, now)
        elif args.command == "rotate":
            if args.tier is not None and args.tier not in api.tiers:
                raise ValueError(f"tier {args.tier!r} is not one of api.tiers {sorted(api.tiers)}")
            hours = api.rotation_overlap_hours if args.overlap_hours is None else args.overlap_hours
            doc, key = api_keys.rotate(doc, args.client, now, int(hours * 3600), tier=args.tier)
        elif args.command == "revoke":
            doc = api_keys.revoke(doc, args.client, now, args.key_id)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = write_all(stores, doc)
    for store in stores:
        ok = not any(f.startswith(store.where) for f in failed)
        print(f"{'written' if ok else 'FAILED '} {store.where}", file=sys.stderr)
    if key is not None:
        print(key)  # the only copy: hand it to the client now
    if failed:
        print("error: " + "; ".join(failed) + " (rerun `sync` when reachable)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
