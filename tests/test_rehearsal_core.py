"""The rehearsal frame: documents become views, rules register once, reports carry their sources."""

from __future__ import annotations

from infra.rehearsal import RunView, Violation, rehearse
from infra.rehearsal.registry import Context, registered_rules, rule

STACK = "urn:pulumi:t::p::"


def doc(*resources):
    return {"stack": "t", "resources": list(resources), "outputs": {}}


def res(name, typ="aws:s3/bucket:Bucket", parent="", depends=(), props=None, **inputs):
    return {"urn": f"{STACK}{typ}::{name}", "type": typ, "name": name, "parent": parent, "inputs": inputs,
            "options": {"dependsOn": list(depends), "propertyDependencies": props or {}}}


def test_dependencies_include_inputs_and_components_children():
    comp = res("c", typ="rollout:x:C")
    child = res("child", parent=comp["urn"])
    a = res("a", depends=[comp["urn"]])
    b = res("b", props={"x": [a["urn"]]})
    view = RunView.from_document(doc(comp, child, a, b))
    rb = view.by_urn[b["urn"]]
    assert rb.dependencies == {a["urn"]}
    assert view.transitive_dependencies(rb) == {a["urn"], comp["urn"], child["urn"]}
    assert not view.by_urn[comp["urn"]].custom


def test_a_registered_rule_runs_and_its_source_fills_each_violation():
    @rule("test/always-one", stage="test-only", source="https://example.test/fact")
    def always(ctx: Context):
        for r in ctx.run:
            yield Violation("test/always-one", r.urn, "seen")

    report = rehearse(doc(res("a")), stages=["test-only"])
    assert report.rules == ("test/always-one",)
    assert [v.source for v in report.violations] == ["https://example.test/fact"]
    assert report.exit_code == 1
    assert rehearse(doc(), stages=["test-only"]).ok


def test_every_registered_rule_names_a_source_and_a_stage():
    for rule_id, r in registered_rules().items():
        if r.stage == "test-only":
            continue
        assert r.source.startswith(("http", "infra/", "docs/", "components/")), rule_id
        assert "/" in rule_id and r.stage, rule_id
