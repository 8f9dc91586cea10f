"""Offline policy check: serve the CrossGuard pack exactly as `pulumi preview --policy-pack` does and
send it the resources of a mocked run.

How the engine runs a Python pack (pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go,
NewPolicyAnalyzer, and sdk/python/dist/pulumi-analyzer-policy-python):
  cwd = the pack directory; `<virtualenv>/bin/python -u -m pulumi.policy <engine-address> .`;
  env += PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN, PULUMI_ORGANIZATION, PULUMI_CONFIG (JSON);
  the pack prints its gRPC port on the first stdout line; the engine then calls ConfigureStack,
  GetAnalyzerInfo, Configure (only with policy config), Analyze for every registered resource (checked
  inputs) and AnalyzeStack once with every resource, and finally kills the process.
Properties are marshalled with KeepUnknowns and KeepSecrets (secrets stay marked) but without output
values or resource references, which `engine_properties` reproduces from the captured wire form.

Known differences from a real preview, none of which changes a verdict of this pack today:
  - inputs are the program's, not the provider-checked ones (no provider defaults such as tagsAll);
  - AnalyzeStack gets inputs (the engine sends outputs, which for these providers contain the inputs);
  - the interpreter is this one (sys.executable), not the PulumiPolicy.yaml virtualenv (the same .venv).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.offline.mock_runtime import CapturedResource, CapturedRun

START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
_LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
           analyzer_pb2.REMEDIATE: "remediate", analyzer_pb2.DISABLED: "disabled"}
_SEVERITIES = {analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "", analyzer_pb2.POLICY_SEVERITY_LOW: "low",
               analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium", analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
               analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical"}


class PolicyPackError(RuntimeError):
    """The pack could not be started or answered badly: says which pack and why (with its stderr)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # "mandatory" | "advisory" (remediate is reported as mandatory, like the engine)
    urn: str  # "" = the stack as a whole
    message: str  # what is wrong with this resource (the policy description is kept apart)
    description: str = ""
    severity: str = ""

    def to_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcement": self.enforcement, "severity": self.severity,
                "urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class PolicyReport:
    pack: str
    version: str
    policies: int  # how many policies the pack declared
    resources: int  # how many resources were analyzed
    violations: tuple[Violation, ...]
    not_applicable: tuple[tuple[str, str], ...] = field(default=())  # (policy, reason), stack policies only

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "advisory"]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory else 0

    def to_json(self) -> dict[str, Any]:
        return {"pack": self.pack, "version": self.version, "policies": self.policies,
                "resources": self.resources, "passed": self.exit_code == 0,
                "mandatory": len(self.mandatory), "advisory": len(self.advisory),
                "violations": [v.to_json() for v in self.violations],
                "notApplicable": [{"policy": p, "reason": r} for p, r in self.not_applicable]}


def render_report(report: PolicyReport, console) -> None:
    """A table of violations (policy, enforcement, resource, message) and a one-line verdict (rich)."""
    from rich.table import Table

    if report.violations:
        table = Table(title=f"policy pack {report.pack}@{report.version}", show_lines=False)
        for column in ("policy", "enforcement", "resource", "message"):
            table.add_column(column, overflow="fold")
        for v in report.violations:
            level = "[bold red]mandatory[/]" if v.enforcement == "mandatory" else "[yellow]advisory[/]"
            table.add_row(v.policy, level, v.urn or "(stack)", v.message)
        console.print(table)
    for policy, reason in report.not_applicable:
        console.print(f"[dim]{policy}: not applicable: {reason}[/]")
    verdict = "[bold red]FAILED[/]" if report.exit_code else "[bold green]passed[/]"
    console.print(f"policy {verdict}: {len(report.mandatory)} mandatory, {len(report.advisory)} advisory "
                  f"violation(s); {report.policies} policies on {report.resources} resources")


def render_text(report: PolicyReport) -> str:
    """The same report as plain text lines (logs, CI)."""
    lines = [f"{v.enforcement.upper():9} {v.policy}  {v.urn or '(stack)'}\n          {v.message}"
             for v in report.violations]
    lines += [f"n/a       {p}: {r}" for p, r in report.not_applicable]
    lines.append(f"policy {'FAILED' if report.exit_code else 'passed'}: {len(report.mandatory)} mandatory, "
                 f"{len(report.advisory)} advisory violation(s)")
    return "\n".join(lines)


# ---- the engine's marshalling of properties -------------------------------------------------------

def _engine_value(value: Any) -> Any:
    """Output values and resource references as the engine sends them to analyzers (secrets and
    unknowns kept, MarshalOptions{KeepUnknowns, KeepSecrets} without KeepOutputValues/KeepResources)."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_output_value_sig:
            inner = _engine_value(value["value"]) if "value" in value else rpc.UNKNOWN
            if value.get("secret"):
                return {rpc._special_sig_key: rpc._special_secret_sig, "value": inner}
            return inner
        if sig == rpc._special_resource_sig:
            ref_id = value.get("id")
            return ref_id if ref_id not in (None, "") else value.get("urn", "")
        if sig == rpc._special_secret_sig:
            return {rpc._special_sig_key: rpc._special_secret_sig, "value": _engine_value(value.get("value"))}
        return {k: _engine_value(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_engine_value(v) for v in value]
    return value


def engine_properties(wire: struct_pb2.Struct) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(_engine_value(json_format.MessageToDict(wire)))
    return out


def _options(r: CapturedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent,
                                                customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts())


def _provider(r: CapturedResource) -> analyzer_pb2.AnalyzerProviderResource | None:
    """`urn::id` provider references -> the provider resource the engine names (no properties offline)."""
    if not r.provider:
        return None
    urn = r.provider.split("::")[:-1]
    full = "::".join(urn)
    type_ = full.split("::")[-2] if full.count("::") >= 3 else ""
    return analyzer_pb2.AnalyzerProviderResource(urn=full, type=type_, name=full.rsplit("::", 1)[-1])


def stack_resource(run: CapturedRun) -> analyzer_pb2.AnalyzerResource:
    """The root `pulumi:pulumi:Stack` resource; its outputs are the stack exports (the engine sends it too)."""
    props = struct_pb2.Struct()
    props.update(json.loads(json.dumps(run.outputs)))
    urn = f"urn:pulumi:{run.stack}::{run.project}::pulumi:pulumi:Stack::{run.project}-{run.stack}"
    return analyzer_pb2.AnalyzerResource(urn=urn, type="pulumi:pulumi:Stack", name=f"{run.project}-{run.stack}",
                                         properties=props, options=analyzer_pb2.AnalyzerResourceOptions())


def analyze_request(r: CapturedResource) -> analyzer_pb2.AnalyzeRequest:
    request = analyzer_pb2.AnalyzeRequest(urn=r.urn, type=r.type, name=r.name,
                                          properties=engine_properties(r.wire), options=_options(r))
    provider = _provider(r)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def analyzer_resource(r: CapturedResource, root_urn: str) -> analyzer_pb2.AnalyzerResource:
    resource = analyzer_pb2.AnalyzerResource(urn=r.urn, type=r.type, name=r.name,
                                             properties=engine_properties(r.wire), options=_options(r),
                                             parent=r.parent or root_urn, dependencies=list(r.dependencies))
    for prop, urns in r.property_dependencies.items():
        resource.propertyDependencies[prop].urns.extend(urns)
    provider = _provider(r)
    if provider is not None:
        resource.provider.CopyFrom(provider)
    return resource


# ---- serving the pack ----------------------------------------------------------------------------

class ServedPolicyPack:
    """The pack running as the engine runs it; a context manager that always stops the process.

        with ServedPolicyPack(Path("policies"), project="p", stack="dev") as pack:
            report = pack.check(run)
    """

    def __init__(self, pack_dir: Path, *, project: str, stack: str, organization: str = "organization",
                 config: Mapping[str, str] | None = None, start_timeout: float = START_TIMEOUT_S,
                 python: str | None = None):
        self.pack_dir = Path(pack_dir).resolve()
        self.project, self.stack, self.organization = project, stack, organization
        self.config = dict(config or {})
        self.start_timeout = start_timeout
        self.python = python or sys.executable
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: deque[str] = deque(maxlen=60)
        self._channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.info: analyzer_pb2.AnalyzerInfo | None = None

    # lifecycle
    def __enter__(self) -> ServedPolicyPack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyPackError(f"{self.pack_dir} is not a policy pack: PulumiPolicy.yaml is missing")
        env = {**os.environ, "PULUMI_PROJECT": self.project, "PULUMI_STACK": self.stack, "PULUMI_DRY_RUN": "true",
               "PULUMI_ORGANIZATION": self.organization, "PYTHONUNBUFFERED": "1"}
        env.pop("PULUMI_CONFIG", None)
        if self.config:
            env["PULUMI_CONFIG"] = json.dumps(self.config)
        # No engine runs here; the address is only parsed by pulumi.policy (the pack never dials it).
        command = [self.python, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."]
        self._proc = subprocess.Popen(command, cwd=self.pack_dir, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                              options=[("grpc.max_receive_message_length", 400 * 1024 * 1024),
                                                       ("grpc.max_send_message_length", 400 * 1024 * 1024)])
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self.start_timeout)
        except grpc.FutureTimeoutError:
            self.stop()
            raise PolicyPackError(f"policy pack {self.pack_dir} printed port {port} but does not answer") from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self._by_type: dict[str, list[Any]] = {}
        self._call("ConfigureStack", analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization=self.organization, dry_run=True,
            config=self.config))
        self.info = self._call("GetAnalyzerInfo", empty_pb2.Empty())

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def _drain_stderr(self) -> None:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        for line in iter(proc.stderr.readline, b""):
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _read_port(self) -> int:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=self.start_timeout)
        except queue.Empty:
            self.stop()
            raise PolicyPackError(f"policy pack {self.pack_dir} did not print its port within "
                                  f"{self.start_timeout:.0f}s{self._stderr_tail()}") from None
        text = first.decode(errors="replace").strip()
        if not text.isdigit():
            if not text:  # stdout closed: the pack exited (import error, bad pack); collect its stderr
                proc.wait(timeout=STOP_TIMEOUT_S)
            tail = self._stderr_tail()
            self.stop()
            reason = "exited before serving" if not text else f"printed {text!r} instead of a port"
            raise PolicyPackError(f"policy pack {self.pack_dir} {reason}{tail}")
        return int(text)

    def _stderr_tail(self) -> str:
        if self._proc is not None and self._proc.poll() is not None:
            threading.Event().wait(0.2)  # let the drain thread catch the last lines
        tail = "\n".join(list(self._stderr)[-25:])
        return f":\n{tail}" if tail else ""

    def _call(self, method: str, request: Any) -> Any:
        assert self.stub is not None, "the pack is not running"
        try:
            return getattr(self.stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            if method == "ConfigureStack" and exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None  # older packs: the engine ignores this too
            raise PolicyPackError(f"policy pack {self.pack_dir}: {method} failed: {exc.code().name}: "
                                  f"{exc.details()}{self._stderr_tail()}") from None

    # analysis
    def configure(self, policy_config: Mapping[str, Mapping[str, Any]]) -> None:
        """Per-policy config as in a `--policy-pack-config` file: {"policy": {"enforcementLevel": .., k: v}}."""
        if not policy_config:
            return  # the engine skips Configure without config
        levels = {v: k for k, v in _LEVELS.items()}
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, values in policy_config.items():
            props = struct_pb2.Struct()
            props.update({k: v for k, v in values.items() if k != "enforcementLevel"})
            level = values.get("enforcementLevel", self._declared_level(name))
            request.policyConfig[name].CopyFrom(analyzer_pb2.PolicyConfig(enforcementLevel=levels[level],
                                                                          properties=props))
        self._call("Configure", request)

    def _declared_level(self, name: str) -> str:
        for p in self.info.policies if self.info else ():
            if p.name == name:
                return _LEVELS[p.enforcementLevel]
        raise PolicyPackError(f"policy {name!r} is not in pack {self.pack_name}")

    @property
    def version(self) -> str:
        """PulumiPolicy.yaml's version wins over the pack's own, as in the engine's GetAnalyzerInfo."""
        import yaml

        declared = (yaml.safe_load((self.pack_dir / "PulumiPolicy.yaml").read_text()) or {}).get("version")
        return str(declared) if declared else (self.info.version if self.info else "")

    @property
    def pack_name(self) -> str:
        return self.info.name if self.info else ""

    def check(self, run: CapturedRun, policy_config: Mapping[str, Mapping[str, Any]] | None = None) -> PolicyReport:
        self.configure(policy_config or {})
        violations: list[Violation] = []
        not_applicable: list[tuple[str, str]] = []
        for r in run.resources:
            # A resource policy reports without a URN; the engine attributes it to the analyzed resource.
            violations.extend(_violation(d, r.urn) for d in self._call("Analyze", analyze_request(r)).diagnostics)
        root = stack_resource(run)
        stack = analyzer_pb2.AnalyzeStackRequest(resources=[root, *(analyzer_resource(r, root.urn)
                                                                    for r in run.resources)])
        response = self._call("AnalyzeStack", stack)
        violations.extend(_violation(d, "") for d in response.diagnostics)
        not_applicable.extend((n.policy_name, n.reason) for n in response.not_applicable)
        return PolicyReport(pack=self.pack_name, version=self.version,
                            policies=len(self.info.policies) if self.info else 0, resources=len(run.resources),
                            violations=tuple(violations),
                            not_applicable=tuple(sorted(set(not_applicable))))

    def plugin_version(self) -> str:
        return self._call("GetPluginInfo", empty_pb2.Empty()).version


class _SharedConversion:
    """The SDK servicer converts a resource's properties (protobuf -> dict -> deserialized -> unknown-
    checking proxy) once per policy. Within one call these stand-ins return the conversion of equal
    bytes once made, so every policy reads the same converted value (the policies only read them)."""

    def __init__(self) -> None:
        self._dicts: dict[bytes, dict[str, Any]] = {}
        self._messages: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._deserialized: dict[int, tuple[dict[str, Any], Any]] = {}
        self._proxies: dict[int, tuple[Any, Any]] = {}

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:  # json_format's name
        if args or kwargs:
            return json_format.MessageToDict(message, *args, **kwargs)
        seen = self._messages.get(id(message))
        if seen is not None and seen[0] is message:  # the same message object asked again by the next policy
            return seen[1]
        key = message.SerializeToString(deterministic=True)
        found = self._dicts.get(key)
        if found is None:
            found = self._dicts[key] = json_format.MessageToDict(message)
        self._messages[id(message)] = (message, found)
        return found

    def deserialize(self, value: dict[str, Any], *args: Any) -> Any:
        from pulumi_policy import deserialize

        if args:
            return deserialize.deserialize_properties(value, *args)
        hit = self._deserialized.get(id(value))
        if hit is None or hit[0] is not value:
            hit = self._deserialized[id(value)] = (value, deserialize.deserialize_properties(value))
        return hit[1]

    def proxy(self, value: Any) -> Any:
        """unknown_checking_proxy: a read-only view, so one per converted value serves every policy."""
        from pulumi_policy import proxy

        hit = self._proxies.get(id(value))
        if hit is None or hit[0] is not value:
            hit = self._proxies[id(value)] = (value, proxy.unknown_checking_proxy(value))
        return hit[1]

    def __getattr__(self, name: str) -> Any:  # every other json_format function, unchanged
        return getattr(json_format, name)


def _per_message(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`method(message)` computed once per message object within one call (the servicer asks again for
    every policy: resource options and provider of the same request, read-only for the policies)."""
    done: dict[int, tuple[Any, Any]] = {}

    def once(message: Any) -> Any:
        hit = done.get(id(message))
        if hit is None or hit[0] is not message:
            hit = done[id(message)] = (message, method(message))
        return hit[1]

    return once


@contextmanager
def _shared_conversion(servicer: Any = None):
    from pulumi_policy import policy as sdk

    shared = _SharedConversion()
    saved = sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy
    sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy = shared, shared.deserialize, shared.proxy
    per_message = ("_get_resource_options", "_get_provider_resource")
    if servicer is not None:
        for name in per_message:
            setattr(servicer, name, _per_message(getattr(servicer, name)))
    try:
        yield
    finally:
        sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy = saved
        if servicer is not None:
            for name in per_message:
                vars(servicer).pop(name, None)


class _Declared:
    """Stands in for pulumi_policy.PolicyPack while the pack's __main__ runs: records, never serves."""

    last: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str, policies: list, enforcement_level: Any = None, initial_config: Any = None,
                 **_: Any) -> None:
        type(self).last = {"name": name, "policies": policies, "enforcement_level": enforcement_level,
                           "initial_config": initial_config}


class InProcessPolicyPack(ServedPolicyPack):
    """The same pack and the same SDK servicer (pulumi_policy's), run in this process: no subprocess, no
    gRPC, and one conversion of each resource's properties shared by every policy (_SharedConversion).
    The verdicts are the served pack's (tests/test_policy_in_process.py proves it on the batteries);
    `ServedPolicyPack` stays the reference for how the engine runs a pack."""

    def start(self) -> None:
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyPackError(f"{self.pack_dir} is not a policy pack: PulumiPolicy.yaml is missing")
        import runpy

        import pulumi_policy
        from pulumi_policy.policy import EnforcementLevel, _PolicyAnalyzerServicer

        real = pulumi_policy.PolicyPack
        pulumi_policy.PolicyPack = _Declared
        sys.path.insert(0, str(self.pack_dir))
        try:
            runpy.run_path(str(self.pack_dir / "__main__.py"), run_name="__main__")
        except Exception as exc:
            raise PolicyPackError(f"policy pack {self.pack_dir} failed to load: {type(exc).__name__}: {exc}") from None
        finally:
            pulumi_policy.PolicyPack = real
            sys.path.remove(str(self.pack_dir))
        declared, _Declared.last = _Declared.last, {}
        if not declared:
            raise PolicyPackError(f"policy pack {self.pack_dir} declared no PolicyPack")
        self.servicer = _PolicyAnalyzerServicer(
            declared["name"], "0.0.1", declared["policies"],
            declared["enforcement_level"] or EnforcementLevel.ADVISORY, declared["initial_config"])
        self._by_type: dict[str, list[Any]] = {}
        self._call("ConfigureStack", analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization=self.organization, dry_run=True,
            config=self.config))
        self.info = self._call("GetAnalyzerInfo", empty_pb2.Empty())

    def stop(self) -> None:
        self.servicer = None

    @contextmanager
    def _policies_for(self, request: Any):
        """For one resource's Analyze, only the policies that can read its type (in pack order): a rule
        that declares `resource_types` returns at once on any other type, reporting nothing, so leaving it
        out changes no verdict and saves the servicer's per-policy set-up (options, provider, config) for
        ~160 policies per resource. Policies that declare no types always run."""
        if request is None:
            yield
            return
        mangled = "_PolicyAnalyzerServicer__policies"
        every = getattr(self.servicer, mangled)
        subset = self._by_type.get(request.type)
        if subset is None:
            subset = self._by_type[request.type] = [
                p for p in every if getattr(p, "resource_types", None) is None or request.type in p.resource_types]
        setattr(self.servicer, mangled, subset)
        try:
            yield
        finally:
            setattr(self.servicer, mangled, every)

    def _call(self, method: str, request: Any) -> Any:
        servicer = getattr(self, "servicer", None)
        assert servicer is not None, "the pack is not loaded"
        # The request as the served pack receives it: serialised and parsed, as gRPC does (map order included).
        request = type(request).FromString(request.SerializeToString())
        try:
            with _shared_conversion(servicer), self._policies_for(request if method == "Analyze" else None):
                return getattr(servicer, method)(request, None)
        except Exception as exc:  # the served pack answers such a failure as a gRPC error
            raise PolicyPackError(f"policy pack {self.pack_dir}: {method} failed: {type(exc).__name__}: {exc}") \
                from None


def _violation(d: analyzer_pb2.AnalyzeDiagnostic, resource_urn: str) -> Violation:
    message = d.message
    if d.description and message.startswith(d.description):
        message = message[len(d.description):].strip() or d.description
    level = _LEVELS.get(d.enforcementLevel, "advisory")
    return Violation(policy=d.policyName, enforcement="mandatory" if level == "remediate" else level,
                     urn=d.urn or resource_urn, message=message, description=d.description,
                     severity=_SEVERITIES[d.severity])


def pack_problem(pack_dir: Path) -> str | None:
    """Why `pack_dir` is not a policy pack (None if it is): checked before any preview work."""
    if not Path(pack_dir).is_dir():
        return f"policy pack {pack_dir}: no such directory"
    if not (Path(pack_dir) / "PulumiPolicy.yaml").is_file():
        return f"{pack_dir} is not a policy pack: PulumiPolicy.yaml is missing"
    return None


def check_policies(run: CapturedRun, pack_dir: Path, *,
                   policy_config: Mapping[str, Mapping[str, Any]] | None = None, served: bool = False) -> PolicyReport:
    """Analyze every resource of `run` and the whole stack with the pack in `pack_dir`: in this process
    (the default: the same servicer, each resource converted once), or `served` as the engine runs it."""
    from infra.offline.gc_policy import quiet_collector

    kind = ServedPolicyPack if served else InProcessPolicyPack
    with quiet_collector(), kind(pack_dir, project=run.project, stack=run.stack) as pack:
        return pack.check(run, policy_config)


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.policy_check Pulumi.dev.yaml Pulumi.prod.yaml`: preview each stack file under mocks,
    run the pack on it, print the report; exit 1 if any stack has a mandatory violation, 2 on bad config
    or a missing pack."""
    import argparse

    from rich.console import Console

    from infra.errors import ConfigError
    from infra.offline.run import run_stack
    from infra.planning.plan import plan_stack_file

    parser = argparse.ArgumentParser(prog="python -m infra.policy_check", description=main.__doc__.splitlines()[0])
    parser.add_argument("stack_files", nargs="+", type=Path)
    parser.add_argument("--policy-pack", type=Path, default=Path(__file__).resolve().parents[2] / "policies")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if (problem := pack_problem(args.policy_pack)) is not None:  # before any planning or preview
        print(f"error: {problem}", file=sys.stderr)
        return 2  # a bad argument, like a bad stack file: nothing ran
    console, worst, results = Console(), 0, {}
    # Every file is validated (the same validation as the preview and the sizing) before anything
    # runs or prints, so one bad file among several leaves no partial report on stdout.
    invalid = []
    for path in args.stack_files:
        try:
            plan_stack_file(path)
        except ConfigError as exc:
            invalid.append(f"error: {path}: {exc}")
        except Exception as exc:  # a defect, not bad input: say what, without a traceback
            print(f"error: {path}: planning failed: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
            return 1
    if invalid:
        print("\n".join(invalid), file=sys.stderr)
        return 2
    for path in args.stack_files:
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        try:
            run = run_stack(path, stack)
            report = check_policies(run, args.policy_pack)
        except ConfigError as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        except PolicyPackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:  # the program failed: say what, not where
            print(f"error: {path}: the program failed: {str(exc).strip() or type(exc).__name__}", file=sys.stderr)
            return 1
        worst = max(worst, report.exit_code)
        if args.json:
            results[stack] = report.to_json()
        else:
            console.rule(f"stack {stack}")
            render_report(report, console)
    if args.json:
        print(json.dumps(results, indent=2))
    return worst


if __name__ == "__main__":
    sys.exit(main())
