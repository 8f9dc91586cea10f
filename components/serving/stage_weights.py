"""Stage model weights into a regional bucket: run by the weights staging Job (mounted from a ConfigMap,
components/serving/weights_staging.py) before any server waits for them.

Idempotent and verified: every file is checked against its checksum at the source (Hugging Face: the
LFS sha256, or the git blob sha1 for small files; a source bucket: its manifest) when it is copied, and
an object already in the bucket with the same checksum (kept in its metadata) is not copied again. The
manifest (`weights-manifest.json`) is written last, so a bucket with a manifest holds every file.

Only the standard library at import; the cloud and Hugging Face clients are imported where used.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

MANIFEST = "weights-manifest.json"
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One file of the weights and the checksum it must have."""

    path: str
    size: int
    algorithm: str  # "sha256" or "git-sha1" (git blob hash of a non-LFS file)
    digest: str

    def as_json(self) -> dict:
        return {"path": self.path, "size": self.size, "algorithm": self.algorithm, "digest": self.digest}


def file_digest(path: str, algorithm: str) -> str:
    size = os.path.getsize(path)
    h = hashlib.sha256() if algorithm == "sha256" else hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class Store(Protocol):
    """A bucket prefix: objects by relative path, with the checksum kept in their metadata."""

    def digest(self, path: str) -> str | None: ...
    def download(self, path: str, local: str) -> None: ...
    def upload(self, local: str, path: str, digest: str) -> None: ...
    def read_text(self, path: str) -> str | None: ...
    def write_text(self, path: str, text: str) -> None: ...


class Source(Protocol):
    def entries(self) -> list[Entry]: ...
    def fetch(self, entry: Entry, local: str) -> None: ...


def stage(source: Source, dest: Store, workdir: str, log: Callable[[str], None] = print) -> list[str]:
    """Copy what `dest` lacks; returns the paths copied. Raises ValueError on a checksum mismatch."""
    entries = sorted(source.entries(), key=lambda e: e.path)
    manifest = json.dumps({"files": [e.as_json() for e in entries]}, indent=1, sort_keys=True)
    copied: list[str] = []
    for entry in entries:
        if dest.digest(entry.path) == entry.digest:
            continue
        local = os.path.join(workdir, "part")
        source.fetch(entry, local)
        got = file_digest(local, entry.algorithm)
        if got != entry.digest:
            os.remove(local)
            raise ValueError(f"{entry.path}: {entry.algorithm} {got} differs from the source's {entry.digest}")
        dest.upload(local, entry.path, entry.digest)
        os.remove(local)
        copied.append(entry.path)
        log(f"staged {entry.path} ({entry.size} bytes, {entry.algorithm} {entry.digest[:12]})")
    if copied or dest.read_text(MANIFEST) != manifest:
        dest.write_text(MANIFEST, manifest)
    log(f"{len(entries)} files in place, {len(copied)} copied")
    return copied


# ---- clients (used inside the Job) ------------------------------------------------------------------

def _split(uri: str) -> tuple[str, str, str]:
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    return scheme, bucket, prefix.strip("/")


class S3Store:
    def __init__(self, uri: str):
        import boto3

        _, self.bucket, self.prefix = _split(uri)
        self.s3 = boto3.client("s3")

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def digest(self, path: str) -> str | None:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=self._key(path))["Metadata"].get("digest")
        except self.s3.exceptions.ClientError:
            return None

    def download(self, path: str, local: str) -> None:
        self.s3.download_file(self.bucket, self._key(path), local)

    def upload(self, local: str, path: str, digest: str) -> None:
        self.s3.upload_file(local, self.bucket, self._key(path), ExtraArgs={"Metadata": {"digest": digest}})

    def read_text(self, path: str) -> str | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read().decode()
        except self.s3.exceptions.ClientError:
            return None

    def write_text(self, path: str, text: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(path), Body=text.encode())


class GcsStore:
    def __init__(self, uri: str):
        from google.cloud import storage

        _, bucket, self.prefix = _split(uri)
        self.bucket = storage.Client().bucket(bucket)

    def _blob(self, path: str):
        return self.bucket.blob(f"{self.prefix}/{path}" if self.prefix else path)

    def digest(self, path: str) -> str | None:
        blob = self.bucket.get_blob(self._blob(path).name)
        return (blob.metadata or {}).get("digest") if blob is not None else None

    def download(self, path: str, local: str) -> None:
        self._blob(path).download_to_filename(local)

    def upload(self, local: str, path: str, digest: str) -> None:
        blob = self._blob(path)
        blob.metadata = {"digest": digest}
        blob.upload_from_filename(local)

    def read_text(self, path: str) -> str | None:
        blob = self.bucket.get_blob(self._blob(path).name)
        return blob.download_as_text() if blob is not None else None

    def write_text(self, path: str, text: str) -> None:
        self._blob(path).upload_from_string(text, content_type="application/json")


class HuggingFaceSource:
    """A model repository at a revision; checksums from the Hub's file metadata."""

    def __init__(self, repo: str, revision: str, token: str | None):
        from huggingface_hub import HfApi

        self.repo, self.revision, self.token = repo, revision, token
        self.api = HfApi(token=token)

    def entries(self) -> list[Entry]:
        info = self.api.model_info(self.repo, revision=self.revision, files_metadata=True)
        out = []
        for f in info.siblings or ():
            if f.lfs is not None:
                out.append(Entry(f.rfilename, int(f.lfs.size), "sha256", f.lfs.sha256))
            elif f.blob_id:
                out.append(Entry(f.rfilename, int(f.size or 0), "git-sha1", f.blob_id))
        return [e for e in out if not e.path.startswith("original/")]  # the non-HF checkpoint copy

    def fetch(self, entry: Entry, local: str) -> None:
        from huggingface_hub import hf_hub_download

        got = hf_hub_download(self.repo, entry.path, revision=self.revision, token=self.token,
                              local_dir=os.path.dirname(local) + "/hf")
        os.replace(got, local)


class BucketSource:
    """A bucket prefix staged before (by this script): its manifest gives the checksums."""

    def __init__(self, store: Store):
        self.store = store

    def entries(self) -> list[Entry]:
        text = self.store.read_text(MANIFEST)
        if text is None:
            raise ValueError(f"the source has no {MANIFEST}: stage it from Hugging Face first")
        return [Entry(**e) for e in json.loads(text)["files"]]

    def fetch(self, entry: Entry, local: str) -> None:
        self.store.download(entry.path, local)


def store_for(uri: str) -> Store:
    return S3Store(uri) if uri.startswith("s3://") else GcsStore(uri)


def main(argv: Iterable[str] = ()) -> int:
    source_uri, dest_uri = os.environ["WEIGHTS_SOURCE"], os.environ["WEIGHTS_DEST"]
    if source_uri.startswith("hf://"):
        repo, _, revision = source_uri.removeprefix("hf://").partition("@")
        source: Source = HuggingFaceSource(repo, revision or "main", os.environ.get("HF_TOKEN") or None)
    else:
        source = BucketSource(store_for(source_uri))
    with tempfile.TemporaryDirectory(dir=os.environ.get("WORKDIR", "/work")) as workdir:
        stage(source, store_for(dest_uri), workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
