"""The change rehearsal: each resource's action as the engine decides it, and the edits a real `up`
refuses or regrets, each rule shown on a minimal pair of runs that breaks it and one that does not."""

from __future__ import annotations

import json

import pytest

from infra.rehearsal.change import changed_paths, classify, rehearse_change, sent_inputs
from infra.rehearsal.force_new import FORCE_NEW, path_matches
from infra.rehearsal.model import RunView

P = "urn:pulumi:prod::global-ai-rollout::"
REGION = P + "rollout:region:Region::use1"


def res(name, typ, inputs, *, parent="", protect=False, ignore=(), props=None, provider="", replace_on=()):
    return {"urn": f"{P}{typ}::{name}", "type": typ, "name": name, "parent": parent, "inputs": inputs,
            "options": {"protect": protect, "ignoreChanges": list(ignore), "propertyDependencies": props or {},
                        "dependsOn": [], "provider": provider or None, "replaceOnChanges": list(replace_on)}}


def doc(*resources):
    region = {"urn": REGION, "type": "rollout:region:Region", "name": "use1", "parent": "", "inputs": {},
              "options": {}}
    return {"stack": "prod", "resources": [region, *resources], "outputs": {}}


NG = "aws:eks/nodeGroup:NodeGroup"


def node_group(lo, want, hi, **kw):
    return res("use1-gpu", NG, {"clusterName": "use1", "instanceTypes": ["g5.xlarge"],
                                "scalingConfig": {"minSize": lo, "desiredSize": want, "maxSize": hi},
                                "version": "1.36"}, parent=REGION, ignore=["scalingConfig.desiredSize"], **kw)


def rules(report):
    return sorted({v.rule for v in report.violations})


# --- classification ------------------------------------------------------------------------------

def test_flatten_diff_and_ignore_changes_send_the_state_value():
    old, new = node_group(2, 2, 6), node_group(5, 5, 9)
    view_old, view_new = RunView.from_document(doc(old)), RunView.from_document(doc(new))
    o, n = view_old.by_urn[old["urn"]], view_new.by_urn[new["urn"]]
    sent = sent_inputs(o, n)
    assert sent["scalingConfig"] == {"minSize": 5, "desiredSize": 2, "maxSize": 9}
    assert changed_paths(o.inputs, sent) == ("scalingConfig.maxSize", "scalingConfig.minSize")


@pytest.mark.parametrize(("changed", "listed", "hit"), [
    ("instanceTypes.0", "instanceTypes", True),
    ("launchTemplate.version", "launchTemplate.id", False),
    ("launchTemplate", "launchTemplate.id", True),  # the whole block replaced
    ("spec.template.spec.containers.0.image", "spec.template", True),
    ("spec.replicas", "spec.selector", False),
    ("anything.at.all", "*", True),
    ("items.3.key", "items.*.key", True),
])
def test_force_new_paths_match_at_or_below_and_whole_blocks(changed, listed, hit):
    assert path_matches(changed, listed) is hit


def test_a_force_new_change_replaces_and_an_other_change_updates():
    base = res("b", "aws:s3/bucket:Bucket", {"bucket": "a", "tags": {"x": "1"}})
    renamed = res("b", "aws:s3/bucket:Bucket", {"bucket": "b", "tags": {"x": "1"}})
    retagged = res("b", "aws:s3/bucket:Bucket", {"bucket": "a", "tags": {"x": "2"}})
    assert classify(RunView.from_document(doc(base)), RunView.from_document(doc(renamed)))[1].action == "replace"
    assert classify(RunView.from_document(doc(base)), RunView.from_document(doc(retagged)))[1].action == "update"
    assert classify(RunView.from_document(doc(base)), RunView.from_document(doc(base)))[1].action == "same"


def test_replace_on_changes_is_honoured():
    a = res("s", "kubernetes:core/v1:ServiceAccount", {"metadata": {"labels": {"a": "1"}}}, replace_on=["metadata"])
    b = res("s", "kubernetes:core/v1:ServiceAccount", {"metadata": {"labels": {"a": "2"}}}, replace_on=["metadata"])
    assert classify(RunView.from_document(doc(a)), RunView.from_document(doc(b)))[1].action == "replace"


def test_a_replacement_cascades_through_force_new_inputs_only():
    vpc_old = res("vpc", "aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"})
    vpc_new = res("vpc", "aws:ec2/vpc:Vpc", {"cidrBlock": "10.1.0.0/16"})
    subnet = res("sn", "aws:ec2/subnet:Subnet", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/20"},
                 props={"vpcId": [vpc_old["urn"]]})
    flow = res("fl", "aws:cloudwatch/logGroup:LogGroup", {"kmsKeyId": "k"}, props={"kmsKeyId": [vpc_old["urn"]]})
    actions = {c.urn.rsplit("::", 1)[1]: c.action
               for c in classify(RunView.from_document(doc(vpc_old, subnet, flow)),
                                 RunView.from_document(doc(vpc_new, subnet, flow)))}
    assert actions == {"use1": "same", "vpc": "replace", "sn": "replace", "fl": "update"}


# --- verdicts, both sides of each rule ---------------------------------------------------------------

def test_stateful_replacement_is_refused_and_a_stateless_one_is_not():
    old = res("vpc", "aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"})
    new = res("vpc", "aws:ec2/vpc:Vpc", {"cidrBlock": "10.1.0.0/16"})
    assert rules(rehearse_change(doc(old), doc(new))) == ["change/stateful-replace"]
    job_old = res("j", "kubernetes:batch/v1:Job", {"spec": {"template": {"spec": {"x": 1}}}})
    job_new = res("j", "kubernetes:batch/v1:Job", {"spec": {"template": {"spec": {"x": 2}}}})
    report = rehearse_change(doc(job_old), doc(job_new))
    assert report.ok and [c.action for c in report.of("replace")] == ["replace"]


def test_protected_resources_are_never_replaced_or_deleted_silently():
    old = res("k", "aws:kms/key:Key", {"keyUsage": "ENCRYPT_DECRYPT"}, protect=True, parent=REGION)
    new = res("k", "aws:kms/key:Key", {"keyUsage": "SIGN_VERIFY"}, protect=True, parent=REGION)
    assert rules(rehearse_change(doc(old), doc(new))) == ["change/protected-replace"]
    assert rules(rehearse_change(doc(old), doc())) == ["change/protected-delete"]
    removal = rehearse_change(doc(old), doc(), removing=["use1"])
    assert removal.ok and removal.steps and old["urn"] in removal.steps[0]


def test_stateful_deletes_need_the_region_removed_on_purpose():
    sts = res("m", "kubernetes:apps/v1:StatefulSet", {"spec": {}}, parent=REGION)
    assert rules(rehearse_change(doc(sts), doc())) == ["change/stateful-delete"]
    assert rehearse_change(doc(sts), doc(), removing=["use1"]).ok
    pool = node_group(0, 1, 3)  # a pool of a type the plan dropped: the new one exists first
    assert rehearse_change(doc(pool), doc()).ok


def test_a_ca_key_is_secret_material_a_leaf_key_is_not():
    key = res("ca-key", "tls:index/privateKey:PrivateKey", {"algorithm": "ECDSA"})
    ca = res("ca", "tls:index/selfSignedCert:SelfSignedCert", {"isCaCertificate": True},
             props={"privateKeyPem": [key["urn"]]})
    leaf = res("leaf-key", "tls:index/privateKey:PrivateKey", {"algorithm": "ECDSA"})
    assert rules(rehearse_change(doc(key, ca, leaf), doc(ca, leaf))) == ["change/stateful-delete"]
    assert rehearse_change(doc(key, ca, leaf), doc(key, ca)).ok


def test_eks_scaling_update_with_stale_desired_is_refused():
    # the case: min 2 -> 5 with the state's desired 2 still sent
    assert rules(rehearse_change(doc(node_group(2, 2, 6)), doc(node_group(5, 5, 9)))) == ["change/refused-update"]
    # max below the state's desired is refused too
    assert rules(rehearse_change(doc(node_group(0, 4, 6)), doc(node_group(0, 4, 2)))) == ["change/refused-update"]
    # the program's shape: created with 1 node, min 0: any ceiling >= 1 is accepted
    assert rehearse_change(doc(node_group(0, 1, 6)), doc(node_group(0, 1, 2))).ok
    assert rehearse_change(doc(node_group(0, 1, 2)), doc(node_group(0, 1, 40))).ok


def control_plane(version, typ="aws:eks/cluster:Cluster", field="version"):
    return res("use1-eks", typ, {"name": "use1", field: version})


@pytest.mark.parametrize(("old", "new", "ok"), [("1.35", "1.36", True), ("1.34", "1.36", False),
                                                ("1.36", "1.35", False), ("1.36", "1.36", True)])
def test_control_planes_upgrade_one_minor_at_a_time(old, new, ok):
    assert rehearse_change(doc(control_plane(old)), doc(control_plane(new))).ok is ok
    gke = ("gcp:container/cluster:Cluster", "minMasterVersion")
    assert rehearse_change(doc(control_plane(old, *gke)), doc(control_plane(new, *gke))).ok is ok


def test_nodes_never_run_ahead_of_their_control_plane():
    cluster = control_plane("1.36")
    pool_ok = res("ng", NG, {"version": "1.35"}, props={"clusterName": [cluster["urn"]]})
    pool_ahead = res("ng", NG, {"version": "1.37"}, props={"clusterName": [cluster["urn"]]})
    assert rehearse_change(doc(cluster, pool_ok), doc(cluster, pool_ok)).ok
    assert rules(rehearse_change(doc(cluster, pool_ok), doc(cluster, pool_ahead))) == ["change/refused-update"]


def test_api_immutable_fields_are_refused_unless_replaced_on_change():
    typ = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
    a = res("tgb", typ, {"spec": {"targetGroupARN": "arn:1"}})
    b = res("tgb", typ, {"spec": {"targetGroupARN": "arn:2"}})
    assert rules(rehearse_change(doc(a), doc(b))) == ["change/immutable-update"]
    b_replace = res("tgb", typ, {"spec": {"targetGroupARN": "arn:2"}}, replace_on=["spec.targetGroupARN"])
    assert rehearse_change(doc(a), doc(b_replace)).ok


def test_the_report_serialises():
    report = rehearse_change(doc(node_group(2, 2, 6)), doc(node_group(5, 5, 9)))
    data = json.loads(json.dumps(report.to_json()))
    assert data["counts"]["update"] == 1 and data["violations"][0]["rule"] == "change/refused-update"


# --- the table covers what the program declares --------------------------------------------------------

def _preview_document(stack):
    from infra.config import stack_file_path
    from infra.offline.preview import as_json
    from infra.offline.run import run_stack

    return as_json(run_stack(stack_file_path(stack), stack))


@pytest.fixture(scope="module")
def dev_preview_document():
    return _preview_document("dev")


@pytest.fixture(scope="module")
def prod_preview_document():
    return _preview_document("prod")


def test_every_declared_type_has_a_force_new_entry(dev_preview_document, prod_preview_document):
    declared = {r["type"] for d in (dev_preview_document, prod_preview_document) for r in d["resources"]
                if not r["type"].startswith(("rollout:", "pulumi:"))}
    missing = sorted(declared - FORCE_NEW.keys())
    assert not missing, f"add these types to infra/rehearsal/force_new.py with their source: {missing}"
    assert all(entry.source.startswith("https://") for entry in FORCE_NEW.values())


# --- the standard edits, end to end on the dev stack (prod: `make rehearse-changes`, run by CI) ------------

@pytest.mark.parametrize("edit_name", ["demand +3 rps", "demand -3 rps", "price x1.5 on the most used GPU type",
                                       "Kubernetes minor upgrade"])
def test_standard_edits_of_dev_replace_nothing_stateful(edit_name, dev_preview_document, tmp_path):
    import yaml

    from infra.config import stack_file_path
    from infra.offline.change import preview_document
    from infra.offline.change_battery import edits_for, sides

    stack_file = stack_file_path("dev")
    edit = next(e for e in edits_for(yaml.safe_load(stack_file.read_text())) if e.name == edit_name)
    with edit.context():
        deployed, edited = sides(edit, stack_file, tmp_path)
        old = dev_preview_document if deployed == stack_file else preview_document(deployed, "dev")
        report = rehearse_change(old, preview_document(edited, "dev"), removing=edit.removing)
    assert report.ok, [v.message for v in report.violations]
    counts = report.counts()
    assert counts["update"] + counts["create"] + counts["delete"] > 0, "the edit changed nothing: it tests nothing"


def test_a_vpn_is_re_paired_only_while_its_region_keeps_another():
    from types import SimpleNamespace as Link

    def vpn(link_id):
        comp = res(f"rollout-links-{link_id}", "rollout:links:HaVpn", {})
        tunnel = res(f"rollout-links-{link_id}-tunnel-0", "gcp:compute/vPNTunnel:VPNTunnel",
                     {"peerIp": "203.0.113.1"}, parent=comp["urn"])
        return [comp, tunnel]

    near, far, new = (Link(id=f"vpn-use1-{g}", aws_region="use1") for g in ("euw4", "ane1", "euw3"))
    before = doc(*vpn(near.id), *vpn(far.id))
    after = doc(*vpn(near.id), *vpn(new.id))
    report = rehearse_change(before, after, links=((near, far), (near, new)))
    assert report.ok and any("re-pairing" in s for s in report.steps)
    # without the topologies, or when the region keeps no untouched VPN, losing tunnels is refused
    assert rules(rehearse_change(before, after)) == ["change/stateful-delete"]
    both_moved = doc(*vpn(new.id))
    assert rules(rehearse_change(before, both_moved, links=((near, far), (new,)))) == ["change/stateful-delete"]


def test_a_removed_regions_links_and_per_location_resources_are_its_own():
    """Removing a region on purpose: its links (named for it, outside its Region component) and its
    per-location resources (named for its location) may go; another region's may not."""
    comp = res("rollout-links-vpn-aws1-ane1", "rollout:links:HaVpn", {})
    tunnel = res("rollout-links-vpn-aws1-ane1-tunnel-0", "gcp:compute/vPNTunnel:VPNTunnel", {"peerIp": "x"},
                 parent=comp["urn"])
    key = res("rollout-alarms-us-east-2-alerts-key", "aws:kms/key:Key", {"keyUsage": "ENCRYPT_DECRYPT"},
              protect=True)
    other = res("rollout-links-vpn-use1-ane1-tunnel-0", "gcp:compute/vPNTunnel:VPNTunnel", {"peerIp": "y"})
    before = doc(comp, tunnel, key, other)
    before["outputs"] = {"regions": {"aws1": {"location": "us-east-2"}, "use1": {"location": "us-east-1"}}}
    report = rehearse_change(before, doc(other), removing=["aws1"])
    assert report.ok and any(key["urn"] in s for s in report.steps)
    assert rules(rehearse_change(before, doc(comp, tunnel, key), removing=["aws1"])) == ["change/stateful-delete"]
