"""The pull-request comment: the picture, the sizing diff and the policy table for each stack."""

from __future__ import annotations

from infra.offline.pr_comment import MARKER, policy_markdown, render_comment
from tests.factories import ROOT


def test_the_comment_has_a_diagram_a_sizing_diff_and_a_policy_table_per_stack():
    policy = {"prod": {"pack": "rollout-policies", "version": "1.0.0", "policies": 60, "resources": 300,
                       "passed": False, "mandatory": 1, "advisory": 0,
                       "violations": [{"policy": "iam-no-wildcard-admin", "enforcement": "mandatory",
                                       "severity": "critical", "urn": "urn:pulumi:prod::p::aws:iam/policy:Policy::x",
                                       "message": "Action '*' | Resource '*'"}]}}
    text = render_comment([("dev", ROOT / "Pulumi.dev.yaml"), ("prod", ROOT / "Pulumi.prod.yaml")], policy)
    assert text.startswith(MARKER)
    assert text.count("```mermaid") == 2 and "### Stack `prod`" in text
    assert "Re-solve vs `Pulumi.prod.sizing.json`" in text and "| use1 | p4d.24xlarge |" in text
    assert "**failed**" in text and "| `iam-no-wildcard-admin` | mandatory | critical | x |" in text
    assert "Action '*' \\| Resource '*'" in text  # a pipe in a message does not break the table
    assert "No policy result for this stack." in text  # dev had none


def test_a_passing_report_says_so():
    text = policy_markdown({"pack": "p", "version": "1", "policies": 3, "resources": 9, "passed": True,
                            "mandatory": 0, "advisory": 0, "violations": []})
    assert "passed" in text and "|" not in text
