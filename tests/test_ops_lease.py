"""The deploy lease and the release record in the state backend (S3 under moto, a directory), and the AWS
session renewed between waves (STS under moto)."""

from __future__ import annotations

import pytest

from infra.ops.credentials import AwsRoleRefresher, refresher_from_env
from infra.ops.lease import FileReleaseStore, LeaseHeld, S3ReleaseStore, open_store, state_url

HOUR = 3600.0


@pytest.fixture
def s3(aws):
    client = aws.client("s3", "us-east-1")
    client.create_bucket(Bucket="rollout-state")
    return client


def stores(kind, s3_client, tmp_path):
    if kind == "s3":
        return [S3ReleaseStore(s3_client, "rollout-state", "state/.rollout/prod") for _ in range(2)]
    return [FileReleaseStore(tmp_path / ".rollout" / "prod") for _ in range(2)]


@pytest.mark.parametrize("kind", ["s3", "file"])
def test_one_deploy_holds_the_lease_until_it_releases_or_it_expires(kind, request, tmp_path):
    s3_client = request.getfixturevalue("s3") if kind == "s3" else None
    first, second = stores(kind, s3_client, tmp_path)
    first.acquire("run 1", 2 * HOUR, now=0.0)
    with pytest.raises(LeaseHeld, match="run 1"):
        second.acquire("run 2", 2 * HOUR, now=HOUR)
    first.renew(2 * HOUR, now=1.5 * HOUR)  # renewed between waves: valid until 3.5 h
    with pytest.raises(LeaseHeld):
        second.acquire("run 2", 2 * HOUR, now=3 * HOUR)
    second.acquire("run 2", 2 * HOUR, now=4 * HOUR)  # run 1 died: its lease expired, run 2 takes it over
    with pytest.raises(LeaseHeld):
        first.renew(2 * HOUR, now=4 * HOUR)  # and run 1, if it wakes up, knows it lost it
    first.release()  # a stale holder's release leaves the new holder's lease alone
    with pytest.raises(LeaseHeld, match="run 2"):
        first.acquire("run 3", 2 * HOUR, now=4.5 * HOUR)
    second.release()
    first.acquire("run 3", 2 * HOUR, now=4.5 * HOUR)


def test_two_deploys_racing_for_a_new_lease_on_s3_get_one_winner(s3):
    """The conditional create (If-None-Match: *) is what decides: the loser's write is refused."""
    a, b = stores("s3", s3, None)
    a.acquire("run a", HOUR, now=0.0)
    with pytest.raises(LeaseHeld):
        b.acquire("run b", HOUR, now=0.0)
    body = s3.get_object(Bucket="rollout-state", Key="state/.rollout/prod/lease.json")["Body"].read()
    assert b'"run a"' in body


@pytest.mark.parametrize("kind", ["s3", "file"])
def test_the_release_record_round_trips_and_is_absent_at_first(kind, request, tmp_path):
    s3_client = request.getfixturevalue("s3") if kind == "s3" else None
    store, _ = stores(kind, s3_client, tmp_path)
    assert store.read() is None
    store.write('{"version": 1}')
    assert store.read() == '{"version": 1}'


def test_an_unreachable_bucket_is_an_error_not_an_empty_record(aws):
    store = S3ReleaseStore(aws.client("s3", "us-east-1"), "no-such-bucket", "x")
    with pytest.raises(Exception, match="NoSuchBucket"):
        store.read()


def test_the_state_url_comes_from_the_environment_or_an_s3_or_file_backend(tmp_path):
    assert state_url({"ROLLOUT_STATE_URL": "s3://b"}, "https://api.pulumi.com") == "s3://b"
    assert state_url({}, "s3://state?region=eu-west-1") == "s3://state?region=eu-west-1"
    assert state_url({}, "https://api.pulumi.com") is None and state_url({}, None) is None
    regions = []
    store = open_store("s3://state/prefix?region=eu-west-1", "prod", lambda r: regions.append(r) or object())
    assert regions == ["eu-west-1"] and store.record_key == "prefix/.rollout/prod/release.json"
    assert open_store(f"file://{tmp_path}", "dev", lambda r: None).record == tmp_path / ".rollout/dev/release.json"
    with pytest.raises(ValueError, match="s3:// or file://"):
        open_store("gs://bucket", "prod", lambda r: None)


def test_the_aws_role_is_re_assumed_when_the_session_runs_low(aws):
    iam = aws.client("iam", "us-east-1")
    role = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument="{}", MaxSessionDuration=3600)["Role"]["Arn"]
    env: dict[str, str] = {}
    tokens = []
    now = [1_000_000.0]
    refresher = AwsRoleRefresher(role, aws.client("sts", "us-east-1"), env=env,
                                 token=lambda: tokens.append(1) or "oidc-token", clock=lambda: now[0])
    refresher.refresh()
    assert refresher.renewals == 1 and env["AWS_SESSION_TOKEN"] and len(tokens) == 1
    first_key = env["AWS_ACCESS_KEY_ID"]
    now[0] = refresher.expires - 2 * HOUR  # plenty left: nothing to do
    refresher.refresh()
    assert refresher.renewals == 1
    now[0] = refresher.expires - 600  # ten minutes left: a fresh token, a fresh session
    refresher.refresh()
    assert refresher.renewals == 2 and len(tokens) == 2 and env["AWS_ACCESS_KEY_ID"] != first_key


def test_outside_github_actions_there_is_nothing_to_refresh():
    assert refresher_from_env({"ROLLOUT_AWS_ROLE_ARN": "arn:aws:iam::1:role/x"}, lambda: None) is None
    refresher = refresher_from_env({"ROLLOUT_AWS_ROLE_ARN": "arn:aws:iam::1:role/x",
                                    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token"}, lambda: "sts")
    assert refresher is not None and refresher.sts == "sts"
