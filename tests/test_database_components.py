"""The database as the prod program declares it (under mocks): Kubernetes objects valid and strict,
member certificates covering their names, fixed addresses on the load balancers, private DNS in both
clouds with the same records, nothing secret in plain text, the load balancer controller pinned."""

from __future__ import annotations

import json
from functools import cache

import kubernetes_validate

from components.cluster.aws_load_balancer_controller import CHART_VERSION, SERVICE_ACCOUNT
from components.database.region_database import MEMBER_ORG, member_dns_names
from infra.offline.mock_runtime import SECRET
from infra.planning.plan import plan_for_stack_file
from tests.factories import ROOT
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
    run, plan, db = prod()
    (zone,) = ours(run.of_type("aws:route53/zone:Zone"))
    assert len(zone.inputs["vpcs"]) == sum(1 for r in ("use1", "usw2", "euc1"))
    r53 = {(r.inputs["name"], tuple(r.inputs["records"])) for r in ours(run.of_type("aws:route53/record:Record"))}
    cdns = {(r.inputs["name"].rstrip("."), tuple(r.inputs["rrdatas"]))
            for r in ours(run.of_type("gcp:dns/recordSet:RecordSet"))}
    sharded = {(m.host, (m.address,)) for rs in plan.residency.sets() for m in rs.members}
    assert r53 == cdns == {(h, (a,)) for h, a in db.dns_records()} | sharded
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
    (job,) = ours(run.of_type("kubernetes:batch/v1:Job"))
    assert "PASSWORD" in json.dumps(job.inputs) and "secretKeyRef" in json.dumps(job.inputs)
    for cron in ours(run.of_type("kubernetes:batch/v1:CronJob")):  # the backup reads a mounted config file
        assert "mongodb://" not in json.dumps(cron.inputs) and "mongodump.yaml" in json.dumps(cron.inputs)


def test_stack_output_lists_members_and_the_connection_string():
    run, _, db = prod()
    out = run.outputs["mongodb"]
    assert [(m["region"], m["zone"], m["votes"], m["priority"]) for m in out["members"]] == [
        (m.region, m.zone, m.votes, m.priority) for m in db.members]
    assert out["connectionString"].startswith("mongodb://") and "replicaSet=rs0" in out["connectionString"]


def test_reconcile_job_runs_in_the_primary_region_after_every_member_as_a_client_not_a_member():
    run, plan, db = prod()
    (job,) = ours(run.of_type("kubernetes:batch/v1:Job"))
    assert db.primary_region in job.provider
    services = ours(run.of_type("kubernetes:core/v1:Service"))
    lb_urns = {s.urn for s in services if s.inputs["metadata"]["name"].endswith("-lb")}
    members = {s.urn for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet"))}
    records = {r.urn for r in ours(run.of_type("aws:route53/record:Record"))
               + ours(run.of_type("gcp:dns/recordSet:RecordSet"))}
    assert len(lb_urns) == len(members) == len(db.members) and len(records) == 2 * (
        len(db.members) + sum(len(rs.members) for rs in plan.residency.sets()))
    assert lb_urns | members | records <= set(job.dependencies)
    subjects = {r.name: r.inputs["subject"] for r in ours(run.of_type("tls:index/certRequest:CertRequest"))}
    (client,) = [v for k, v in subjects.items() if "reconcile" in k]
    member_orgs = {v["organization"] for k, v in subjects.items() if "reconcile" not in k}
    assert member_orgs == {MEMBER_ORG} and client["organization"] != MEMBER_ORG
    (client_cert,) = [r for r in ours(run.of_type("tls:index/locallySignedCert:LocallySignedCert"))
                      if "reconcile" in r.name]
    assert client_cert.inputs["validityPeriodHours"] <= 24 and "server_auth" not in client_cert.inputs["allowedUses"]
    assert job.custom_timeouts == {"create": f"{db.reconcile_wait_seconds()}s",
                                   "update": f"{db.reconcile_wait_seconds()}s"}


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


def pod_of(obj) -> dict:
    spec = obj.inputs["spec"]
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def readable(mode: int, uid: int, gid: int, fs_group: int | None) -> bool:
    """Can uid/gid read a file of a Secret/ConfigMap volume? Files are owned by root with `mode`; with an
    fsGroup the kubelet makes their group fsGroup, adds group read, and fsGroup joins the process's groups."""
    if uid == 0 or mode & 0o004:
        return True
    file_group = fs_group if fs_group is not None else 0
    process_groups = {gid, *([fs_group] if fs_group is not None else [])}
    group_read = bool(mode & 0o040) or (fs_group is not None and bool(mode & 0o400))
    return file_group in process_groups and group_read


def test_every_database_pod_can_read_the_keys_and_scripts_it_mounts():
    run, _, _ = prod()
    workloads = ours(run.of_type("kubernetes:apps/v1:StatefulSet")) + ours(run.of_type("kubernetes:batch/v1:Job")) \
        + ours(run.of_type("kubernetes:batch/v1:CronJob"))
    checked = 0
    for obj in workloads:
        pod = pod_of(obj)
        ctx = pod["securityContext"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod.get("initContainers", []) + pod["containers"]:
            uid = c.get("securityContext", {}).get("runAsUser", ctx["runAsUser"])
            gid = c.get("securityContext", {}).get("runAsGroup", ctx["runAsGroup"])
            for mount in c.get("volumeMounts", []):
                source = volumes.get(mount["name"], {})  # `data`: the volume claim
                spec = source.get("secret") or source.get("configMap")
                if spec is None:
                    continue
                modes = [i.get("mode", spec.get("defaultMode", 0o644)) for i in spec.get("items", [])] or \
                    [spec.get("defaultMode", 0o644)]
                for mode in modes:
                    assert readable(mode, uid, gid, ctx.get("fsGroup")), (obj.name, c["name"], mount["name"], oct(mode))
                    checked += 1
    assert checked >= 10


def test_the_readable_model_fails_the_issue_case():
    """A Job as uid/gid 999 without fsGroup reading a 0400 Secret: the files stay root:root 0400."""
    assert not readable(0o400, 999, 999, None)
    assert readable(0o400, 999, 999, 999) and readable(0o440, 999, 999, 999)


def test_members_roll_one_at_a_time_in_one_chain_across_regions_with_deliberate_waits():
    """The engine updates a resource only after the ones it depends on are done (and ready: pulumi-kubernetes
    waits for a StatefulSet's pods to be ready, and ready means caught up). One chain through every member
    means at most one member restarts at a time, whatever the change."""
    run, _, db = prod()
    sets = ours(run.of_type("kubernetes:apps/v1:StatefulSet"))
    urns = {s.urn for s in sets}
    before = {s.urn: [d for d in s.dependencies if d in urns] for s in sets}
    assert all(len(v) <= 1 for v in before.values())
    heads = [u for u, v in before.items() if not v]
    assert len(heads) == 1, "more than one member could roll at once"
    order, node = [], heads[0]
    successor = {v[0]: u for u, v in before.items() if v}
    while node:
        order.append(node)
        node = successor.get(node)
    assert len(order) == len(sets) == len(db.members)
    for s in sets:
        assert s.custom_timeouts == {"create": f"{db.member_wait_seconds()}s", "update": f"{db.member_wait_seconds()}s"}
        assert "spec.volumeClaimTemplates" in s.ignore_changes
        ready = json.dumps(pod_of(s)["containers"][0]["readinessProbe"])
        assert "optimeDate" in ready and "NotYetInitialized" in ready


def test_a_renewed_certificate_changes_the_pod_template_so_the_members_roll():
    run, _, db = prod()
    for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet")):
        digest = s.inputs["spec"]["template"]["metadata"]["annotations"]["rollout.dev/tls-sha256"]
        assert len(digest) == 64
    certs = [r for r in ours(run.of_type("tls:index/locallySignedCert:LocallySignedCert")) if "reconcile" not in r.name]
    assert len(certs) == len(db.members)
    assert all(c.inputs["earlyRenewalHours"] == 30 * 24 and c.inputs["validityPeriodHours"] == 90 * 24 for c in certs)


def test_memory_requests_equal_limits_and_the_cache_follows_the_limit():
    run, _, db = prod()
    for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet")):
        mongod = pod_of(s)["containers"][0]
        assert mongod["resources"]["requests"]["memory"] == mongod["resources"]["limits"]["memory"] == \
            f"{db.memory_gib}Gi"
        args = mongod["args"]
        assert float(args[args.index("--wiredTigerCacheSizeGB") + 1]) == db.cache_gib < db.memory_gib
    (storage, *_) = ours(run.of_type("kubernetes:storage.k8s.io/v1:StorageClass"))
    assert storage.inputs["allowVolumeExpansion"] is True


def test_only_the_bootstrap_member_initiates_over_the_localhost_exception():
    run, _, db = prod()
    with_bootstrap = [s.inputs["metadata"]["name"] for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet"))
                      if any(c["name"] == "bootstrap" for c in pod_of(s)["containers"])]
    assert with_bootstrap == [db.bootstrap_member.name]


def test_backups_are_point_in_time_streamed_and_allowed_their_key_and_token():
    run, _, _ = prod()
    crons = ours(run.of_type("kubernetes:batch/v1:CronJob"))
    for cron in crons:
        pod = pod_of(cron)
        dump = next(c for c in pod["containers"] if c["name"] == "dump")
        assert "--oplog" in dump["command"][-1] and "--archive=/stream/dump" in dump["command"][-1]
        stream = next(v for v in pod["volumes"] if v["name"] == "stream")
        assert stream["emptyDir"]["medium"] == "Memory"  # a FIFO, never a staged file on the node's disk
        upload = next(c for c in pod["containers"] if c["name"] == "upload")
        assert " cp - " in upload["command"][-1] and ".done" in upload["command"][-1]
    (policy,) = [r for r in ours(run.of_type("aws:iam/rolePolicy:RolePolicy")) if "backup" in r.name]
    actions = {a for st in json.loads(policy.inputs["policy"])["Statement"] for a in st["Action"]}
    assert {"kms:Decrypt", "kms:GenerateDataKey", "s3:PutObject"} <= actions
    netpols = {(r.name, r.inputs["metadata"]["name"]): r.inputs for r in
               ours(run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"))}
    backup = {k: v for k, v in netpols.items() if k[1] == "mongodb-backup"}
    assert len(backup) == 2
    gke = [v for k, v in backup.items() if k[0].startswith("euw4") or k[0].startswith("ane1")]
    (gke_policy,) = gke
    cidrs = {p["ipBlock"]["cidr"] for e in gke_policy["spec"]["egress"] for p in e["to"]}
    assert {"169.254.169.252/32", "169.254.169.254/32"} <= cidrs
    assert gke_policy["metadata"]["annotations"]["global-ai-rollout/metadata-egress"]


def test_no_policy_admits_27017_from_the_whole_supernet():
    run, _, _ = prod()
    for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        if r.inputs["metadata"].get("namespace") != "rollout-data":
            continue
        spec = r.inputs.get("spec", {})
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            cidrs = {p["ipBlock"]["cidr"] for p in rule.get("from", []) + rule.get("to", []) if "ipBlock" in p}
            assert "10.0.0.0/8" not in cidrs, r.name
    members = [r for r in ours(run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"))
               if r.inputs["metadata"]["name"] == "mongodb-members"]
    for m in members:
        sources = m.inputs["spec"]["ingress"][0]["from"]
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "rollout"}}} not in sources


def test_member_policies_admit_peers_by_pod_and_fixed_address_never_by_their_own_vpc():
    """On EKS pods take VPC addresses, so an ipBlock of the region's own ranges would admit every pod of the
    VPC: a member admits its own cluster by podSelector, what comes through its own NLBs by their fixed
    /32s (EKS), and other regions by their ranges; it dials members by pod and at their fixed addresses."""
    import ipaddress

    run, plan, db = prod()
    cloud = {r.name: r.cloud for r in plan.regions}
    member_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mongodb"}}}
    policies = [r for r in ours(run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"))
                if r.inputs["metadata"]["name"] == "mongodb-members"]
    assert {r.inputs["metadata"]["labels"]["rollout.dev/region"] for r in policies} == set(db.regions)
    for r in policies:
        region = r.inputs["metadata"]["labels"]["rollout.dev/region"]
        own_ranges = [ipaddress.ip_network(c) for name, cidrs in db.ranges_by_region if name == region for c in cidrs]
        ingress, egress = r.inputs["spec"]["ingress"][0]["from"], r.inputs["spec"]["egress"][0]["to"]
        admitted = {p["ipBlock"]["cidr"] for p in ingress if "ipBlock" in p}
        own_nlbs = {f"{m.address}/32" for m in db.in_region(region)} if cloud[region] == "aws" else set()
        assert member_pods in ingress and member_pods in egress
        assert own_nlbs <= admitted and set(db.ranges_outside(region)) <= admitted
        for cidr in admitted - own_nlbs:
            assert not any(ipaddress.ip_network(cidr).overlaps(n) for n in own_ranges), (region, cidr)
        assert {p["ipBlock"]["cidr"] for p in egress if "ipBlock" in p} == {f"{m.address}/32" for m in db.members}


def test_the_reconcile_objects_are_created_after_their_namespace():
    run, _, _ = prod()
    namespaces = {r.urn for r in run.of_type("kubernetes:core/v1:Namespace")
                  if r.inputs["metadata"]["name"] == "rollout-data"}
    objects = [r for r in ours(run.resources) if r.type in ("kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap")
               and r.inputs["metadata"]["name"] in ("mongodb-reconcile", "mongodb-reconcile-tls", "mongodb-users")]
    assert len(objects) == 3
    for r in objects:
        assert namespaces & set(r.dependencies), r.name


def test_the_member_wait_covers_the_start_budget_the_rehearsal_reads_from_the_probe():
    """The startup probe allows exactly the plan's start budget, and the engine's wait covers the deploy
    rehearsal's ready time (image + that probe budget + volume) for every member."""
    from infra.planning.database import MONGOD_START_SECONDS
    from infra.rehearsal.model import Resource
    from infra.rehearsal.waits import ready_seconds

    run, _, db = prod()
    for s in ours(run.of_type("kubernetes:apps/v1:StatefulSet")):
        probe = pod_of(s)["containers"][0]["startupProbe"]
        assert probe["periodSeconds"] * probe["failureThreshold"] == MONGOD_START_SECONDS
        view = Resource(urn=s.urn, type=s.type, name=s.name, parent=s.parent or "", inputs=s.inputs, options={})
        assert max(ready_seconds(view)) <= db.member_wait_seconds()


def test_the_certificate_alert_fires_inside_the_renewal_window_before_expiry():
    from components.database import alerts
    from components.database.region_database import CERT_RENEWAL_DAYS, CERT_VALIDITY_DAYS

    db = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database
    assert 0 < alerts.ALERT_DAYS < CERT_RENEWAL_DAYS < CERT_VALIDITY_DAYS
    expr = alerts.RULE["expr"]
    assert f'job="{alerts.PROBE_JOB}"' in expr and f"< {alerts.ALERT_DAYS} * 86400" in expr
    assert alerts.probe_targets(db) == [f"{m.host}:27017" for m in db.members]


def test_the_bootstrap_members_list_does_not_follow_the_traffic_order():
    """members.txt lists every planned member sorted by name: a demand or price edit that reorders the
    plan's members (priorities follow traffic) leaves the ConfigMap as it is (no replacement)."""
    run, _, db = prod()
    (scripts,) = [r for r in ours(run.of_type("kubernetes:core/v1:ConfigMap"))
                  if r.inputs["metadata"]["name"] == "mongodb-scripts"]
    listed = scripts.inputs["data"]["members.txt"].splitlines()
    assert listed == sorted(f"{m.host}:27017" for m in db.members)
    assert [m.host for m in db.members] != sorted(m.host for m in db.members)  # the plan's order differs
