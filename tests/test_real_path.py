"""What a real `pulumi up` on a fresh account and project needs, checked on the engine's view under
mocks: the resource options (protect, ignoreChanges, deleteBeforeReplace, dependencies) decide what the
real engine replaces and in which order, and the preview reports them. One section per finding of the
real-path review (issue 10); docs/deploy.md says what only a live cloud can confirm."""

from __future__ import annotations

import functools
import inspect
import json
import re
from pathlib import Path

import pulumi
import pulumi_aws
import pulumi_gcp
import pytest
import yaml

from components.cluster.region_cluster import RegionCluster, RegionClusterArgs
from infra.config import parse_config
from infra.offline.mock_runtime import run_mocked
from infra.offline.run import run_stack
from infra.planning.plan import build_plan
from tests.factories import ROOT, raw_config
from tests.previews import stack_run

PROD = ROOT / "Pulumi.prod.yaml"
NODE_POOL, NODE_GROUP = "gcp:container/nodePool:NodePool", "aws:eks/nodeGroup:NodeGroup"
GKE, EKS = "gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster"
SERVICE = "gcp:projects/service:Service"


def stack_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


def prod():
    return stack_run("prod")


@functools.cache
def prod_plus_3_rps(tmp: str):
    """Prod with 3 more rps from Japan, re-planned: the copy has no sizing lock beside it, so the fleet is
    the solver's answer for the new demand (what `python -m infra.sizing --write` would pin next)."""
    document = yaml.safe_load(PROD.read_text())
    demand = document["config"]["global-ai-rollout:demand"]
    japan = next(d for d in demand if d["geography"] == "japan")
    japan["rps"] += 3
    path = Path(tmp) / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return run_stack(path, "prod")


def region_of(resource) -> str:
    return resource.inputs.get("region") or resource.inputs.get("location") or ""


# --- 1. every cluster API is reachable from the runner, none from the world ---------------------------
def test_the_stack_files_name_an_api_access_mode_a_runner_can_use():
    for path in ROOT.glob("Pulumi.*.yaml"):
        access = stack_config(path)["global-ai-rollout:cluster"]["apiAccess"]
        assert access["mode"] in ("dns-endpoint", "private"), path.name


def test_prod_eks_endpoints_admit_only_the_deployer_and_gke_serves_its_dns_endpoint():
    deployers = stack_config(PROD)["global-ai-rollout:cluster"]["apiAccess"]["deployerCidrs"]
    run = prod()
    for eks in run.of_type(EKS):
        vpc = eks.inputs["vpcConfig"]
        assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == deployers
    for gke in run.of_type(GKE):
        assert gke.inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
        assert gke.inputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True


def test_a_config_without_an_api_access_mode_is_refused():
    raw = raw_config()
    del raw["cluster"]
    with pytest.raises(Exception, match=r"cluster\.apiAccess: required"):
        parse_config(raw)


def test_private_mode_advertises_every_gke_control_plane_range_from_every_cloud_router():
    raw = raw_config(regions=[{"name": "use1", "cloud": "aws", "location": "us-east-1", "zones": 3},
                              {"name": "euw4", "cloud": "gcp", "location": "europe-west4", "zones": 3},
                              {"name": "ane1", "cloud": "gcp", "location": "asia-northeast1", "zones": 3}],
                     cluster={"apiAccess": {"mode": "private", "runnerCidrs": ["10.0.8.0/24"]}})
    plan = build_plan(parse_config(raw))
    masters = sorted(c.master_ipv4_cidr for c in plan.clusters.values() if c.cloud == "gcp")
    run = run_program(raw)
    routers = run.of_type("gcp:compute/router:Router")
    assert len(routers) == 2
    for router in routers:
        advertised = sorted(r["range"] for r in router.inputs["bgp"]["advertisedIpRanges"])
        assert advertised == masters
    (rule,) = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["cidrIpv4"] == "10.0.8.0/24" and rule.inputs["fromPort"] == 443


def run_program(raw: dict, extra: dict | None = None):
    """The real program (infra/program.py) under mocks with this config."""
    from infra.program import main

    config = {f"global-ai-rollout:{k}": v for k, v in raw.items()} | dict(extra or {})
    return run_mocked(main, stack="test", config=config)  # no sizing lock for this stack name


# --- 2. VPC routes to a Transit Gateway wait for the VPC attachment --------------------------------------
def test_every_vpc_route_to_a_transit_gateway_depends_on_its_vpc_attachment():
    run = prod()
    attachments = {region_of(a): a.urn for a in run.of_type("aws:ec2transitgateway/vpcAttachment:VpcAttachment")}
    routes = [r for r in run.of_type("aws:ec2/route:Route") if r.inputs.get("transitGatewayId")]
    assert len(routes) >= 9 and len(attachments) == 3
    for route in routes:
        assert route.depends_on(attachments[region_of(route)]), route.name
        assert attachments[region_of(route)] in route.options()["dependsOn"]


# --- 3. a demand change replaces no node pool or cluster ----------------------------------------------------
# Force-new inputs: read from the SDK docstrings where they say so ("will force recreation"), plus the
# ForceNew fields of the upstream provider schemas the docstrings leave unmarked
# (https://github.com/hashicorp/terraform-provider-aws internal/service/eks/node_group.go, cluster.go;
# https://github.com/hashicorp/terraform-provider-google container resource_container_node_pool.go,
# resource_container_cluster.go).
SCHEMA_FORCE_NEW = {
    NODE_POOL: {"cluster", "location", "name", "namePrefix", "project", "placementPolicy"},
    GKE: {"name", "location", "project", "network", "subnetwork", "initialNodeCount", "networkingMode",
          "ipAllocationPolicy", "nodeConfig"},
    NODE_GROUP: {"amiType", "capacityType", "clusterName", "diskSize", "instanceTypes", "nodeGroupName",
                 "nodeGroupNamePrefix", "nodeRoleArn", "remoteAccess", "subnetIds"},
    EKS: {"name", "roleArn", "encryptionConfig", "bootstrapSelfManagedAddons", "kubernetesNetworkConfig",
          "outpostConfig"},
}
FORCE_NEW_TEXT = re.compile(r"forc\w*\s+(a\s+)?(new|recreat|replac)", re.IGNORECASE)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def force_new_inputs(args_class: type) -> set[str]:
    """Top-level inputs whose docstring says changing them forces a new resource."""
    doc = inspect.getdoc(args_class.__init__) or ""
    params = re.split(r"\n(?=:param )", doc)
    out = set()
    for block in params:
        found = re.match(r":param [^\n]*?\b(\w+): (.*)", block, re.DOTALL)
        if found and FORCE_NEW_TEXT.search(found.group(2)):
            out.add(_camel(found.group(1)))
    return out


FORCE_NEW = {
    NODE_POOL: force_new_inputs(pulumi_gcp.container.NodePoolArgs) | SCHEMA_FORCE_NEW[NODE_POOL],
    GKE: force_new_inputs(pulumi_gcp.container.ClusterArgs) | SCHEMA_FORCE_NEW[GKE],
    NODE_GROUP: SCHEMA_FORCE_NEW[NODE_GROUP],
    EKS: SCHEMA_FORCE_NEW[EKS],
}


def test_the_sdk_docstrings_mark_the_node_pool_size_force_new():
    assert force_new_inputs(pulumi_gcp.container.NodePoolArgs) >= {"initialNodeCount"}
    names = set(inspect.signature(pulumi_aws.eks.NodeGroupArgs.__init__).parameters)
    assert {"ami_type", "subnet_ids", "instance_types"} <= names  # the listed AWS fields exist


def test_three_more_rps_in_one_geography_replaces_no_pool_or_cluster(tmp_path_factory):
    before, after = prod(), prod_plus_3_rps(str(tmp_path_factory.mktemp("plus3")))
    old = {r.urn: r for r in before.resources if r.type in FORCE_NEW}
    moved = []
    for new in after.resources:
        if new.urn not in old:
            continue
        differing = {k for k in set(old[new.urn].inputs) | set(new.inputs)
                     if old[new.urn].inputs.get(k) != new.inputs.get(k)}
        moved += [(new.name, k) for k in differing]
        replacing = (differing & FORCE_NEW[new.type]) - set(new.ignore_changes)
        assert not replacing, f"{new.name}: {sorted(replacing)} would replace it"
    assert moved, "the demand change moved no size: the test compared nothing"


def test_sizes_the_plan_or_an_autoscaler_moves_are_ignored_after_creation():
    run = prod()
    assert run.of_type(NODE_POOL) and run.of_type(NODE_GROUP)
    assert all("initialNodeCount" in p.ignore_changes for p in run.of_type(NODE_POOL))
    assert all("scalingConfig.desiredSize" in g.ignore_changes for g in run.of_type(NODE_GROUP))


# --- 4. no cluster-level node_config next to remove_default_node_pool -----------------------------------
def test_gke_clusters_drop_the_default_pool_without_a_cluster_node_config():
    for gke in prod().of_type(GKE):
        assert gke.inputs["removeDefaultNodePool"] is True and "nodeConfig" not in gke.inputs


# --- 5. one GCP project ---------------------------------------------------------------------------------
def test_every_gcp_resource_uses_the_one_provider_pinned_to_gcp_project():
    project = stack_config(PROD)["gcp:project"]
    run = prod()
    (provider,) = run.of_type("pulumi:providers:gcp")
    assert provider.inputs["project"] == project
    gcp = [r for r in run.resources if r.custom and r.type.startswith("gcp:")]
    assert len(gcp) > 50
    for r in gcp:
        assert r.provider.startswith(provider.urn + "::"), r.name
        assert r.inputs.get("project", project) == project, r.name


def test_without_gcp_project_the_real_path_stops_and_only_the_mocks_fall_back(monkeypatch):
    raw = raw_config()
    roles = {"aws:assumeRoles": [{"roleArn": "arn:aws:iam::123456789012:role/deployer"}]}
    offline = run_program(raw, roles)
    assert {r.inputs["project"] for r in offline.of_type(SERVICE)} == {"rollout-mock-project"}
    monkeypatch.setattr("components.deploy_context.offline", lambda: False)
    with pytest.raises(Exception, match="gcp:project: not set"):
        run_program(raw, roles)
    assert run_program(raw, {**roles, "gcp:project": "p-123456"}).of_type(SERVICE)


# --- 6. the APIs are enabled before anything uses them ---------------------------------------------------
def test_every_api_is_enabled_and_every_gcp_resource_waits_for_the_services():
    run = prod()
    services = run.of_type(SERVICE)
    assert {s.inputs["service"] for s in services} >= {
        "compute.googleapis.com", "container.googleapis.com", "cloudkms.googleapis.com", "iam.googleapis.com",
        "cloudresourcemanager.googleapis.com"}
    assert all(s.inputs["disableOnDestroy"] is False for s in services)
    for r in run.resources:
        if r.custom and r.type.startswith("gcp:") and r.type != SERVICE:
            missing = [s.name for s in services if not r.depends_on(s.urn)]
            assert not missing, f"{r.type} {r.name} does not wait for {missing}"


def test_the_kms_grant_goes_to_the_gke_agent_that_service_identity_creates():
    run = prod()
    agents = {a.urn: a for a in run.of_type("gcp:projects/serviceIdentity:ServiceIdentity")}
    assert {a.inputs["service"] for a in agents.values()} == {"container.googleapis.com"}
    for grant in run.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"):
        assert grant.inputs["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")
        assert any(u in agents for u in grant.property_dependencies.get("member", ()))


# --- 7. Kubernetes version: see tests/test_cluster_versions.py -------------------------------------------
def test_every_cluster_runs_the_pinned_minor():
    from infra.planning.cluster_versions import DEFAULT_KUBERNETES_VERSION

    run = prod()
    assert {e.inputs["version"] for e in run.of_type(EKS)} == {DEFAULT_KUBERNETES_VERSION}
    assert {g.inputs["minMasterVersion"] for g in run.of_type(GKE)} == {DEFAULT_KUBERNETES_VERSION}


# --- 8. fixed names replace delete-first, or stop being fixed -----------------------------------------------
FIXED_NAME = {EKS: "name", GKE: "name", "aws:cloudwatch/logGroup:LogGroup": "name",
              "gcp:serviceaccount/account:Account": "accountId"}


def test_resources_with_fixed_physical_names_delete_before_they_replace():
    """A resource of these types either has a fixed name and deletes first, or is auto-named (a prefix)."""
    run = prod()
    for typ, key in FIXED_NAME.items():
        found = run.of_type(typ)
        fixed = [r for r in found if key in r.inputs]
        assert fixed, typ
        for r in fixed:
            assert isinstance(r.inputs[key], str) and r.delete_before_replace, f"{typ} {r.name}"
        for r in found:
            assert key in r.inputs or r.inputs.get(f"{key}Prefix") or key == "accountId", f"{typ} {r.name}"


def test_key_rings_which_never_die_get_a_fresh_name_instead():
    run = prod()
    suffixes = {s.urn for s in run.of_type("random:index/randomId:RandomId")}
    for ring in run.of_type("gcp:kms/keyRing:KeyRing"):
        assert any(u in suffixes for u in ring.property_dependencies.get("name", ())), ring.name
        assert ring.protect  # prod: losing the ring loses every Secret it wraps


# --- 9. EKS admins by access entry, and the kubeconfig as the same identity -------------------------------
DEPLOYER = "arn:aws:iam::123456789012:role/rollout-deployer"
ADMIN = "arn:aws:iam::123456789012:role/platform-admin"


def test_prod_eks_admins_are_access_entries_for_the_deployer_role_not_the_creator():
    deployer = stack_config(PROD)["aws:assumeRoles"][0]["roleArn"]
    run = prod()
    for eks in run.of_type(EKS):
        assert eks.inputs["accessConfig"] == {"authenticationMode": "API",
                                              "bootstrapClusterCreatorAdminPermissions": False}
    entries = run.of_type("aws:eks/accessEntry:AccessEntry")
    associations = run.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert len(entries) == len(associations) == len(run.of_type(EKS)) == 3
    assert {e.inputs["principalArn"] for e in entries} == {deployer}
    assert {a.inputs["policyArn"] for a in associations} == {
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}
    # Nothing in a cluster is created before its admin access exists.
    for provider in run.of_type("pulumi:providers:kubernetes"):
        region = provider.name.split("-", 1)[0]
        mine = [a for a in associations if a.name.startswith(f"{region}-")]
        assert all(provider.depends_on(a.urn) for a in mine), provider.name


def kubeconfigs(config: dict) -> dict[str, dict]:
    """Plain kubeconfigs of the test plan's two clusters, built under `config`."""
    plan = build_plan(parse_config(raw_config(cluster={
        "apiAccess": {"mode": "dns-endpoint", "deployerCidrs": ["203.0.113.0/24"]}, "adminRoleArns": [ADMIN]})))
    seen: dict[str, dict] = {}

    def program():
        for region in plan.regions:
            if region.cloud == "aws":
                args = RegionClusterArgs(region, plan.clusters[region.name], plan.tags,
                                         private_subnet_ids=[f"subnet-{z.zone}" for z in region.addresses.zones])
            else:
                args = RegionClusterArgs(region, plan.clusters[region.name], plan.tags,
                                         network_self_link="projects/p/global/networks/vpc",
                                         subnetwork_self_link=f"projects/p/regions/{region.location}/subnetworks/s")
            component = RegionCluster(region.name, args)
            component.cluster.kubeconfig.apply(lambda text, r=region.name: seen.__setitem__(r, json.loads(text)))
            pulumi.export(region.name, component.cluster.cluster_name)

    run = run_mocked(program, stack="test", config=config)
    return seen | {"run": run}  # type: ignore[dict-item]


def test_the_kubeconfig_asks_for_tokens_as_the_providers_profile_and_role():
    seen = kubeconfigs({"aws:profile": "deploy", "aws:assumeRoles": [{"roleArn": DEPLOYER}]})
    args = seen["use1"]["users"][0]["user"]["exec"]["args"]
    assert args[args.index("--profile") + 1] == "deploy" and args[args.index("--role-arn") + 1] == DEPLOYER
    entries = seen["run"].of_type("aws:eks/accessEntry:AccessEntry")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted([DEPLOYER, ADMIN])  # each once
    gke = seen["euw4"]
    assert gke["users"][0]["user"]["exec"]["args"] == ["--use_application_default_credentials"]
    assert gke["clusters"][0]["cluster"]["server"].endswith(".gke.goog")  # the DNS endpoint


def test_without_a_provider_role_the_kubeconfig_uses_plain_credentials_and_the_admins_are_configured():
    seen = kubeconfigs({})
    args = seen["use1"]["users"][0]["user"]["exec"]["args"]
    assert "--role-arn" not in args and "--profile" not in args
    assert [e.inputs["principalArn"] for e in seen["run"].of_type("aws:eks/accessEntry:AccessEntry")] == [ADMIN]


def test_a_provider_role_that_is_not_a_role_arn_is_a_config_error():
    with pytest.raises(pulumi.RunError, match=r"aws:assumeRoles\[0\]\.roleArn"):
        run_program(raw_config(), {"aws:assumeRoles": [{"roleArn": "arn:aws:iam::123456789012:user/bob"}]})


def test_the_real_path_refuses_a_stack_with_no_eks_admin(monkeypatch):
    monkeypatch.setattr("components.deploy_context.offline", lambda: False)
    with pytest.raises(Exception, match=r"cluster\.adminRoleArns: no EKS cluster admin"):
        run_program(raw_config(), {"gcp:project": "p-123456"})


# --- 10. every AWS region reaches two GCP regions -------------------------------------------------------
def test_prod_declares_an_ha_vpn_from_every_aws_region_to_both_gcp_regions():
    run = prod()
    vpns = {r.name.removeprefix("rollout-links-vpn-") for r in run.of_type("rollout:links:HaVpn")}
    assert vpns == {f"{a}-{g}" for a in ("use1", "usw2", "euc1") for g in ("euw4", "ane1")}


# --- the preview reports the options ---------------------------------------------------------------------
def test_preview_json_reports_the_options_that_matter_on_the_real_path(capsys):
    from infra.offline.preview import main

    assert main(["--stack", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    by_type: dict[str, list[dict]] = {}
    for r in document["resources"]:
        by_type.setdefault(r["type"], []).append(r)
        assert set(r["options"]) >= {"protect", "ignoreChanges", "deleteBeforeReplace", "dependsOn",
                                     "propertyDependencies"}
    assert all(p["options"]["ignoreChanges"] == ["initialNodeCount"] for p in by_type[NODE_POOL])
    assert all(c["options"]["deleteBeforeReplace"] for c in by_type[EKS] + by_type[GKE])
    # the keys that encrypt cluster Secrets (losing one loses every Secret); log keys are recoverable for
    # their deletion window and stay unprotected
    secrets_keys = [k for k in by_type["aws:kms/key:Key"] if k["name"].endswith("-secrets")]
    assert secrets_keys and all(k["options"]["protect"] for k in secrets_keys)
    assert all("name" in r["options"]["propertyDependencies"] for r in by_type["gcp:kms/keyRing:KeyRing"])
