"""What both clouds accept as a tag: every plan tag becomes an AWS tag and a GCP label unchanged.

Pure (no pulumi import). Rules, as documented by each provider:
  - GCP labels (https://cloud.google.com/compute/docs/labeling-resources#requirements): key 1-63
    characters of lowercase letters, digits, '_' and '-', starting with a lowercase letter; value
    0-63 characters of the same set (may be empty); at most 64 labels per resource. (International
    lowercase letters are also allowed there; this program keeps to ASCII.)
  - AWS tags (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions):
    key 1-128 characters, value 0-256, letters, digits, spaces and `_ . : / = + - @`; the `aws:`
    prefix is reserved; at most 50 user tags per resource.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

GCP_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
GCP_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
AWS_TAG_CHARS = re.compile(r"[\w .:/=+\-@]*")  # \w: Unicode letters, digits and '_'
AWS_KEY_MAX, AWS_VALUE_MAX, AWS_MAX_TAGS, GCP_MAX_LABELS = 128, 256, 50, 64
# Keys the program sets itself on every resource (infra/planning/plan.py, components/tags.py).
RESERVED_KEYS = ("owner", "cost-center", "environment", "managed-by", "stack", "name")
BUILT_IN_COUNT = 6  # owner, cost-center, environment, managed-by, stack, Name


def key_problems(key: str) -> list[str]:
    out = []
    if key.lower() in RESERVED_KEYS:
        out.append(f"key {key!r} is set by the program itself ({', '.join(RESERVED_KEYS)})")
    if key.lower().startswith("aws:"):
        out.append(f"key {key!r}: AWS reserves the 'aws:' prefix")
    if not 1 <= len(key) <= AWS_KEY_MAX or not AWS_TAG_CHARS.fullmatch(key):
        out.append(f"key {key!r}: AWS tag keys are 1-{AWS_KEY_MAX} letters, digits, spaces or _.:/=+-@")
    if not GCP_LABEL_KEY.fullmatch(key):
        out.append(f"key {key!r}: GCP label keys start with a lowercase letter and have at most 63 "
                   "lowercase letters, digits, '_' or '-'")
    return out


def value_problems(key: str, value: str) -> list[str]:
    out = []
    if len(value) > AWS_VALUE_MAX or not AWS_TAG_CHARS.fullmatch(value):
        out.append(f"value of {key!r}: AWS tag values are 0-{AWS_VALUE_MAX} letters, digits, spaces or _.:/=+-@")
    if not GCP_LABEL_VALUE.fullmatch(value):
        out.append(f"value of {key!r}: GCP label values have at most 63 lowercase letters, digits, '_' or '-' "
                   f"(got {value[:70]!r})")
    return out


def tag_problems(extra: Mapping[str, str]) -> list[str]:
    """Why `extra` (user tags added to the built-in ones) would be refused by AWS or GCP."""
    out: list[str] = []
    limit = min(AWS_MAX_TAGS, GCP_MAX_LABELS) - BUILT_IN_COUNT
    if len(extra) > limit:
        out.append(f"{len(extra)} extra tags; at most {limit} fit next to the {BUILT_IN_COUNT} built-in ones "
                   f"(AWS allows {AWS_MAX_TAGS} per resource)")
    for key, value in extra.items():
        out += key_problems(key)
        out += value_problems(key, value)
    return out
