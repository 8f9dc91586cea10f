"""`python -m infra.ops.db_restore --bucket s3://NAME|gs://NAME [--at TIME] [--dry-run]`: restore the
replica set from the newest complete dump (at or before TIME) in a backup bucket.

The backup CronJob (components/database/backup.py) streams `mongodump --oplog --gzip --archive` to
`<yyyy>/<mm>/<dd>/<HHMMSS>.archive.gz` and then writes `<key>.done`; a dump without its marker is
incomplete and never chosen. The restore streams the object into `mongorestore --gzip --archive
--oplogReplay` (the point in time is the dump's end), never staging it on disk. It replaces the
application's collections (`--drop`) and leaves `admin` and `config` alone (users, roles and the
replica set's own state are not the dump's business).

The target comes from the environment, never the command line (it carries the restore user's
password): MONGODB_RESTORE_URI, e.g. `mongodb://restore:<password>@<members>/?replicaSet=rs0&tls=true
&authSource=admin&tlsCAFile=ca.pem`. Runbook: docs/database.md "Restore".

Exit codes: 0 restored (or, with --dry-run, a dump was found); 1 no complete dump or mongorestore
failed; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Protocol

KEY = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})(\d{2})(\d{2})\.archive\.gz$")
CHUNK = 1024 * 1024
RESTORE_ARGS = ("--gzip", "--archive", "--oplogReplay", "--drop", "--nsExclude", "admin.*",
                "--nsExclude", "config.*")


class Bucket(Protocol):
    def keys(self) -> Iterable[str]: ...
    def open(self, key: str) -> BinaryIO: ...


class Restorer(Protocol):
    def restore(self, stream: Iterator[bytes], uri: str, args: tuple[str, ...]) -> int: ...


@dataclass(frozen=True)
class Dump:
    key: str
    taken: datetime  # when the dump started (its key)


@dataclass(frozen=True)
class RestoreReport:
    dump: Dump
    bytes: int
    seconds: float
    data_age_seconds: float  # how old the restored data is now (at least the RPO of the schedule)
    exit_code: int


def complete_dumps(keys: Iterable[str]) -> list[Dump]:
    """Dumps that have their `.done` marker, oldest first."""
    keys = set(keys)
    out = []
    for key in keys:
        match = KEY.match(key)
        if match and f"{key}.done" in keys:
            y, mo, d, h, mi, s = (int(g) for g in match.groups())
            out.append(Dump(key, datetime(y, mo, d, h, mi, s, tzinfo=UTC)))
    return sorted(out, key=lambda d: d.taken)


def choose_dump(keys: Iterable[str], at: datetime | None = None) -> Dump | None:
    """The newest complete dump taken at or before `at` (now if None)."""
    candidates = [d for d in complete_dumps(keys) if at is None or d.taken <= at]
    return candidates[-1] if candidates else None


def chunks(source: BinaryIO, counter: list[int]) -> Iterator[bytes]:
    while block := source.read(CHUNK):
        counter[0] += len(block)
        yield block


def restore(bucket: Bucket, restorer: Restorer, uri: str, *, at: datetime | None = None,
            now: datetime | None = None) -> RestoreReport | None:
    dump = choose_dump(bucket.keys(), at)
    if dump is None:
        return None
    counter = [0]
    started = time.perf_counter()
    with bucket.open(dump.key) as source:
        code = restorer.restore(chunks(source, counter), uri, RESTORE_ARGS)
    elapsed = time.perf_counter() - started
    age = ((now or datetime.now(UTC)) - dump.taken).total_seconds()
    return RestoreReport(dump, counter[0], elapsed, age, code)


# ---- real buckets and the real mongorestore ----------------------------------------------------------

class S3Bucket:
    def __init__(self, name: str, client=None):
        import boto3

        self.name, self.client = name, client or boto3.client("s3")

    def keys(self) -> Iterable[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            yield from (o["Key"] for o in page.get("Contents", []))

    def open(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"]


class GcsBucket:
    """Through the gcloud CLI (the same tool the backup uploads with): `ls -r` and a streamed `cat`."""

    def __init__(self, name: str):
        self.name = name

    def keys(self) -> Iterable[str]:
        done = subprocess.run(["gcloud", "storage", "ls", "-r", f"gs://{self.name}/**"], capture_output=True,
                              text=True, check=True)
        prefix = f"gs://{self.name}/"
        return [line.removeprefix(prefix) for line in done.stdout.splitlines() if line.startswith(prefix)]

    def open(self, key: str) -> BinaryIO:
        proc = subprocess.Popen(["gcloud", "storage", "cat", f"gs://{self.name}/{key}"], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        return proc.stdout


class Mongorestore:
    def restore(self, stream: Iterator[bytes], uri: str, args: tuple[str, ...]) -> int:
        if shutil.which("mongorestore") is None:
            raise FileNotFoundError("mongorestore is not installed (MongoDB Database Tools)")
        proc = subprocess.Popen(["mongorestore", f"--uri={uri}", *args], stdin=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for block in stream:
                proc.stdin.write(block)
        finally:
            proc.stdin.close()
        return proc.wait()


def open_bucket(url: str) -> Bucket:
    if url.startswith("s3://"):
        return S3Bucket(url.removeprefix("s3://").strip("/"))
    if url.startswith("gs://"):
        return GcsBucket(url.removeprefix("gs://").strip("/"))
    raise ValueError(f"--bucket: {url!r} is neither s3://NAME nor gs://NAME")


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None, *, bucket: Bucket | None = None, restorer: Restorer | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.db_restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", required=True, help="s3://NAME or gs://NAME (the stack's backup bucket)")
    parser.add_argument("--at", type=parse_time, help="restore the newest dump taken at or before this UTC time")
    parser.add_argument("--dry-run", action="store_true", help="only say which dump would be restored")
    args = parser.parse_args(argv)
    try:
        source = bucket or open_bucket(args.bucket)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        dump = choose_dump(source.keys(), args.at)
        if dump is None:
            print("no complete dump (with its .done marker) in the bucket", file=sys.stderr)
            return 1
        print(f"would restore {dump.key} (taken {dump.taken:%Y-%m-%d %H:%M:%S} UTC)")
        return 0
    uri = os.environ.get("MONGODB_RESTORE_URI")
    if not uri:
        print("error: set MONGODB_RESTORE_URI (the restore user's connection string; never on the command line)",
              file=sys.stderr)
        return 2
    report = restore(source, restorer or Mongorestore(), uri, at=args.at)
    if report is None:
        print("no complete dump (with its .done marker) in the bucket", file=sys.stderr)
        return 1
    verdict = "restored" if report.exit_code == 0 else f"mongorestore failed (exit {report.exit_code})"
    print(f"{verdict}: {report.dump.key}, {report.bytes / 2**20:.1f} MiB in {report.seconds:.1f} s; "
          f"the data is as of the dump's end, {report.data_age_seconds / 3600:.1f} h ago")
    return 0 if report.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
