"""The restore drill, offline: `infra.ops.db_restore` against a fake bucket (and moto's S3) and a fake
mongorestore. It picks the newest *complete* dump (with its `.done` marker) at or before the asked time,
streams every byte of it into mongorestore with the oplog replayed, keeps the credentials off the
command line, and fails loudly when there is nothing to restore or mongorestore fails."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from infra.ops import db_restore
from infra.ops.db_restore import RESTORE_ARGS, S3Bucket, choose_dump, restore

URI = "mongodb://restore:secret@mongodb-use1-0.internal.example:27017/?replicaSet=rs0&tls=true"


class FakeBucket:
    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects
        self.opened: list[str] = []

    def keys(self):
        return list(self.objects)

    def open(self, key: str):
        self.opened.append(key)
        return io.BytesIO(self.objects[key])


class FakeMongorestore:
    """Reads the stream as mongorestore reads stdin, and checks it is the gzip stream that was dumped."""

    def __init__(self, exit_code: int = 0):
        self.exit_code = exit_code
        self.received = b""
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def restore(self, stream: Iterator[bytes], uri: str, args: tuple[str, ...]) -> int:
        self.calls.append((uri, args))
        self.received = b"".join(stream)
        gzip.decompress(self.received)  # a truncated or foreign object would raise here
        return self.exit_code


def dump_bytes(label: str, size: int = 4096) -> bytes:
    return gzip.compress((label * (size // len(label) + 1)).encode()[:size])


def bucket_with(*keys: str, done: tuple[str, ...] | None = None) -> FakeBucket:
    objects = {k: dump_bytes(k) for k in keys}
    objects.update({f"{k}.done": k.encode() for k in (keys if done is None else done)})
    return FakeBucket(objects)


def test_the_newest_complete_dump_is_restored_with_the_oplog_replayed():
    bucket = bucket_with("2026/12/01/031700.archive.gz", "2026/12/02/031700.archive.gz",
                         "2026/12/03/031700.archive.gz", done=("2026/12/01/031700.archive.gz",
                                                               "2026/12/02/031700.archive.gz"))
    runner = FakeMongorestore()
    report = restore(bucket, runner, URI, now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    assert report is not None and report.exit_code == 0
    assert report.dump.key == "2026/12/02/031700.archive.gz"  # 12/03 has no marker: incomplete
    assert runner.received == bucket.objects[report.dump.key] and report.bytes == len(runner.received)
    assert "--oplogReplay" in runner.calls[0][1] and "--archive" in runner.calls[0][1]
    assert runner.calls[0][1] == RESTORE_ARGS
    assert report.data_age_seconds == pytest.approx((24 + 8.7166) * 3600, rel=1e-3)


def test_a_point_in_time_before_the_newest_dump_picks_the_dump_before_it():
    keys = ["2026/12/01/031700.archive.gz", "2026/12/02/031700.archive.gz"]
    assert choose_dump(keys + [f"{k}.done" for k in keys],
                       datetime(2026, 12, 2, 3, 0, tzinfo=UTC)).key == keys[0]
    assert choose_dump(keys + [f"{k}.done" for k in keys], datetime(2026, 11, 30, tzinfo=UTC)) is None


def test_nothing_complete_means_nothing_restored_and_exit_1(monkeypatch, capsys):
    bucket = bucket_with("2026/12/01/031700.archive.gz", done=())
    monkeypatch.setenv("MONGODB_RESTORE_URI", URI)
    runner = FakeMongorestore()
    assert db_restore.main(["--bucket", "s3://b"], bucket=bucket, restorer=runner) == 1
    assert runner.calls == [] and "no complete dump" in capsys.readouterr().err


def test_a_failed_mongorestore_fails_the_command(monkeypatch, capsys):
    monkeypatch.setenv("MONGODB_RESTORE_URI", URI)
    code = db_restore.main(["--bucket", "s3://b"], bucket=bucket_with("2026/12/01/031700.archive.gz"),
                           restorer=FakeMongorestore(exit_code=3))
    assert code == 1 and "mongorestore failed (exit 3)" in capsys.readouterr().out


def test_the_uri_comes_from_the_environment_never_the_command_line(monkeypatch, capsys):
    monkeypatch.delenv("MONGODB_RESTORE_URI", raising=False)
    assert db_restore.main(["--bucket", "s3://b"], bucket=bucket_with("2026/12/01/031700.archive.gz"),
                           restorer=FakeMongorestore()) == 2
    assert "MONGODB_RESTORE_URI" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        db_restore.main(["--bucket", "s3://b", "--uri", URI])


def test_dry_run_names_the_dump_and_restores_nothing(capsys):
    runner = FakeMongorestore()
    assert db_restore.main(["--bucket", "gs://b", "--dry-run"], bucket=bucket_with("2026/12/01/031700.archive.gz"),
                           restorer=runner) == 0
    assert "would restore 2026/12/01/031700.archive.gz" in capsys.readouterr().out and runner.calls == []


def test_a_bad_bucket_url_is_exit_2(capsys):
    assert db_restore.main(["--bucket", "ftp://b"]) == 2
    assert "--bucket" in capsys.readouterr().err


def test_the_drill_against_s3_streams_a_large_dump_in_chunks(aws):
    """moto's S3: the real listing and streaming body, an object larger than one chunk."""
    s3 = aws.client("s3", "us-east-1")
    s3.create_bucket(Bucket="rollout-backups")
    payload = gzip.compress(bytes(range(256)) * (3 * 2**20 // 256), compresslevel=1)
    s3.put_object(Bucket="rollout-backups", Key="2026/12/03/031700.archive.gz", Body=payload)
    s3.put_object(Bucket="rollout-backups", Key="2026/12/03/031700.archive.gz.done", Body=b"ok")
    s3.put_object(Bucket="rollout-backups", Key="2026/12/04/031700.archive.gz", Body=payload[:1000])  # no marker
    runner = FakeMongorestore()
    report = restore(S3Bucket("rollout-backups", client=s3), runner, URI)
    assert report is not None and report.dump.key == "2026/12/03/031700.archive.gz"
    assert runner.received == payload and report.bytes == len(payload)
