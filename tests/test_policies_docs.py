"""docs/policies.md is generated from the pack and must not drift; the tagging list matches pulumi_aws."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from policies.docs import readme_section, render
from policies.rules import ALL_RULES
from policies.rules.tagging import TAGGABLE_AWS

ROOT = Path(__file__).resolve().parent.parent


def test_committed_docs_equal_the_generated_table():
    assert (ROOT / "docs" / "policies.md").read_text() == render(), \
        "regenerate: .venv/bin/python -m policies.docs > docs/policies.md"


def test_the_readme_lists_every_rule_as_generated():
    assert readme_section() in (ROOT / "README.md").read_text(), \
        "regenerate: .venv/bin/python -m policies.docs --readme"


def test_docs_list_every_rule_with_its_enforcement():
    text = render()
    for r in ALL_RULES:
        assert f"| `{r.name}` | {r.enforcement.value} |" in text


def _aws_source(token: str) -> str:
    """The generated SDK file of a resource type (read as text: importing pulumi_aws modules takes seconds)."""
    module, name = token.split(":")[1].split("/")[0], token.split(":")[2]
    file_name = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() + ".py"
    return (Path(importlib.util.find_spec("pulumi_aws").origin).parent / module / file_name).read_text()


@pytest.mark.parametrize("token", TAGGABLE_AWS)
def test_every_aws_type_in_the_tagging_rule_accepts_tags(token):
    assert '__props__.__dict__["tags"] = tags' in _aws_source(token)


def test_the_tags_probe_tells_untaggable_types_apart():
    assert '__props__.__dict__["tags"] = tags' not in _aws_source("aws:ec2/route:Route")
