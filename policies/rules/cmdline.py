"""Container command lines read as the programs read them.

A pod's argv is `command` (or the image's entrypoint) followed by `args`; a `sh -c` script is split into
its simple commands. Which program runs is the basename of argv[0], or the image when only `args` are
given (the official images' entrypoints pass leading options to the server: mongo's
docker-entrypoint.sh, vllm/vllm-openai's `vllm serve`). Options are matched the way each parser does:
`--opt value` and `--opt=value`; mongod (boost program_options) takes them verbatim; vLLM's argparse
(FlexibleArgumentParser) also accepts underscores and unambiguous prefixes.

Facts:
- mongod without `--tlsMode` has TLS disabled; `disabled`/`allowTLS`/`preferTLS` accept plain connections
  (https://www.mongodb.com/docs/manual/reference/program/mongod/#std-option-mongod.--tlsMode).
- mongod enforces authorization with `--auth`, or implicitly with `--keyFile` / `--clusterAuthMode`
  (https://www.mongodb.com/docs/manual/core/security-internal-authentication/: "Enforcing internal
  authentication also enforces user access control"); `--noauth` and `--transitionToAuth` accept anyone.
- vLLM `--api-key` takes the key itself (`VLLM_API_KEY` from a Secret is the safe spelling);
  `--trust-remote-code` executes Python shipped with the model repository
  (https://docs.vllm.ai/en/latest/configuration/engine_args.html).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .core import CRITICAL, HIGH, MANDATORY, Resource, as_list, is_unknown, rule
from .k8s_security import POD_OWNERS, containers, pod_spec

SHELLS = ("sh", "bash", "ash", "dash", "zsh", "busybox")
_ENV_REF = re.compile(r"^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$|^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


@dataclass(frozen=True)
class Invocation:
    """One simple command: the program's name and its arguments."""

    program: str
    args: tuple[str, ...]
    container: str


def _image_program(image: Any) -> str:
    """`docker.io/library/mongo:8.0.17` -> `mongo`; `vllm/vllm-openai:v0.24.0` -> `vllm-openai`."""
    if not isinstance(image, str) or is_unknown(image):
        return ""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


_IMAGE_PROGRAMS = {"mongo": "mongod", "mongodb-community-server": "mongod", "vllm-openai": "vllm",
                   "vllm-openai-rocm": "vllm"}


def _split_script(script: str) -> list[list[str]]:
    """A shell script -> its simple commands (split on ; && || | & and newlines); [] if it cannot be lexed."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:
        return [script.split()]
    commands, current = [], []
    for token in tokens:
        if token and set(token) <= set(";&|"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def _strip_wrappers(argv: list[str]) -> list[str]:
    """`exec`, `env A=B`, `python -m vllm.entrypoints.openai.api_server` -> the real program first."""
    while argv and (argv[0] in ("exec", "env", "nohup", "tini", "--", "dumb-init") or
                    (argv[0] != "env" and "=" in argv[0] and not argv[0].startswith("-"))):
        argv = argv[1:]
    if argv and posixpath.basename(argv[0]).startswith("python") and len(argv) > 2 and argv[1] == "-m":
        module = argv[2]
        if module.startswith("vllm"):
            return ["vllm", *argv[3:]]
        return [module, *argv[3:]]
    return argv


# Reserved words that may start a simple command in a script (`until curl ...; do ...`, `if mongod ...`).
SHELL_KEYWORDS = ("if", "then", "else", "elif", "while", "until", "do", "!", "{", "time")


def _strip_keywords(argv: list[str]) -> list[str]:
    """`until curl -k ...`, `if ! mongodump ...` -> the program the keyword runs first."""
    while argv and argv[0] in SHELL_KEYWORDS:
        argv = argv[1:]
    return argv


def invocations(c: dict[str, Any]) -> list[Invocation]:
    """Every simple command a container runs, as its program would receive it."""
    name = str(c.get("name"))
    command = [str(x) for x in as_list(c.get("command")) if not is_unknown(x)]
    args = [str(x) for x in as_list(c.get("args")) if not is_unknown(x)]
    if not command:
        program = _IMAGE_PROGRAMS.get(_image_program(c.get("image")), _image_program(c.get("image")))
        if args and not args[0].startswith("-"):
            command, args = [args[0]], args[1:]  # the entrypoint execs a program named in args
        else:
            return [Invocation(program, tuple(args), name)] if program else []
    argv = command + args
    base = posixpath.basename(argv[0])
    if base in SHELLS and "-c" in argv[1:]:
        script = argv[argv.index("-c") + 1] if argv.index("-c") + 1 < len(argv) else ""
        out = []
        for simple in _split_script(script):
            simple = _strip_wrappers(_strip_keywords(simple))
            if simple:
                out.append(Invocation(posixpath.basename(simple[0]), tuple(simple[1:]), name))
        return out
    argv = _strip_wrappers(argv)
    return [Invocation(posixpath.basename(argv[0]), tuple(argv[1:]), name)] if argv else []


def options(args: tuple[str, ...], *, normalize_underscores: bool = False) -> list[tuple[str, str | None]]:
    """`--a x --b=y -c --flag` -> [("--a", "x"), ("--b", "y"), ("-c", None), ("--flag", None)].

    A value is the next token when it does not start with '-' (every option named below takes one
    value or none; a flag followed by a positional is read as flag + value, which only errs towards
    reporting)."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-") and token != "-":
            name, eq, value = token.partition("=")
            if normalize_underscores and name.startswith("--"):
                name = "--" + name[2:].replace("_", "-")
            if eq:
                out.append((name, value))
            elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                out.append((name, args[i + 1]))
                i += 1
            else:
                out.append((name, None))
        i += 1
    return out


def _has(opts: list[tuple[str, str | None]], *names: str) -> list[str | None]:
    return [v for n, v in opts if n in names]


FALSE = ("false", "0", "no", "off", "disabled", "none")


def mongod_problems(inv: Invocation) -> Iterator[str]:
    opts = options(inv.args)
    if _has(opts, "--config", "-f"):
        return  # options live in a file the pack cannot read
    where = f"container {inv.container}: mongod"
    modes = _has(opts, "--tlsMode", "--sslMode")
    mode = modes[-1] if modes else None
    if mode is None:
        yield f"{where} has no --tlsMode: TLS is disabled by default"
    elif mode not in ("requireTLS", "requireSSL"):
        yield f"{where} --tlsMode {mode} accepts plain-text connections; use requireTLS"
    for flag in ("--tlsAllowInvalidCertificates", "--tlsAllowInvalidHostnames", "--sslAllowInvalidCertificates"):
        if _has(opts, flag):
            yield f"{where} {flag}: peers' certificates are not verified"
    if _has(opts, "--noauth"):
        yield f"{where} --noauth: anyone who reaches the port is an administrator"
    elif _has(opts, "--transitionToAuth"):
        yield f"{where} --transitionToAuth accepts unauthenticated connections"
    elif not (_has(opts, "--auth") or _has(opts, "--keyFile") or
              any(v not in (None, "") for v in _has(opts, "--clusterAuthMode"))):
        yield f"{where} without --auth, --keyFile or --clusterAuthMode: authorization is off"


VLLM_OPTIONS = ("--api-key", "--trust-remote-code")


def _vllm_option(name: str) -> str:
    """argparse prefix matching: `--trust-remote` is `--trust-remote-code` (unique prefixes of >= 9 chars)."""
    for full in VLLM_OPTIONS:
        if name == full or (len(name) >= 9 and full.startswith(name)):
            return full
    return name


def vllm_problems(inv: Invocation, secret_env: set[str]) -> Iterator[str]:
    where = f"container {inv.container}: vLLM"
    for name, value in options(inv.args, normalize_underscores=True):
        name = _vllm_option(name)
        if name == "--api-key" and value:
            ref = _ENV_REF.match(value)
            if not ref or (ref.group(1) or ref.group(2)) not in secret_env:
                yield f"{where} --api-key is given literally on the command line (use VLLM_API_KEY from a Secret)"
        if name == "--trust-remote-code" and (value is None or value.lower() not in FALSE):
            yield f"{where} --trust-remote-code runs code from the model repository"


# Flags that switch off authentication or certificate checks in common servers and clients.
INSECURE_FLAGS = ("--insecure", "--insecure-skip-tls-verify", "--no-verify", "--no-verify-ssl", "--skip-tls-verify",
                  "--tls-skip-verify", "--disable-tls", "--disable-ssl", "--no-tls", "--no-ssl", "--no-auth",
                  "--disable-auth", "--noauth", "--allow-insecure", "--insecure-port", "--trust-remote-code",
                  "--tlsAllowInvalidCertificates", "--tlsAllowInvalidHostnames", "-k")
BOOLEAN_SECURITY = ("--tls", "--ssl", "--auth", "--tls-verify", "--tlsverify", "--verify", "--verify-ssl",
                    "--ssl-verify", "--authentication", "--authorization", "--secure")
INSECURE_VALUES = {"--anonymous-auth": ("true",), "--authorization-mode": ("AlwaysAllow",),
                   "--auth-mode": ("none", "off"), "--authentication-mode": ("none", "off"),
                   "--security": ("none", "off", "disabled")}
CURL_LIKE = ("curl",)


def insecure_flag_problems(inv: Invocation) -> Iterator[str]:
    where = f"container {inv.container}: {inv.program}"
    for name, value in options(inv.args):
        if name == "-k" and inv.program not in CURL_LIKE:
            continue
        if name in INSECURE_FLAGS and (value is None or value.lower() not in FALSE or name == "-k"):
            if name in ("--noauth", "--trust-remote-code") and inv.program in ("mongod", "vllm"):
                continue  # reported by the program's own rule
            yield f"{where} {name}: switches off authentication or certificate checks"
        elif name in BOOLEAN_SECURITY and value is not None and value.lower() in FALSE:
            yield f"{where} {name}={value}: switches off authentication or TLS"
        elif name in INSECURE_VALUES and value is not None and value.lower() in \
                (v.lower() for v in INSECURE_VALUES[name]):
            yield f"{where} {name}={value}: switches off authentication"


def _secret_env(c: dict[str, Any]) -> set[str]:
    return {str(e.get("name")) for e in as_list(c.get("env"))
            if isinstance(e, dict) and get_secret_ref(e)}


def get_secret_ref(env: dict[str, Any]) -> bool:
    value_from = env.get("valueFrom")
    return isinstance(value_from, dict) and isinstance(value_from.get("secretKeyRef"), dict)


@rule("k8s-mongod-tls-and-auth",
      "mongod command lines (the pod's command and args, read as mongod reads them) require TLS (--tlsMode "
      "requireTLS) and authorization (--auth, --keyFile or --clusterAuthMode; never --noauth).",
      enforcement=MANDATORY, severity=CRITICAL, types=POD_OWNERS)
def mongod_tls_and_auth(r: Resource, config) -> Iterator[str]:
    for c in containers(pod_spec(r)):
        for inv in invocations(c):
            if inv.program == "mongod":
                yield from mongod_problems(inv)


@rule("k8s-vllm-safe-flags",
      "vLLM servers never get the API key literally on the command line and never --trust-remote-code.",
      enforcement=MANDATORY, severity=HIGH, types=POD_OWNERS)
def vllm_safe_flags(r: Resource, config) -> Iterator[str]:
    for c in containers(pod_spec(r)):
        for inv in invocations(c):
            if inv.program == "vllm" or (inv.program.startswith("vllm") and inv.args[:1] == ("serve",)):
                yield from vllm_problems(inv, _secret_env(c))


@rule("k8s-no-insecure-flags",
      "No container runs a program with flags that switch off authentication or certificate verification "
      "(--insecure, --tls=false, --no-verify, --anonymous-auth=true, curl -k, ...).",
      enforcement=MANDATORY, severity=HIGH, types=POD_OWNERS)
def no_insecure_flags(r: Resource, config) -> Iterator[str]:
    for c in containers(pod_spec(r)):
        for inv in invocations(c):
            yield from insecure_flag_problems(inv)


RULES = [mongod_tls_and_auth, vllm_safe_flags, no_insecure_flags]
