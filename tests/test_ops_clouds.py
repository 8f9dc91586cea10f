"""The thin real clients: GoogleRestApi's URLs, paging and node counts (a fake HTTP session, no network), and
where a stack's state backend and secrets provider are read from."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.ops.clouds import COMPUTE, CONTAINER, KMS, STORAGE, GoogleRestApi
from infra.ops.stack import backend_url, load_target
from tests.ops_stack import GCP_PROJECT, write_ops_stack


@dataclass
class Response:
    status_code: int
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return self.body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


@dataclass
class FakeSession:
    """Answers GET url (+ pageToken) from a table; anything else is a 404."""

    pages: dict[tuple[str, str | None], dict[str, Any]]
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def get(self, url: str, params: dict[str, str] | None = None, timeout: float = 0) -> Response:
        key = (url, (params or {}).get("pageToken"))
        self.seen.append(key)
        assert timeout > 0
        return Response(200, self.pages[key]) if key in self.pages else Response(404, {})

    def post(self, url: str, params: dict[str, str] | None = None, timeout: float = 0) -> Response:
        return self.get(url, params, timeout)


P = f"{COMPUTE}/projects/{GCP_PROJECT}"


def test_accelerator_types_follow_next_page_tokens():
    url = f"{P}/zones/europe-west4-a/acceleratorTypes"
    session = FakeSession({(url, None): {"items": [{"name": "nvidia-l4"}], "nextPageToken": "t2"},
                           (url, "t2"): {"items": [{"name": "nvidia-tesla-a100"}]}})
    api = GoogleRestApi(GCP_PROJECT, session=session)
    assert api.accelerator_types("europe-west4-a") == {"nvidia-l4", "nvidia-tesla-a100"}
    assert session.seen == [(url, None), (url, "t2")]


def test_region_quotas_bucket_and_key():
    key = f"projects/{GCP_PROJECT}/locations/global/keyRings/r/cryptoKeys/k"
    session = FakeSession({
        (f"{P}/regions/europe-west4", None): {"quotas": [{"metric": "NVIDIA_L4_GPUS", "limit": 8.0, "usage": 2.0},
                                                         {"metric": "CPUS", "limit": 24.0}]},
        (f"{STORAGE}/b/state", None): {"name": "state"},
        (f"{KMS}/{key}", None): {"primary": {"state": "DISABLED"}}})
    api = GoogleRestApi(GCP_PROJECT, session=session)
    assert api.region_quotas("europe-west4") == {"NVIDIA_L4_GPUS": (8.0, 2.0), "CPUS": (24.0, 0.0)}
    assert api.bucket_exists("state") and not api.bucket_exists("other")
    assert api.crypto_key_state(key) == "DISABLED" and api.crypto_key_state(key + "x") is None


def test_node_pools_carry_the_target_and_the_running_node_counts_of_their_instance_groups():
    groups = [f"{P}/zones/europe-west4-{z}/instanceGroups/gke-pool-{z}" for z in "ab"]
    managers = [g.replace("/instanceGroups/", "/instanceGroupManagers/") for g in groups]
    pools_url = f"{CONTAINER}/projects/{GCP_PROJECT}/locations/europe-west4/clusters/c/nodePools"

    def instance(status, action="NONE"):
        return {"instanceStatus": status, "currentAction": action}

    session = FakeSession({
        (pools_url, None): {"nodePools": [{"name": "gpu", "instanceGroupUrls": groups}]},
        **{(m, None): {"targetSize": n} for m, n in zip(managers, (2, 1), strict=True)},
        # zone a: one running, one still being created (a GPU stock-out looks like this), over two pages
        (f"{managers[0]}/listManagedInstances", None): {"managedInstances": [instance("RUNNING")],
                                                        "nextPageToken": "p2"},
        (f"{managers[0]}/listManagedInstances", "p2"): {"managedInstances": [instance("STAGING", "CREATING")]},
        (f"{managers[1]}/listManagedInstances", None): {"managedInstances": [instance("RUNNING")]}})
    api = GoogleRestApi(GCP_PROJECT, session=session)
    [pool] = api.node_pools("europe-west4", "c")
    assert pool["nodeCount"] == 3 and pool["runningCount"] == 2
    assert api.node_pools("europe-west4", "missing") is None


def test_project_quotas_and_machine_types():
    session = FakeSession({
        (P, None): {"quotas": [{"metric": "GPUS_ALL_REGIONS", "limit": 0.0}]},
        (f"{P}/zones/europe-west4-a/machineTypes/g2-standard-4", None): {"guestCpus": 4}})
    api = GoogleRestApi(GCP_PROJECT, session=session)
    assert api.project_quotas() == {"GPUS_ALL_REGIONS": (0.0, 0.0)}
    assert api.machine_type_cpus("europe-west4-a", "g2-standard-4") == 4
    assert api.machine_type_cpus("europe-west4-a", "a3-megagpu-8g") is None


def test_the_backend_comes_from_the_environment_then_pulumi_yaml(tmp_path: Path):
    project = tmp_path / "Pulumi.yaml"
    assert backend_url({}, project) is None
    project.write_text("name: x\nbackend:\n  url: s3://state-bucket\n")
    assert backend_url({}, project) == "s3://state-bucket"
    assert backend_url({"PULUMI_BACKEND_URL": "gs://other"}, project) == "gs://other"


def test_a_stack_file_names_its_stack_project_and_secrets_provider(tmp_path: Path):
    path = write_ops_stack(tmp_path, "staging", secrets_provider="awskms://alias/pulumi?region=us-east-1")
    target = load_target(argparse.Namespace(stack=None, stack_file=path), env={})
    assert (target.name, target.gcp_project, target.secrets_provider) == (
        "staging", GCP_PROJECT, "awskms://alias/pulumi?region=us-east-1")


@pytest.mark.parametrize("module", ["infra.ops.preflight", "infra.ops.verify"])
def test_both_commands_run_as_modules_and_exit_2_on_bad_config(module: str, tmp_path: Path):
    path = write_ops_stack(tmp_path, "bad", demand=[{"geography": "atlantis", "rps": 1}])
    done = subprocess.run([sys.executable, "-m", module, "--stack-file", str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "atlantis" in done.stderr and "Traceback" not in done.stderr


def test_progress_shows_on_a_terminal_and_a_failing_step_does_not_stop_the_others():
    import io

    from rich.console import Console

    from infra.ops.report import Step, failed, passed, run_steps

    def broken() -> list:
        raise RuntimeError("boom")

    screen = io.StringIO()
    checks = run_steps([Step("first region", lambda: [passed("a", "x", "ok")]), Step("second region", broken),
                        Step("third region", lambda: [passed("b", "y", "ok")])],
                       on_error=lambda step, error: failed("cloud-api", step.label, str(error), "fix"),
                       console=Console(file=screen, force_terminal=True, width=100))
    assert [(c.check, c.status) for c in checks] == [("a", "pass"), ("cloud-api", "fail"), ("b", "pass")]
    assert "region" in screen.getvalue()  # the bar was drawn (then cleared: transient)
