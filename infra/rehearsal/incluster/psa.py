"""Pod Security Admission: every control of the baseline and restricted Pod Security Standards, checked
for each pod at its namespace's `pod-security.kubernetes.io/enforce` level (unlabelled: privileged,
the API server's default). A refused pod never starts; a Helm release with `atomic` rolls back.

The controls follow the reference implementation, k8s.io/pod-security-admission/policy/check_*.go
(https://github.com/kubernetes/kubernetes/tree/master/staging/src/k8s.io/pod-security-admission/policy),
at the latest policy version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.rehearsal.incluster.inventory import inventory
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

PSS = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
ENFORCE = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                "persistentVolumeClaim", "projected", "secret", "image"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _sc(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("securityContext") or {}


def baseline(spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> list[str]:
    """Findings of the baseline controls (empty: admitted at baseline)."""
    out: list[str] = []
    pod_sc = _sc(spec)
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ()),
                  *(spec.get("ephemeralContainers") or ())]
    # hostProcess
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess") or any(
            (_sc(c).get("windowsOptions") or {}).get("hostProcess") for c in containers):
        out.append("hostProcess: windowsOptions.hostProcess must not be true")
    # host namespaces
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"host namespaces: {key}=true")
    for c in containers:
        sc, name = _sc(c), c.get("name", "?")
        if sc.get("privileged"):
            out.append(f"privileged: container {name} is privileged")
        added = set((sc.get("capabilities") or {}).get("add") or ()) - BASELINE_CAPABILITIES
        if added:
            out.append(f"capabilities: container {name} adds {', '.join(sorted(added))}")
        for port in c.get("ports") or ():
            if port.get("hostPort"):
                out.append(f"hostPorts: container {name} uses hostPort {port['hostPort']}")
        if sc.get("procMount") not in (None, "", "Default"):
            out.append(f"/proc mount: container {name} procMount={sc['procMount']}")
    for v in spec.get("volumes") or ():
        if "hostPath" in v:
            out.append(f"hostPath volumes: volume {v.get('name')} is a hostPath")
    # AppArmor (field and the older annotation)
    for where, sc in [("pod", pod_sc), *((f"container {c.get('name')}", _sc(c)) for c in containers)]:
        profile = (sc.get("appArmorProfile") or {}).get("type")
        if profile not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"AppArmor: {where} appArmorProfile {profile}")
    for key, value in (annotations or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value != "runtime/default" and not value.startswith("localhost/"):
            out.append(f"AppArmor: annotation {key}={value}")
    # SELinux
    for where, sc in [("pod", pod_sc), *((f"container {c.get('name')}", _sc(c)) for c in containers)]:
        opts = sc.get("seLinuxOptions") or {}
        if opts.get("type", "") not in SELINUX_TYPES:
            out.append(f"SELinux: {where} seLinuxOptions.type {opts['type']}")
        for key in ("user", "role"):
            if opts.get(key):
                out.append(f"SELinux: {where} sets seLinuxOptions.{key}")
    # Seccomp (baseline: never Unconfined)
    for where, sc in [("pod", pod_sc), *((f"container {c.get('name')}", _sc(c)) for c in containers)]:
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(f"seccomp: {where} seccompProfile Unconfined")
    for sysctl in pod_sc.get("sysctls") or ():
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"sysctls: {sysctl.get('name')} is not in the safe set")
    return out


def restricted(spec: Mapping[str, Any]) -> list[str]:
    """Findings of the controls restricted adds on top of baseline."""
    out: list[str] = []
    pod_sc = _sc(spec)
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ()),
                  *(spec.get("ephemeralContainers") or ())]
    for v in spec.get("volumes") or ():
        kinds = set(v) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            out.append(f"volume types: volume {v.get('name')} is {', '.join(sorted(kinds - RESTRICTED_VOLUMES))}")
    pod_non_root = pod_sc.get("runAsNonRoot")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        out.append("running as non-root user: pod runAsUser=0")
    if pod_non_root is False:
        out.append("running as non-root: pod runAsNonRoot=false")
    for c in containers:
        sc, name = _sc(c), c.get("name", "?")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"privilege escalation: container {name} must set allowPrivilegeEscalation=false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and pod_non_root is not True):
            out.append(f"running as non-root: container {name} needs runAsNonRoot=true (pod or container)")
        if sc.get("runAsUser") == 0:
            out.append(f"running as non-root user: container {name} runAsUser=0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"seccomp: container {name} needs seccompProfile RuntimeDefault or Localhost (pod or container)")
        elif seccomp is not None and seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"seccomp: container {name} seccompProfile {seccomp}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or ()):
            out.append(f"capabilities: container {name} must drop ALL")
        added = set(caps.get("add") or ()) - {"NET_BIND_SERVICE"}
        if added:
            out.append(f"capabilities: container {name} may add only NET_BIND_SERVICE, adds {', '.join(sorted(added))}")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"seccomp: pod seccompProfile {pod_seccomp}")
    return out


def level_of(labels: Mapping[str, str]) -> str:
    level = labels.get(ENFORCE, "privileged")
    return level if level in LEVELS else "restricted"  # an invalid level is treated as restricted by the API server


def _check(ctx: Context, wanted: str) -> Iterable[Violation]:
    inv = inventory(ctx.run)
    for pod in inv.pods:
        level = level_of(inv.namespace_labels(pod.cluster, pod.namespace))
        if LEVELS.index(level) < LEVELS.index(wanted):
            continue
        findings = baseline(pod.spec, pod.annotations) if wanted == "baseline" else restricted(pod.spec)
        for f in findings:
            yield Violation(f"incluster/psa-{wanted}", pod.urn,
                            f"{pod.describe()}: namespace enforces {level}; {f}: the pod is refused")


@rule("incluster/psa-baseline", stage="incluster", source=PSS + "#baseline")
def psa_baseline(ctx: Context) -> Iterable[Violation]:
    """Pods in baseline or restricted namespaces pass every baseline control."""
    yield from _check(ctx, "baseline")


@rule("incluster/psa-restricted", stage="incluster", source=PSS + "#restricted")
def psa_restricted(ctx: Context) -> Iterable[Violation]:
    """Pods in restricted namespaces pass every restricted control."""
    yield from _check(ctx, "restricted")
