"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collected test modules (and the SDKs they import) are frozen out of garbage collection and
    young collections run rarer, as in an offline preview (infra/offline/gc_policy.py explains why)."""
    import gc

    from infra.offline.gc_policy import YOUNG_THRESHOLD

    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """moto for every AWS call, fake credentials, and no network at all (the ops tests)."""
    from moto import mock_aws  # imported here: only the ops tests pay for moto

    from infra.ops.clouds import AwsClients
    from tests.ops_fakes import FAKE_AWS_ENV, guard_sockets, shared_session

    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # thousands of AMIs per region: slow, unused
    guard_sockets(monkeypatch)
    with mock_aws():
        yield AwsClients(session=shared_session())


@pytest.fixture(scope="session")
def dev_run():
    """The dev stack's captured preview, once per test process (tests/previews.py)."""
    from tests.previews import stack_run

    return stack_run("dev")


@pytest.fixture(scope="session")
def prod_run():
    """The prod stack's captured preview, once per test process (tests/previews.py)."""
    from tests.previews import stack_run

    return stack_run("prod")
