"""Files: mounted Secret/ConfigMap/projected files are readable by the container's user under their mode
and the pod's fsGroup; the reconcile Job of the issue (uid 999, 0400 Secret, no fsGroup) is caught."""

from __future__ import annotations

import pytest

from infra.rehearsal.incluster.files import file_modes, unreadable
from tests.incluster_docs import cluster, deployment, messages, namespace, run


def job_spec(mode: int | None = 0o400, fs_group: int | None = None, uid: int = 999, items=None) -> dict:
    secret = {"secretName": "tls", **({"defaultMode": mode} if mode is not None else {}),
              **({"items": items} if items else {})}
    pod_sc = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
              **({"fsGroup": fs_group} if fs_group is not None else {})}
    return {"securityContext": pod_sc, "restartPolicy": "OnFailure",
            "containers": [{"name": "reconcile", "image": "mongo:8.0.17",
                            "volumeMounts": [{"name": "tls", "mountPath": "/etc/mongodb/tls", "readOnly": True}]}],
            "volumes": [{"name": "tls", "secret": secret}]}


def test_defect_a_uid_999_job_cannot_read_a_0400_secret_without_fs_group():
    report = run(*cluster(), namespace("rollout-data"),
                 deployment("reconcile", "rollout-data", job_spec(), kind="batch/v1:Job"))
    found = messages(report, "incluster/files-readable")
    assert len(found) == 1 and "uid 999" in found[0] and "mode 0400" in found[0]


def test_fs_group_gives_the_group_read_bit():
    report = run(*cluster(), namespace("rollout-data"),
                 deployment("reconcile", "rollout-data", job_spec(fs_group=999), kind="batch/v1:Job"))
    assert messages(report, "incluster/files-readable") == []


@pytest.mark.parametrize(("spec", "readable"), [
    (job_spec(mode=None), True),  # default 0644: other read
    (job_spec(mode=0o440), False),  # group read, but the file's group is root
    (job_spec(mode=0o400, uid=0), True),  # root owns the files
    (job_spec(mode=0o400, items=[{"key": "ca.pem", "path": "ca.pem", "mode": 0o444}]), True),  # item mode wins
    (job_spec(mode=0o444, items=[{"key": "k", "path": "k", "mode": 0o400}]), False),
])
def test_modes_owner_and_items(spec, readable):
    assert (unreadable(spec) == []) is readable


def test_projected_and_config_map_volumes_are_read_with_their_modes():
    assert file_modes({"configMap": {"name": "c"}}) == [("*", 0o644)]
    assert file_modes({"projected": {"defaultMode": 0o400, "sources": [
        {"secret": {"name": "s"}}, {"serviceAccountToken": {"path": "token"}}]}}) == [("secret/*", 0o400)]


def test_an_image_user_is_not_guessed():
    spec = job_spec()
    del spec["securityContext"]["runAsUser"]
    assert unreadable(spec) == []
