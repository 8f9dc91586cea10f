"""Where a release lives between runs: the release record and the lease that keeps two deploys of a
stack apart, both in the state backend's bucket (or directory).

`s3://bucket/prefix`: the record is `<prefix>/<stack>/release.json`, the lease `<prefix>/<stack>/lease.json`,
created with a conditional write (`If-None-Match: *`: only one writer can create it) and renewed or
taken over when expired with `If-Match: <etag>` (only the holder of that version can replace it):
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html. `file://dir`: the same
two files, the lease created with `O_CREAT|O_EXCL`. The URL comes from `ROLLOUT_STATE_URL`, else the
stack's `PULUMI_BACKEND_URL` when it is `s3://` or `file://` (docs/rollout.md). Pulumi's own lock
holds only during one `up`; this lease holds for the whole release, gates and waits included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse


class LeaseHeld(RuntimeError):
    """Another deploy holds the stack's lease."""


class ReleaseStore(Protocol):
    def read(self) -> str | None:
        """The release record's text; None when there is none yet. Raises when it cannot be read."""
        ...

    def write(self, text: str) -> None: ...

    def acquire(self, holder: str, ttl_s: float, now: float) -> None:
        """Take the lease (or an expired one); raises LeaseHeld while another holder's is valid."""
        ...

    def renew(self, ttl_s: float, now: float) -> None: ...

    def release(self) -> None: ...


def _lease_body(holder: str, expires: float) -> bytes:
    return json.dumps({"holder": holder, "expires": expires}).encode()


class S3ReleaseStore:
    def __init__(self, client: Any, bucket: str, prefix: str):
        self.client, self.bucket = client, bucket
        self.record_key, self.lease_key = f"{prefix}/release.json", f"{prefix}/lease.json"
        self._etag: str | None = None
        self._holder = ""

    @staticmethod
    def _code(error: Exception) -> str:
        return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))

    def read(self) -> str | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.record_key)["Body"].read().decode()
        except Exception as error:
            if self._code(error) in ("NoSuchKey", "404"):
                return None
            raise

    def write(self, text: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.record_key, Body=text.encode(),
                               ContentType="application/json")

    def acquire(self, holder: str, ttl_s: float, now: float) -> None:
        self._holder = holder
        try:
            self._etag = self.client.put_object(Bucket=self.bucket, Key=self.lease_key, IfNoneMatch="*",
                                                Body=_lease_body(holder, now + ttl_s))["ETag"]
            return
        except Exception as error:
            if self._code(error) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
        current = self.client.get_object(Bucket=self.bucket, Key=self.lease_key)
        body = json.loads(current["Body"].read())
        if float(body.get("expires", 0)) > now:
            raise LeaseHeld(f"{body.get('holder')} holds the deploy lease s3://{self.bucket}/{self.lease_key} "
                            f"for {float(body['expires']) - now:.0f} s more")
        try:  # expired: take it over, unless someone else did first
            self._etag = self.client.put_object(Bucket=self.bucket, Key=self.lease_key, IfMatch=current["ETag"],
                                                Body=_lease_body(holder, now + ttl_s))["ETag"]
        except Exception as error:
            if self._code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise LeaseHeld(f"another deploy took the expired lease s3://{self.bucket}/{self.lease_key}") \
                    from error
            raise

    def renew(self, ttl_s: float, now: float) -> None:
        try:
            self._etag = self.client.put_object(Bucket=self.bucket, Key=self.lease_key, IfMatch=self._etag,
                                                Body=_lease_body(self._holder, now + ttl_s))["ETag"]
        except Exception as error:
            if self._code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "NoSuchKey"):
                raise LeaseHeld(f"lost the deploy lease s3://{self.bucket}/{self.lease_key}") from error
            raise

    def release(self) -> None:
        if self._etag is None:
            return
        current = self.client.get_object(Bucket=self.bucket, Key=self.lease_key)
        if current["ETag"] == self._etag:
            self.client.delete_object(Bucket=self.bucket, Key=self.lease_key)
        self._etag = None


class FileReleaseStore:
    def __init__(self, directory: Path):
        self.directory = directory
        self.record, self.lease = directory / "release.json", directory / "lease.json"
        self._holder: str | None = None

    def read(self) -> str | None:
        return self.record.read_text() if self.record.exists() else None

    def write(self, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.record)  # atomic: a crash leaves the old record or the new one

    def acquire(self, holder: str, ttl_s: float, now: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.lease.exists():
            body = json.loads(self.lease.read_text() or "{}")
            if float(body.get("expires", 0)) > now:
                raise LeaseHeld(f"{body.get('holder')} holds the deploy lease {self.lease}")
            self.lease.unlink(missing_ok=True)
        try:
            fd = os.open(self.lease, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError as error:
            raise LeaseHeld(f"another deploy took the lease {self.lease}") from error
        with os.fdopen(fd, "wb") as handle:
            handle.write(_lease_body(holder, now + ttl_s))
        self._holder = holder

    def renew(self, ttl_s: float, now: float) -> None:
        body = json.loads(self.lease.read_text()) if self.lease.exists() else {}
        if body.get("holder") != self._holder:
            raise LeaseHeld(f"lost the deploy lease {self.lease}")
        self.lease.write_bytes(_lease_body(str(self._holder), now + ttl_s))

    def release(self) -> None:
        if self._holder is not None and self.lease.exists() and \
                json.loads(self.lease.read_text()).get("holder") == self._holder:
            self.lease.unlink()
        self._holder = None


def state_url(env: Mapping[str, str], backend_url: str | None) -> str | None:
    """Where the release record and lease live: `ROLLOUT_STATE_URL`, else an s3:// or file:// backend."""
    if env.get("ROLLOUT_STATE_URL"):
        return env["ROLLOUT_STATE_URL"]
    if backend_url and urlparse(backend_url).scheme in ("s3", "file"):
        return backend_url
    return None


def open_store(url: str, stack: str, s3_client: Callable[[str], Any]) -> ReleaseStore:
    """A store for `stack` under `url`; ValueError for a scheme it does not serve."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        region = (parse_qs(parsed.query).get("region") or ["us-east-1"])[0]
        prefix = "/".join(p for p in (parsed.path.strip("/"), ".rollout", stack) if p)
        return S3ReleaseStore(s3_client(region), parsed.netloc, prefix)
    if parsed.scheme == "file":
        return FileReleaseStore(Path(parsed.path or ".").expanduser() / ".rollout" / stack)
    raise ValueError(f"{url}: the release record and lease need an s3:// or file:// location "
                     "(ROLLOUT_STATE_URL)")
