"""The GitHub workflows: valid for actionlint, and wired to the commands the docs promise."""

from __future__ import annotations

import re
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


# ---- pinning, secrets and permissions ---------------------------------------------------------------

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
PIPE_TO_SHELL = re.compile(r"\|\s*(sudo\s+)?(ba|z)?sh\b")
CLOUD_ACTIONS = ("aws-actions/configure-aws-credentials", "google-github-actions/auth")


def workflow_problems(name: str, document: dict) -> list[str]:
    """Every breach of the rules docs/rollout.md states for the workflows, as text (empty: none)."""
    out = []
    if document.get("permissions") != {"contents": "read"}:
        out.append(f"{name}: workflow permissions must be exactly contents: read")
    if "secrets." in yaml.safe_dump(document.get("env") or {}):
        out.append(f"{name}: a secret in the workflow env reaches every step")
    for job_name, job in document["jobs"].items():
        where = f"{name}:{job_name}"
        perms = job.get("permissions") or {}
        allowed = ("id-token", "pull-requests")
        if perms == "write-all" or any(v == "write" for k, v in perms.items() if k not in allowed):
            out.append(f"{where}: write permission beyond id-token / pull-requests")
        if "secrets." in yaml.safe_dump(job.get("env") or {}):
            out.append(f"{where}: a secret in the job env reaches every step")
        steps = job.get("steps") or []
        uses = [s["uses"] for s in steps if "uses" in s]
        for ref in uses:
            if not ref.startswith("./") and not SHA_PIN.match(ref):
                out.append(f"{where}: {ref} is not pinned by commit SHA")
        if perms.get("id-token") == "write" and "uses" not in job and \
                not any(u.split("@")[0] in CLOUD_ACTIONS for u in uses):
            out.append(f"{where}: id-token: write without a cloud login")
        for step in steps:
            run = step.get("run", "")
            if PIPE_TO_SHELL.search(run) and "tee" not in run.split("|")[-1]:
                out.append(f"{where}: {step.get('name')}: pipes a download into a shell")
            if "pulumi/releases/download" in run and "sha256sum --check" not in run:
                out.append(f"{where}: {step.get('name')}: downloads the Pulumi CLI without checking its checksum")
            secret_env = "secrets." in yaml.safe_dump(step.get("env") or {})
            if secret_env and not re.search(r"\bpulumi\b|infra\.ops\.", run):
                out.append(f"{where}: {step.get('name')}: gets a secret it does not use")
            if step.get("uses", "").startswith("actions/checkout") and \
                    (step.get("with") or {}).get("persist-credentials") is not False:
                out.append(f"{where}: checkout keeps the token in .git (persist-credentials: false)")
        runs = "\n".join(s.get("run", "") for s in steps)
        if re.search(r"\bpulumi (login|up|preview)\b|infra\.ops\.deploy", runs):
            env = job.get("env") or {}
            if not re.fullmatch(r"\d+\.\d+\.\d+", str(env.get("PULUMI_VERSION", ""))) or \
                    not re.fullmatch(r"[0-9a-f]{64}", str(env.get("PULUMI_SHA256", ""))):
                out.append(f"{where}: the Pulumi CLI is not pinned by version and SHA-256")
        if re.search(r"\bpulumi (up|preview)\b|infra\.ops\.deploy", runs) and (
                not re.search(r"gke-gcloud-auth-plugin=\$\{GKE_AUTH_PLUGIN_VERSION\}", runs) or
                not re.fullmatch(r"[\d.]+-\d+", str((job.get("env") or {}).get("GKE_AUTH_PLUGIN_VERSION", "")))):
            out.append(f"{where}: gke-gcloud-auth-plugin is not installed at a pinned version")
        if "infra.ops.deploy" in runs:
            if job.get("if") != "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)":
                out.append(f"{where}: deploys from any branch")
            order = [i for key in ("infra.ops.preflight", "infra.ops.deploy", "infra.ops.verify")
                     for i, s in enumerate(steps) if key in s.get("run", "")][:3]
            if len(order) != 3 or order != sorted(order):
                out.append(f"{where}: preflight, deploy and verify are not all there in that order")
            elif "always()" not in str(steps[order[2]].get("if", "")):
                out.append(f"{where}: verify does not run after a failed deploy")
    return out


def test_every_workflow_pins_actions_and_the_cli_scopes_secrets_and_deploys_only_the_default_branch():
    problems = [p for path in WORKFLOWS for p in workflow_problems(path.name, load(path.name))]
    assert problems == []
    assert load("deploy.yml")["on"]["push"]["branches"] == ["main"]


def test_the_rules_catch_each_breach():
    good = load("deploy-stack.yml")
    assert workflow_problems("deploy-stack.yml", good) == []
    breaches = {
        "is not pinned by commit SHA": lambda d: d["jobs"]["deploy"]["steps"][0].update(uses="actions/checkout@v4"),
        "a secret in the job env": lambda d: d["jobs"]["deploy"]["env"].update(
            P="${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"),
        "pipes a download into a shell": lambda d: d["jobs"]["deploy"]["steps"][4].update(
            run="curl -fsSL https://get.pulumi.com | sh"),
        "deploys from any branch": lambda d: d["jobs"]["deploy"].pop("if"),
        "not pinned by version and SHA-256": lambda d: d["jobs"]["deploy"]["env"].pop("PULUMI_SHA256"),
        "preflight, deploy and verify": lambda d: d["jobs"]["deploy"]["steps"].pop(-1),
        "gke-gcloud-auth-plugin": lambda d: d["jobs"]["deploy"]["env"].update(GKE_AUTH_PLUGIN_VERSION="latest"),
        "gets a secret it does not use": lambda d: d["jobs"]["deploy"]["steps"][2].update(
            env={"X": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}),
        "write permission": lambda d: d["jobs"]["deploy"]["permissions"].update(contents="write"),
    }
    import copy

    for expected, breach in breaches.items():
        broken = copy.deepcopy(good)
        breach(broken)
        found = workflow_problems("deploy-stack.yml", broken)
        assert any(expected in p for p in found), (expected, found)


def test_the_pulumi_cli_in_ci_is_one_pinned_release_no_newer_than_the_sdk():
    pinned = next(line.split("==")[1].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                  if line.startswith("pulumi=="))
    pins = {(load(name)["jobs"][job]["env"]["PULUMI_VERSION"], load(name)["jobs"][job]["env"]["PULUMI_SHA256"])
            for name, job in (("pull-request.yml", "preview"), ("deploy-stack.yml", "deploy"))}
    assert len(pins) == 1
    ((version, _),) = pins
    assert tuple(map(int, version.split("."))) <= tuple(map(int, pinned.split(".")))
