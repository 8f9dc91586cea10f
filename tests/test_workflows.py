"""The GitHub workflows: valid for actionlint, and wired to the commands the docs promise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.factories import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# actionlint comes from requirements.txt (a wheel that carries the binary) into the virtualenv's bin.
ACTIONLINT = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    assert ACTIONLINT, "actionlint is not installed: pip install -r requirements.txt"
    return subprocess.run([ACTIONLINT, "-no-color", *map(str, paths)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_every_workflow_passes_actionlint():
    assert len(WORKFLOWS) >= 3
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_does_report_a_broken_workflow(tmp_path):
    """So the test above can fail: an undefined job output and a bad runner label are findings."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ needs.nothing.outputs.x }}\n"
        "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1 and "needs.nothing" in result.stdout and "no-such-input" in result.stdout


def load(name: str) -> dict:
    document = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on:` as True
    return document


def test_pull_requests_get_the_offline_check_the_comment_and_a_real_preview_where_configured():
    pr = load("pull-request.yml")
    assert "pull_request" in pr["on"]
    offline = "\n".join(s.get("run", "") for s in pr["jobs"]["offline"]["steps"])
    assert "make test" in offline and "infra.policy_check Pulumi.*.yaml" in offline
    assert "infra.offline.pr_comment" in offline and "gh pr comment" in offline
    preview = pr["jobs"]["preview"]
    assert "vars.PULUMI_BACKEND_URL" in preview["if"] and preview["permissions"]["id-token"] == "write"
    runs = "\n".join(s.get("run", "") for s in preview["steps"])
    assert "pulumi preview --policy-pack policies" in runs
    assert {s.get("uses", "").split("@")[0] for s in preview["steps"]} >= {
        "aws-actions/configure-aws-credentials", "google-github-actions/auth"}


def test_merges_deploy_dev_then_prod_each_in_its_environment_wave_by_wave():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["jobs"]["prod"]["needs"] == "dev"
    assert [deploy["jobs"][j]["with"]["stack"] for j in ("dev", "prod")] == ["dev", "prod"]
    job = load("deploy-stack.yml")["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.stack }}"  # prod's environment holds the approval
    assert any("infra.ops.deploy --stack" in s.get("run", "") for s in job["steps"])
    assert job["concurrency"]["cancel-in-progress"] is False  # never cancel a rollout half way


def test_the_pulumi_cli_in_ci_matches_the_sdk_pinned_in_requirements():
    pinned = next(line.split("==")[1].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                  if line.startswith("pulumi=="))
    for name, job in (("pull-request.yml", "preview"), ("deploy-stack.yml", "deploy")):
        assert load(name)["jobs"][job]["env"]["PULUMI_VERSION"] == pinned, name
