"""The database as the prod program declares it (under mocks): Kubernetes objects valid and strict,
member certificates covering their names, fixed addresses on the load balancers, private DNS in both
clouds with the same records, nothing secret in plain text, the load balancer controller pinned."""

from __future__ import annotations

import json
from functools import cache

import kubernetes_validate

from components.cluster.aws_load_balancer_controller import CHART_VERSION, SERVICE_ACCOUNT
from components.database.region_database import member_dns_names
from infra.offline.mock_runtime import SECRET
from tests.previews import stack_preview

DB_COMPONENTS = ("rollout:database:RegionDatabase", "rollout:database:ReplicaSet")


@cache
def prod():
    run, plan = stack_preview("prod")
    return run, plan, plan.database


def ours(resources):
    """Only what the database components declared (the traffic layer has Route 53 zones and records
    too, the serving stack Services): resources with a RegionDatabase or ReplicaSet ancestor."""
    mine = {r.urn for r in under_database(prod()[0])}
    return [r for r in resources if r.urn in mine]


def under_database(run):
    by_urn = {r.urn: r for r in run.resources}

    def inside(r):
        node = by_urn.get(r.parent)
        while node is not None:
            if node.type in DB_COMPONENTS:
                return True
            node = by_urn.get(node.parent)
        return False

    return [r for r in run.resources if inside(r)]


def test_every_database_kubernetes_object_validates_strictly():
    run, plan, _ = prod()
    version = next(iter(plan.clusters.values())).kubernetes_version
    objects = [r for r in under_database(run) if r.type.startswith("kubernetes:")]
    kinds = {o.type for o in objects}
    assert {"kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:Service", "kubernetes:batch/v1:Job",
            "kubernetes:batch/v1:CronJob", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:storage.k8s.io/v1:StorageClass"} <= kinds
    for obj in objects:
        body = dict(obj.inputs)
        if body.get("stringData") == SECRET:  # a whole secret map: its keys are checked in the test below
            body["stringData"] = {"redacted": "x"}
        assert kubernetes_validate.validate(body, version, strict=True) == version, obj.name


def test_one_protected_zone_pinned_stateful_set_per_member_with_retained_volumes():
    run, _, db = prod()
    sets = {s.inputs["metadata"]["name"]: s for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet"))}
    assert set(sets) == {m.name for m in db.members}
    for m in db.members:
        s = sets[m.name]
        assert s.protect
        spec = s.inputs["spec"]
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
        terms = spec["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == [m.zone]
        args = spec["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--tlsMode") + 1] == "requireTLS" and "x509" in args
        assert spec["template"]["spec"]["containers"][0]["image"] == db.image


def test_member_certificates_cover_every_name_and_both_uses():
    run, _, db = prod()
    requests = {r.name: r.inputs for r in ours(run.of_type("tls:index/certRequest:CertRequest"))}
    certs = {r.name: r.inputs for r in ours(run.of_type("tls:index/locallySignedCert:LocallySignedCert"))}
    for m in db.members:
        (name,) = [n for n in requests if n.endswith(f"-{m.name}-tls-csr")]
        assert set(requests[name]["dnsNames"]) == set(member_dns_names(db, m)) and m.host in requests[name]["dnsNames"]
        assert m.address in requests[name]["ipAddresses"]
        uses = certs[name.removesuffix("-csr") + "-cert"]["allowedUses"]
        assert {"server_auth", "client_auth"} <= set(uses)


def test_load_balancers_sit_at_the_planned_addresses_and_admit_only_member_ranges():
    run, _, db = prod()
    services = {s.inputs["metadata"]["name"]: s.inputs for s in ours(run.of_type("kubernetes:core/v1:Service"))}
    for m in db.members:
        svc = services[f"{m.name}-lb"]
        assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": m.pod}
        assert svc["spec"]["loadBalancerSourceRanges"] == list(db.member_ranges)
        notes = svc["metadata"]["annotations"]
        if m.cloud == "aws":
            assert notes["service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses"] == m.address
            assert notes["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
            assert notes["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
        else:
            assert svc["spec"]["loadBalancerIP"] == m.address
            assert notes["networking.gke.io/internal-load-balancer-allow-global-access"] == "true"
    assert services["mongodb"]["spec"]["publishNotReadyAddresses"] is True
    gcp_addresses = {a.inputs["address"] for a in ours(run.of_type("gcp:compute/address:Address"))}
    assert gcp_addresses == {m.address for m in db.members if m.cloud == "gcp"}
    reservations = ours(run.of_type("aws:ec2/subnetCidrReservation:SubnetCidrReservation"))
    assert reservations and all(r.inputs["reservationType"] == "explicit" for r in reservations)


def test_both_private_zones_hold_the_same_records_and_every_aws_vpc_is_associated():
    run, _, db = prod()
    (zone,) = ours(run.of_type("aws:route53/zone:Zone"))
    assert len(zone.inputs["vpcs"]) == sum(1 for r in ("use1", "usw2", "euc1"))
    r53 = {(r.inputs["name"], tuple(r.inputs["records"])) for r in ours(run.of_type("aws:route53/record:Record"))}
    cdns = {(r.inputs["name"].rstrip("."), tuple(r.inputs["rrdatas"]))
            for r in ours(run.of_type("gcp:dns/recordSet:RecordSet"))}
    assert r53 == cdns == {(h, (a,)) for h, a in db.dns_records()}
    (managed,) = ours(run.of_type("gcp:dns/managedZone:ManagedZone"))
    assert managed.inputs["visibility"] == "private"


def test_no_credential_in_plain_text_in_objects_or_outputs():
    run, _, _ = prod()
    for secret in ours(run.of_type("kubernetes:core/v1:Secret")):
        if secret.inputs["metadata"]["name"].startswith("mongodb"):
            data = secret.inputs["stringData"]
            assert data == SECRET or all(v == SECRET for k, v in data.items() if k != "ca.pem"), secret.name
    text = json.dumps(run.outputs["mongodb"])
    assert "password" not in text.lower() and "@" not in run.outputs["mongodb"]["connectionString"]
    for job in ours(run.of_type("kubernetes:batch/v1:Job")) + ours(run.of_type("kubernetes:batch/v1:CronJob")):
        assert "PASSWORD" in json.dumps(job.inputs) and "secretKeyRef" in json.dumps(job.inputs)


def test_stack_output_lists_members_and_the_connection_string():
    run, _, db = prod()
    out = run.outputs["mongodb"]
    assert [(m["region"], m["zone"], m["votes"], m["priority"]) for m in out["members"]] == [
        (m.region, m.zone, m.votes, m.priority) for m in db.members]
    assert out["connectionString"].startswith("mongodb://") and "replicaSet=rs0" in out["connectionString"]


def test_reconcile_job_runs_in_the_primary_region_after_every_member():
    run, _, db = prod()
    (job,) = ours(run.of_type("kubernetes:batch/v1:Job"))
    assert db.primary_region in job.provider
    services = ours(run.of_type("kubernetes:core/v1:Service"))
    lb_urns = {s.urn for s in services if s.inputs["metadata"]["name"].endswith("-lb")}
    members = {s.urn for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet"))}
    records = {r.urn for r in ours(run.of_type("aws:route53/record:Record"))
               + ours(run.of_type("gcp:dns/recordSet:RecordSet"))}
    assert len(lb_urns) == len(members) == len(db.members) and len(records) == 2 * len(db.members)
    assert lb_urns | members | records <= set(job.dependencies)


def test_the_preview_tree_and_the_diagram_show_the_members():
    from rich.console import Console

    from infra.offline.diagram import render_mermaid
    from infra.offline.preview import render_text

    run, plan, db = prod()
    console = Console(record=True, width=250)
    render_text(run, console)
    text = console.export_text()
    for m in db.members:
        assert f"StatefulSet {m.region}-mongodb-{m.name} {db.image} zone {m.zone}" in text
    diagram = render_mermaid(plan, plan.topology)
    assert all(f"{m.name} v{m.votes} p{m.priority}" in diagram for m in db.members)


def test_backups_go_to_versioned_encrypted_buckets_once_per_cloud():
    run, _, db = prod()
    assert len(ours(run.of_type("kubernetes:batch/v1:CronJob"))) == len(db.backup_regions()) == 2
    (versioning,) = ours(run.of_type("aws:s3/bucketVersioning:BucketVersioning"))
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (sse,) = ours(run.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"))
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    (gcs,) = ours(run.of_type("gcp:storage/bucket:Bucket"))
    assert gcs.inputs["versioning"]["enabled"] is True and gcs.protect
    ages = [r["condition"].get("age") for r in gcs.inputs["lifecycleRules"]]
    assert db.backup_retention_days in ages


def test_load_balancer_controller_is_pinned_with_an_irsa_role_on_every_eks_cluster():
    run, _, _ = prod()
    releases = [r for r in run.of_type("kubernetes:helm.sh/v3:Release")
                if r.inputs["chart"] == "aws-load-balancer-controller"]
    assert len(releases) == 3 and all(r.inputs["version"] == CHART_VERSION for r in releases)
    roles = [r for r in run.of_type("aws:iam/role:Role") if r.name.endswith("-lb-controller-role")]
    assert len(roles) == 3
    for role in roles:
        trust = json.loads(role.inputs["assumeRolePolicy"])
        condition = trust["Statement"][0]["Condition"]["StringEquals"]
        assert f"system:serviceaccount:kube-system:{SERVICE_ACCOUNT}" in condition.values()
