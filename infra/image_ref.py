"""Container image references parsed by the OCI distribution grammar, so a typo (a space, an upper-case
repository, a truncated digest) is a config error rather than an ImagePullBackOff in every region.

Grammar (github.com/distribution/reference, reference.go):
    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*   (at most 255 characters; the first
                  component is a domain only with a '.' or ':' or as localhost, as Docker normalises it)
    domain     := host [":" port]
    path-comp  := [a-z0-9]+ ((\\.|_|__|-+) [a-z0-9]+)*
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" encoded; sha256 is 64 hex digits, sha512 128
(https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests for the registered algorithms).
"""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
_DOMAIN = rf"(?:{_HOST}|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_ALGORITHM = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*$")
DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
MAX_NAME = 255


def image_problem(reference: str) -> str | None:
    """None for a valid reference, else what is wrong with it."""
    if reference != reference.strip() or any(c.isspace() for c in reference):
        return "contains white space"
    rest, at, digest = reference.partition("@")
    name, tag = rest, None
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
    if not name:
        return "no repository name"
    if len(name) > MAX_NAME:
        return f"the repository name is longer than {MAX_NAME} characters"
    first, _, remainder = name.partition("/")
    # Docker's normalisation: the first component is a registry only with a '.' or ':' or as localhost.
    has_domain = bool(remainder) and ("." in first or ":" in first or first == "localhost")
    path = remainder if has_domain else name
    if (has_domain and not _DOMAIN_RE.match(first)) or not _PATH.match(path):
        return (f"repository {name!r} is not a valid name (lowercase letters, digits and . _ - separators, "
                "an optional registry host first)")
    if tag is not None and not _TAG.match(tag):
        return f"tag {tag!r} is not valid (letters, digits, _ . -; at most 128; not starting with . or -)"
    if at:
        algorithm, sep, encoded = digest.partition(":")
        if not sep or not _ALGORITHM.match(algorithm):
            return f"digest {digest!r} is not algorithm:hex"
        if algorithm not in DIGEST_LENGTHS:
            return f"digest algorithm {algorithm!r} is not one of {', '.join(DIGEST_LENGTHS)}"
        if not re.fullmatch(r"[a-f0-9]+", encoded) or len(encoded) != DIGEST_LENGTHS[algorithm]:
            return f"a {algorithm} digest is {DIGEST_LENGTHS[algorithm]} lowercase hex digits, got {len(encoded)}"
    return None
