"""The weights staging script (run by the staging Job): copies only what the bucket lacks, verifies
every file against its source checksum (sha256 for LFS files, the git blob sha1 for small ones),
writes the manifest last, and stages from a staged bucket by its manifest."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from components.serving.stage_weights import MANIFEST, BucketSource, Entry, stage


class MemoryStore:
    def __init__(self):
        self.objects: dict[str, tuple[bytes, str | None]] = {}
        self.writes: list[str] = []

    def digest(self, path):
        return self.objects.get(path, (b"", None))[1]

    def download(self, path, local):
        with open(local, "wb") as f:
            f.write(self.objects[path][0])

    def upload(self, local, path, digest):
        with open(local, "rb") as f:
            self.objects[path] = (f.read(), digest)
        self.writes.append(path)

    def read_text(self, path):
        return self.objects[path][0].decode() if path in self.objects else None

    def write_text(self, path, text):
        self.objects[path] = (text.encode(), None)
        self.writes.append(path)


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self, files: dict[str, bytes], corrupt: str | None = None):
        self.files, self.corrupt, self.fetched = files, corrupt, []

    def entries(self):
        return [Entry(p, len(d), "sha256", hashlib.sha256(d).hexdigest()) if p.endswith(".safetensors")
                else Entry(p, len(d), "git-sha1", git_sha1(d)) for p, d in self.files.items()]

    def fetch(self, entry, local):
        self.fetched.append(entry.path)
        data = self.files[entry.path] + (b"!" if entry.path == self.corrupt else b"")
        with open(local, "wb") as f:
            f.write(data)


FILES = {"config.json": b'{"a": 1}', "model-00001-of-00002.safetensors": b"x" * 1000,
         "model-00002-of-00002.safetensors": b"y" * 10}


def test_a_first_run_copies_every_file_then_the_manifest(tmp_path):
    store = MemoryStore()
    copied = stage(FakeHub(FILES), store, str(tmp_path), log=lambda _: None)
    assert sorted(copied) == sorted(FILES) and store.writes[-1] == MANIFEST
    manifest = json.loads(store.read_text(MANIFEST))
    assert {f["path"] for f in manifest["files"]} == set(FILES)


def test_a_second_run_copies_nothing_and_a_changed_file_only_that_file(tmp_path):
    store = MemoryStore()
    stage(FakeHub(FILES), store, str(tmp_path), log=lambda _: None)
    store.writes.clear()
    hub = FakeHub(FILES)
    assert stage(hub, store, str(tmp_path), log=lambda _: None) == [] and hub.fetched == [] and store.writes == []
    changed = {**FILES, "config.json": b'{"a": 2}'}
    assert stage(FakeHub(changed), store, str(tmp_path), log=lambda _: None) == ["config.json"]


def test_a_file_that_does_not_match_its_checksum_is_refused_and_no_manifest_is_written(tmp_path):
    store = MemoryStore()
    with pytest.raises(ValueError, match=r"model-00002-of-00002\.safetensors: sha256"):
        stage(FakeHub(FILES, corrupt="model-00002-of-00002.safetensors"), store, str(tmp_path), log=lambda _: None)
    assert store.read_text(MANIFEST) is None
    assert "model-00002-of-00002.safetensors" not in store.objects


def test_a_staged_bucket_is_a_source_checked_by_its_manifest(tmp_path):
    first, second = MemoryStore(), MemoryStore()
    stage(FakeHub(FILES), first, str(tmp_path), log=lambda _: None)
    assert sorted(stage(BucketSource(first), second, str(tmp_path), log=lambda _: None)) == sorted(FILES)
    first.objects["config.json"] = (b"tampered", first.objects["config.json"][1])
    with pytest.raises(ValueError, match=r"config\.json"):
        stage(BucketSource(first), MemoryStore(), str(tmp_path), log=lambda _: None)
    with pytest.raises(ValueError, match=re.escape(MANIFEST)):
        BucketSource(MemoryStore()).entries()
