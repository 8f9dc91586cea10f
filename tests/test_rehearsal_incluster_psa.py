"""Pod Security Admission: each baseline and restricted control refuses its violation and admits the
compliant form, at the namespace's enforce level; chart pods are checked from their pinned description."""

from __future__ import annotations

import copy

import pytest

from infra.rehearsal.incluster.psa import baseline, level_of, restricted
from tests.incluster_docs import RESTRICTED_CONTAINER_SC, cluster, deployment, messages, namespace, release, run

OK_POD = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
          "containers": [{"name": "c", "image": "i", "securityContext": copy.deepcopy(RESTRICTED_CONTAINER_SC)}],
          "volumes": [{"name": "v", "emptyDir": {}}]}


def with_(path: str, value) -> dict:
    """OK_POD with one field set (path like 'containers.0.securityContext.privileged' or 'hostNetwork')."""
    pod = copy.deepcopy(OK_POD)
    node = pod
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node.setdefault(k, {})
    node[keys[-1]] = value
    return pod


BASELINE_CASES = {
    "hostProcess": ("securityContext.windowsOptions", {"hostProcess": True}),
    "host namespaces": ("hostPID", True),
    "privileged": ("containers.0.securityContext.privileged", True),
    "capabilities": ("containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
    "hostPath": ("volumes", [{"name": "h", "hostPath": {"path": "/var"}}]),
    "hostPorts": ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}]),
    "AppArmor": ("securityContext.appArmorProfile", {"type": "Unconfined"}),
    "SELinux": ("containers.0.securityContext.seLinuxOptions", {"type": "spc_t"}),
    "/proc mount": ("containers.0.securityContext.procMount", "Unmasked"),
    "seccomp": ("containers.0.securityContext.seccompProfile", {"type": "Unconfined"}),
    "sysctls": ("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
}
RESTRICTED_CASES = {
    "volume types": ("volumes", [{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
    "privilege escalation": ("containers.0.securityContext.allowPrivilegeEscalation", True),
    "running as non-root:": ("containers.0.securityContext.runAsNonRoot", False),
    "running as non-root user": ("containers.0.securityContext.runAsUser", 0),
    "seccomp": ("containers.0.securityContext.seccompProfile", {"type": "Unconfined"}),
    "capabilities": ("containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["NET_RAW"]}),
}


def test_the_compliant_pod_passes_every_control():
    assert baseline(OK_POD) == [] and restricted(OK_POD) == []


@pytest.mark.parametrize("control", sorted(BASELINE_CASES))
def test_each_baseline_control_refuses_its_violation(control):
    path, value = BASELINE_CASES[control]
    findings = baseline(with_(path, value))
    assert findings and all(f.startswith(control) for f in findings), findings


@pytest.mark.parametrize("control", sorted(RESTRICTED_CASES))
def test_each_restricted_control_refuses_its_violation(control):
    path, value = RESTRICTED_CASES[control]
    findings = restricted(with_(path, value))
    assert any(f.startswith(control) for f in findings), findings


def test_baseline_allows_what_only_restricted_forbids():
    pod = with_("containers.0.securityContext", {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"]}})
    assert baseline(pod) == []
    assert restricted(pod)  # no drop ALL, no allowPrivilegeEscalation=false, CHOWN added


def test_run_as_non_root_and_seccomp_may_come_from_the_pod_or_every_container():
    pod = {"containers": [{"name": "a", "securityContext": {**RESTRICTED_CONTAINER_SC}},
                          {"name": "b", "securityContext": {"allowPrivilegeEscalation": False,
                                                            "capabilities": {"drop": ["ALL"]}}}]}
    assert any("container b needs runAsNonRoot" in f for f in restricted(pod))
    assert any("container b needs seccompProfile" in f for f in restricted(pod))
    pod["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost", "localhostProfile": "p"}}
    assert restricted(pod) == []


def test_init_containers_are_checked_too():
    pod = with_("initContainers", [{"name": "init", "securityContext": {"privileged": True}}])
    assert any("container init" in f for f in baseline(pod))


def test_unlabelled_namespaces_are_privileged():
    assert level_of({}) == "privileged" and level_of({"pod-security.kubernetes.io/enforce": "baseline"}) == "baseline"


def test_the_rule_applies_each_namespace_level():
    bad = with_("containers.0.securityContext.allowPrivilegeEscalation", True)
    report = run(*cluster(), namespace("strict"), namespace("loose", "baseline"), namespace("free", None),
                 deployment("a", "strict", bad), deployment("b", "loose", bad), deployment("c", "free", bad),
                 deployment("d", "strict", OK_POD))
    restricted_findings = messages(report, "incluster/psa-restricted")
    assert len(restricted_findings) == 1 and "strict/a" in restricted_findings[0]
    assert messages(report, "incluster/psa-baseline") == []
    host = with_("hostNetwork", True)
    report = run(*cluster(), namespace("loose", "baseline"), namespace("free", None),
                 deployment("b", "loose", host), deployment("c", "free", host))
    assert [m for m in messages(report, "incluster/psa-baseline")] and \
        all("loose/b" in m for m in messages(report, "incluster/psa-baseline"))


PROGRAM_PROMETHEUS_VALUES = {
    "alertmanager": {"enabled": False}, "prometheus-pushgateway": {"enabled": False},
    "prometheus-node-exporter": {"enabled": False}, "kube-state-metrics": {"enabled": False},
    "server": {"retention": "2d", "persistentVolume": {"enabled": False}},
}


def test_defect_prometheus_chart_defaults_are_refused_under_restricted():
    """The pinned chart sets runAsNonRoot but no seccomp, capabilities or privilege escalation: refused."""
    report = run(*cluster(), namespace("rollout-system"),
                 release("prometheus", "27.52.0", "rollout-system", PROGRAM_PROMETHEUS_VALUES))
    findings = messages(report, "incluster/psa-restricted")
    assert any("prometheus-server must set allowPrivilegeEscalation=false" in f for f in findings)
    assert any("prometheus-server-configmap-reload must drop ALL" in f for f in findings)
    assert all("chart prometheus@27.52.0" in f for f in findings)


def test_a_security_context_in_the_values_makes_the_prometheus_pod_pass():
    values = copy.deepcopy(PROGRAM_PROMETHEUS_VALUES)
    container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}
    values["server"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 65534, "fsGroup": 65534,
                                           "seccompProfile": {"type": "RuntimeDefault"}}
    values["server"]["containerSecurityContext"] = container
    values["configmapReload"] = {"prometheus": {"containerSecurityContext": container}}
    report = run(*cluster(), namespace("rollout-system"), release("prometheus", "27.52.0", "rollout-system", values))
    assert messages(report, "incluster/psa-restricted") == []


def test_keda_chart_defaults_pass_restricted():
    values = {"podSecurityContext": {"operator": {"runAsNonRoot": True}}}
    report = run(*cluster(), namespace("rollout-system"), release("keda", "2.21.1", "rollout-system", values))
    assert messages(report, "incluster/psa-restricted") == []
    report = run(*cluster(), namespace("rollout-system"),
                 release("keda", "2.21.1", "rollout-system", {"securityContext": {"webhooks": None}}))
    assert any("keda-admission-webhooks" in f for f in messages(report, "incluster/psa-restricted"))
