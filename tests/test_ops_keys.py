"""The keys command against moto (AWS Secrets Manager) and an in-memory GCP Secret Manager: keys are
printed once and stored as hashes in every serving region's store; revocation and rotation reach every
store; an unreadable store stops the command before it writes anything."""

from __future__ import annotations

import typing

import pytest

from infra.ops import keys
from infra.planning import api_keys
from infra.planning.api_keys import KeyDocument

AWS_STORE = ("us-east-1", "rollout-dev-use1-api-keys")  # dev: use1 on AWS, euw4 on GCP
GCP_STORE = "rollout-dev-euw4-api-keys"
NOW = 1_800_000_000


class FakeGcpStore:
    """In-memory Secret Manager secret: versions appended, latest read; can be made unreachable."""

    secrets: typing.ClassVar[dict[str, list[str]]] = {}
    down: typing.ClassVar[bool] = False

    def __init__(self, project: str, secret: str):
        self.project, self.secret = project, secret
        self.where = f"gcp secretmanager projects/{project}/secrets/{secret}"

    def read(self):
        if FakeGcpStore.down:
            raise ConnectionError("unreachable")
        versions = FakeGcpStore.secrets.get(self.secret, [])
        return versions[-1] if versions else None

    def write(self, text):
        if FakeGcpStore.down:
            raise ConnectionError("unreachable")
        FakeGcpStore.secrets.setdefault(self.secret, []).append(text)


@pytest.fixture
def stores(aws):
    FakeGcpStore.secrets, FakeGcpStore.down = {}, False
    aws.client("secretsmanager", AWS_STORE[0]).create_secret(Name=AWS_STORE[1])  # as the program makes it: empty

    def run(*argv, clock=NOW):
        return keys.main(["--stack", "dev", "--gcp-project", "p", *argv], aws=aws, gcp=FakeGcpStore,
                         env={}, clock=lambda: clock)

    def aws_doc():
        text = aws.client("secretsmanager", AWS_STORE[0]).get_secret_value(SecretId=AWS_STORE[1])["SecretString"]
        return KeyDocument.from_json(text)

    def gcp_doc():
        return KeyDocument.from_json(FakeGcpStore.secrets[GCP_STORE][-1])

    return run, aws_doc, gcp_doc


def test_create_prints_the_key_once_and_every_region_stores_its_hash(stores, capsys):
    run, aws_doc, gcp_doc = stores
    assert run("create", "--client", "acme", "--tier", "partner") == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert api_keys.parse_key(key)[0] == "partner"
    assert key not in err
    for doc in (aws_doc(), gcp_doc()):
        assert key not in doc.to_json()
        assert api_keys.KeyIndex(doc).check(f"Bearer {key}", NOW).ok


def test_revoke_reaches_every_store(stores, capsys):
    run, aws_doc, gcp_doc = stores
    run("create", "--client", "acme")
    key = capsys.readouterr().out.strip()
    assert run("revoke", "--client", "acme", clock=NOW + 60) == 0
    for doc in (aws_doc(), gcp_doc()):
        assert api_keys.KeyIndex(doc).check(f"Bearer {key}", NOW + 61).status == api_keys.REVOKED


def test_rotate_overlaps_then_the_old_key_expires(stores, capsys):
    run, aws_doc, _ = stores
    run("create", "--client", "acme")
    old = capsys.readouterr().out.strip()
    assert run("rotate", "--client", "acme", "--overlap-hours", "2", clock=NOW + 10) == 0
    new = capsys.readouterr().out.strip()
    index = api_keys.KeyIndex(aws_doc())
    assert index.check(f"Bearer {old}", NOW + 3600).ok and index.check(f"Bearer {new}", NOW + 3600).ok
    assert index.check(f"Bearer {old}", NOW + 10 + 7200).status == api_keys.EXPIRED
    assert run("--json", "list") == 0
    assert '"state": "ok"' in capsys.readouterr().out


def test_an_unknown_tier_or_client_is_refused_without_writing(stores, capsys):
    run = stores[0]
    assert run("create", "--client", "acme", "--tier", "gold") == 2
    assert run("revoke", "--client", "nobody") == 2
    assert "gold" in capsys.readouterr().err
    assert GCP_STORE not in FakeGcpStore.secrets


def test_an_unreadable_store_stops_the_command_before_any_write(stores, capsys):
    run, aws_doc, _ = stores
    run("create", "--client", "acme")
    capsys.readouterr()
    FakeGcpStore.down = True
    assert run("revoke", "--client", "acme", clock=NOW + 5) == 1
    assert "cannot read" in capsys.readouterr().err
    assert all(k.revoked is None for k in aws_doc().keys)  # nothing half-written


def test_a_region_that_missed_a_write_catches_up_from_the_newest_document(stores, capsys):
    run, _, gcp_doc = stores
    run("create", "--client", "acme")
    key = capsys.readouterr().out.strip()
    # The GCP store missed the revocation (say it was written before an outage): the AWS copy is newer.
    stale = FakeGcpStore.secrets[GCP_STORE][-1]
    assert run("revoke", "--client", "acme", clock=NOW + 5) == 0
    FakeGcpStore.secrets[GCP_STORE].append(stale)
    assert run("sync", clock=NOW + 10) == 0
    assert api_keys.KeyIndex(gcp_doc()).check(f"Bearer {key}", NOW + 11).status == api_keys.REVOKED


def test_a_missing_store_is_an_error_naming_it(aws, capsys):
    FakeGcpStore.secrets, FakeGcpStore.down = {}, False
    code = keys.main(["--stack", "dev", "--gcp-project", "p", "list"], aws=aws, gcp=FakeGcpStore, env={})
    assert code == 1
    assert AWS_STORE[1] in capsys.readouterr().err


def test_the_gcp_project_defaults_to_the_stack_files(aws, capsys):
    FakeGcpStore.secrets, FakeGcpStore.down = {}, False
    aws.client("secretsmanager", AWS_STORE[0]).create_secret(Name=AWS_STORE[1])
    seen = []

    def gcp(project, secret):
        seen.append(project)
        return FakeGcpStore(project, secret)

    assert keys.main(["--stack", "dev", "list"], aws=aws, gcp=gcp, env={}) == 0
    assert seen == ["rollout-dev-000000"]  # gcp:project in Pulumi.dev.yaml
