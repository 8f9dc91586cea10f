"""Secrets recognised by the shape of the value, wherever a manifest carries text: env values, command
lines, ConfigMap data, annotations, Helm values. A name (`PASSWORD`, `TOKEN`) is a hint the other rules
use; here an innocently named value is judged by what it is.

Shapes (formats published by their issuers):
- URIs with a password (`scheme://user:pass@host`, RFC 3986 userinfo);
- AWS access key ids (`AKIA`/`ASIA` + 16, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html);
- PEM private keys (RFC 7468 labels ending in `PRIVATE KEY`);
- GitHub tokens (`ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36, `github_pat_`,
  https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/);
- Hugging Face tokens (`hf_` + 34, https://huggingface.co/docs/hub/security-tokens);
- JWTs (three base64url parts, the first two JSON objects: `eyJ...`, RFC 7519);
- Google API keys (`AIza` + 35), Slack (`xox?-`), Stripe live keys (`sk_live_`);
- high-entropy literals: 24+ characters of base64 / base64url with a 16+ character run mixing upper case,
  lower case and digits, with >= 4.0 bits of Shannon entropy per character (random base64 of that length scores ~4.5;
  names, paths, ARNs and versions score below 3.8; hex digests are excluded as identifiers).

Messages name the place and the shape, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from .core import HIGH, MANDATORY, Param, Resource, as_list, get, is_unknown, rule
from .k8s_security import CONFIG_MAP, HELM, POD_OWNERS, containers, pod_spec

_PLACEHOLDER = re.compile(r"^\$\(?\{?[A-Za-z_][A-Za-z0-9_]*\}?\)?$")
_URI_CREDENTIALS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://([^/\s:@]+):([^/\s@]+)@")
SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("a JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Stripe live key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}\b")),
]
_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX = re.compile(r"^[0-9a-fA-F-]+$")
MIN_ENTROPY = 4.0


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(token: str, threshold: float) -> bool:
    if _HEX.match(token):
        return False  # digests, ids
    longest = max(re.split(r"[-_/]", token), key=len)  # words joined by separators are names, not keys
    classes = sum(1 for pattern in (r"[A-Z]", r"[a-z]", r"[0-9]") if re.search(pattern, longest))
    return len(longest) >= 16 and classes == 3 and entropy(token) >= threshold


def secret_shapes(value: str, threshold: float = MIN_ENTROPY) -> list[str]:
    """What secret-shaped things a text holds (empty: nothing)."""
    if not value or _PLACEHOLDER.match(value):
        return []
    found = []
    for match in _URI_CREDENTIALS.finditer(value):
        password = match.group(2)
        if not _PLACEHOLDER.match(password) and password not in ("*", "***", "<password>"):
            found.append("a URI with an embedded password")
            break
    found += [name for name, pattern in SHAPES if pattern.search(value)]
    if not found:
        for token in _TOKEN.findall(value):
            if _random_looking(token.strip("=-_/"), threshold):
                found.append(f"a high-entropy literal ({len(token)} characters)")
                break
    return found


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, text) in a nested value."""
    if is_unknown(value):
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


# Annotations that carry public identifiers, not secrets (role ARNs, certificate ARNs, config hashes).
IGNORED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _places(r: Resource) -> Iterator[tuple[str, str]]:
    annotations = get(r.props, "metadata.annotations", {})
    if isinstance(annotations, Mapping):
        for key, text in strings({k: v for k, v in annotations.items() if k not in IGNORED_ANNOTATIONS}):
            yield f"annotation {key}", text
    if r.type in POD_OWNERS:
        spec = pod_spec(r)
        template_annotations = get(r.props, "spec.template.metadata.annotations", {})
        if isinstance(template_annotations, Mapping):
            for key, text in strings(template_annotations):
                yield f"pod annotation {key}", text
        for c in containers(spec):
            name = c.get("name")
            for env in as_list(c.get("env")):
                if isinstance(env, dict) and isinstance(env.get("value"), str):
                    yield f"container {name} env {env.get('name')}", env["value"]
            for key in ("command", "args"):
                for i, text in enumerate(as_list(c.get(key))):
                    if isinstance(text, str) and not is_unknown(text):
                        yield f"container {name} {key}[{i}]", text
    elif r.type == CONFIG_MAP:
        for key, text in strings(r.props.get("data") or {}):
            yield f"data.{key}", text
    elif r.type in HELM:
        for key, text in strings(r.props.get("values") or {}):
            yield f"values.{key}", text


@rule("no-secret-shaped-literals",
      "No manifest carries a literal that is shaped like a secret (a URI with a password, an AWS access key id, "
      "a PEM private key, a GitHub / Hugging Face / Google / Slack token, a JWT, a high-entropy string) in env "
      "values, command lines, ConfigMap data, annotations or Helm values, whatever it is called.",
      enforcement=MANDATORY, severity=HIGH, types=(*POD_OWNERS, CONFIG_MAP, *HELM, "kubernetes:core/v1:Service",
                                                   "kubernetes:networking.k8s.io/v1:Ingress"),
      params={"minEntropyBits": Param("number", MIN_ENTROPY,
                                      "bits per character from which a 24+ character mixed literal is a secret")})
def no_secret_shaped_literals(r: Resource, config) -> Iterator[str]:
    threshold = float(config["minEntropyBits"])
    for where, text in _places(r):
        for shape in secret_shapes(text, threshold):
            yield f"{where} holds {shape}; take it from a Secret"


RULES = [no_secret_shaped_literals]
