"""Preflight: the account can hold the plan. AWS under moto (plus the EC2 quotas moto lacks), GCP faked."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from infra.ops import preflight
from infra.ops.clouds import AwsClients
from infra.ops.needs import GCP_GPU_QUOTA_METRIC, aws_needs, gcp_needs, vcpu_quota_code
from tests.ops_fakes import (
    FakeGcp,
    ec2_quotas,
    guard_sockets,
)
from tests.ops_stack import GCP_PROJECT, ops_plan, write_ops_stack

G, P, STANDARD = "L-DB2E81BA", "L-417A185B", "L-1216C47A"
PLENTY = {G: 10_000.0, P: 10_000.0, STANDARD: 10_000.0}
STACK = "ops"



def healthy_gcp(plan: Any = None) -> FakeGcp:
    """A project that offers every planned accelerator and machine type in every zone, with room in every
    GPU and vCPU quota, regional and project-wide. Machine types have the vCPUs their names say
    (`<family>-standard-<n>`), as on Compute Engine for these families."""
    plan = plan or ops_plan()
    gcp = FakeGcp(project=GCP_PROJECT)
    for needs in gcp_needs(plan):
        for pool in needs.pools:
            for zone in pool.zones:
                gcp.accelerators.setdefault(zone, set()).add(pool.accelerator)
        for pool in needs.all_pools:
            for zone in pool.zones:
                gcp.machine_cpus[(zone, pool.instance_type)] = int(pool.instance_type.rsplit("-", 1)[1])
        gcp.quotas[needs.location] = {**{metric: (1000.0, 0.0) for metric in GCP_GPU_QUOTA_METRIC.values()},
                                      "CPUS": (1000.0, 0.0), "E2_CPUS": (1000.0, 0.0)}
    gcp.project_wide = {"GPUS_ALL_REGIONS": (1000.0, 0.0), "CPUS_ALL_REGIONS": (10_000.0, 0.0)}
    return gcp


def run_json(tmp_path: Path, aws: AwsClients, gcp: FakeGcp, capsys: pytest.CaptureFixture[str],
             env: dict[str, str] | None = None, **stack: Any) -> tuple[int, list[dict[str, Any]]]:
    path = write_ops_stack(tmp_path, STACK, **stack)
    code = preflight.main(["--stack-file", str(path), "--json"], aws=aws, gcp_factory=lambda _: gcp,
                          env=env if env is not None else {})
    report = json.loads(capsys.readouterr().out)
    assert report["command"] == "preflight" and report["stack"] == STACK
    assert report["ok"] == (code == 0)
    return code, report["checks"]


def find(checks: list[dict[str, Any]], check: str, scope: str | None = None, status: str | None = None) -> list[dict]:
    return [c for c in checks if c["check"] == check and (scope is None or c["scope"] == scope)
            and (status is None or c["status"] == status)]


def drop_offering(monkeypatch: pytest.MonkeyPatch, region: str, instance_type: str, zone_id: str) -> None:
    """moto's offering data is a static snapshot: take one (type, zone ID) out for a test."""
    from moto.ec2.models import instance_types as moto_types

    table = dict(moto_types.INSTANCE_TYPE_OFFERINGS["availability-zone-id"])
    table[region] = [o for o in table[region] if (o["InstanceType"], o["Location"]) != (instance_type, zone_id)]
    assert len(table[region]) < len(moto_types.INSTANCE_TYPE_OFFERINGS["availability-zone-id"][region])
    monkeypatch.setitem(moto_types.INSTANCE_TYPE_OFFERINGS, "availability-zone-id", table)


# ---- the whole command -------------------------------------------------------------------------------------

def test_an_account_with_room_for_the_plan_passes_every_check(tmp_path, aws, monkeypatch, capsys):
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 0, [c for c in checks if c["status"] != "pass"]
    assert {c["status"] for c in checks} <= {"pass", "skip"}
    for region in ("use1", "usw2"):
        assert find(checks, "zones", region, "pass") and find(checks, "gpu-offered", region, "pass")
        assert {c["detail"].split(" vCPUs")[0] for c in find(checks, "quota-vcpu", region)} == {
            "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "Running On-Demand G and VT instances"}
        assert len(find(checks, "quota-network", region, "pass")) == 6
    assert find(checks, "gpu-offered", "euw4", "pass") and find(checks, "quota-gpu", "euw4", "pass")
    assert {c["detail"].split(":")[0] for c in find(checks, "quota-cpu", "euw4", "pass")} == {"CPUS", "E2_CPUS"}
    assert {c["detail"].split(":")[0] for c in find(checks, "quota-project", "gcp", "pass")} == {
        "GPUS_ALL_REGIONS", "CPUS_ALL_REGIONS"}


def test_the_table_names_every_check_and_the_fix(tmp_path, aws, monkeypatch, capsys):
    with ec2_quotas(monkeypatch, applied={**PLENTY, G: 1.0}):
        code = preflight.main(["--stack-file", str(write_ops_stack(tmp_path, STACK))], aws=aws,
                              gcp_factory=lambda _: healthy_gcp(), env={})
    out = capsys.readouterr().out
    assert code == 1
    assert "Preflight: stack ops" in out and "quota-vcpu" in out and "fail" in out
    assert "request at least" in out  # the fix column


def test_bad_config_exits_2_before_any_cloud_call(tmp_path, aws, capsys):
    gcp = healthy_gcp()
    path = write_ops_stack(tmp_path, STACK, latency={"normalMs": -1, "failoverMs": 250})
    assert preflight.main(["--stack-file", str(path)], aws=aws, gcp_factory=lambda _: gcp, env={}) == 2
    assert "latency.normalMs" in capsys.readouterr().err
    assert gcp.calls == []


# ---- zones and offerings -------------------------------------------------------------------------------------

def test_zones_are_matched_by_zone_id_not_by_letter(tmp_path, aws, monkeypatch, capsys):
    ids = {z["ZoneName"]: z["ZoneId"] for z in aws.client("ec2", "us-east-1").describe_availability_zones()
           ["AvailabilityZones"]}
    assert ids["us-east-1a"] != "use1-az1"  # in this account the letter a is not az1
    drop_offering(monkeypatch, "us-east-1", "g5.xlarge", ids["us-east-1a"])
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1
    [failure] = find(checks, "gpu-offered", "use1", "fail")
    assert failure["detail"] == f"g5.xlarge (gpu-g5-xlarge) not offered in us-east-1a ({ids['us-east-1a']})"
    assert "zones offering g5.xlarge here" in failure["fix"]
    assert find(checks, "gpu-offered", "usw2", "pass")


def test_a_type_missing_only_from_an_unplanned_zone_passes(tmp_path, aws, monkeypatch, capsys):
    ids = {z["ZoneName"]: z["ZoneId"] for z in aws.client("ec2", "us-east-1").describe_availability_zones()
           ["AvailabilityZones"]}
    drop_offering(monkeypatch, "us-east-1", "g5.xlarge", ids["us-east-1d"])  # the stack uses a, b, c
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 0 and find(checks, "gpu-offered", "use1", "pass")


def test_a_planned_zone_the_account_lacks_fails(tmp_path, aws, monkeypatch, capsys):
    from moto.ec2.models import availability_zones_and_regions as azr

    zones = dict(azr.RegionsAndZonesBackend.zones)
    zones["us-west-2"] = [z for z in zones["us-west-2"] if z.name != "us-west-2c"]
    monkeypatch.setattr(azr.RegionsAndZonesBackend, "zones", zones)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1
    [failure] = find(checks, "zones", "usw2", "fail")
    assert failure["detail"].startswith("us-west-2c not available to this account")


# ---- quotas --------------------------------------------------------------------------------------------------

def planned_vcpus(region: str, code: str, vcpus: dict[str, int]) -> int:
    [needs] = [n for n in aws_needs(ops_plan()) if n.region == region]
    return sum(p.max_nodes * vcpus[p.instance_type] for p in needs.pools if vcpu_quota_code(p.instance_type) == code)


def test_vcpu_quota_below_the_pools_ceiling_fails(tmp_path, aws, monkeypatch, capsys):
    need = planned_vcpus("use1", G, {"g5.xlarge": 4, "m6i.large": 2})
    assert need == 4 * 4  # gpu-g5-xlarge: max 4 nodes (3 planned + 1 burst) x 4 vCPUs
    with ec2_quotas(monkeypatch, applied={**PLENTY, G: need - 1}):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1
    failures = find(checks, "quota-vcpu", status="fail")
    assert {c["scope"] for c in failures} == {"use1", "usw2"}  # the patched quotas apply in every region
    assert f"need {need}, quota {need - 1:g} (applied, {G})" in failures[0]["detail"]
    assert f"request at least {need}" in failures[0]["fix"]


def test_vcpu_quota_exactly_at_the_need_passes(tmp_path, aws, monkeypatch, capsys):
    need = planned_vcpus("use1", G, {"g5.xlarge": 4, "m6i.large": 2})
    with ec2_quotas(monkeypatch, applied={**PLENTY, G: need}):
        code, _ = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 0


def test_an_unapplied_quota_falls_back_to_the_aws_default(tmp_path, aws, monkeypatch, capsys):
    applied = {STANDARD: 10_000.0}  # G and VT not applied: GetServiceQuota raises NoSuchResource
    with ec2_quotas(monkeypatch, applied=applied, defaults={G: 64.0}):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 0
    g_checks = [c for c in find(checks, "quota-vcpu", "use1") if G in c["detail"]]
    assert g_checks and "quota 64 (default" in g_checks[0]["detail"]
    with ec2_quotas(monkeypatch, applied=applied, defaults={G: 0.0}):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1 and "quota 0 (default" in find(checks, "quota-vcpu", "use1", "fail")[0]["detail"]


def test_instances_of_other_workloads_use_up_the_quota_but_the_stacks_own_do_not(tmp_path, aws, monkeypatch, capsys):
    need = planned_vcpus("use1", G, {"g5.xlarge": 4, "m6i.large": 2})
    ec2 = aws.client("ec2", "us-east-1")
    image = ec2.register_image(Name="node-image")["ImageId"]
    ec2.run_instances(ImageId=image, InstanceType="g5.xlarge", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "stack", "Value": STACK}]}])
    with ec2_quotas(monkeypatch, applied={**PLENTY, G: need + 4}):
        code, _ = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 0  # this stack's own node does not count against its room
    ec2.run_instances(ImageId=image, InstanceType="g5.2xlarge", MinCount=1, MaxCount=1)
    with ec2_quotas(monkeypatch, applied={**PLENTY, G: need + 4}):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1
    [failure] = find(checks, "quota-vcpu", "use1", "fail")
    assert "used by others 8" in failure["detail"]


def test_vpcs_already_in_the_region_can_exhaust_the_vpc_quota(tmp_path, aws, monkeypatch, capsys):
    ec2 = aws.client("ec2", "us-west-2")
    for i in range(4):  # with the default VPC: 5 of 5
        ec2.create_vpc(CidrBlock=f"192.168.{i}.0/24")
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1
    [failure] = find(checks, "quota-network", "usw2", "fail")
    assert failure["detail"].startswith("VPCs per Region: need 1, quota 5") and "used by others 5" in failure["detail"]
    assert not find(checks, "quota-network", "use1", "fail")


def test_elastic_ips_for_the_nat_gateways_must_fit(tmp_path, aws, monkeypatch, capsys):
    ec2 = aws.client("ec2", "us-east-1")
    for _ in range(3):
        ec2.allocate_address(Domain="vpc")
    with ec2_quotas(monkeypatch, applied=PLENTY):  # EIP quota: default 5; the plan needs 1 (one NAT)
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 0
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys, network={"natPerZone": True})
    assert code == 1  # three NAT gateways need three EIPs; 3 of 5 are taken
    [failure] = find(checks, "quota-network", "use1", "fail")
    assert failure["detail"].startswith("EC2-VPC Elastic IPs: need 3, quota 5 (default")


# ---- GCP -----------------------------------------------------------------------------------------------------

def test_gcp_accelerator_missing_in_a_planned_zone_fails(tmp_path, aws, monkeypatch, capsys):
    gcp = healthy_gcp()
    gcp.accelerators["europe-west4-b"].discard("nvidia-l4")
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 1
    [failure] = find(checks, "gpu-offered", "euw4", "fail")
    assert failure["detail"] == "nvidia-l4 (g2-standard-4) not offered in europe-west4-b"


def test_gcp_gpu_quota_below_the_need_fails_and_tight_room_warns(tmp_path, aws, monkeypatch, capsys):
    [needs] = gcp_needs(ops_plan())
    need = needs.gpus["NVIDIA_L4_GPUS"]
    assert need == 3  # max 3 nodes x 1 L4
    gcp = healthy_gcp()
    gcp.quotas["europe-west4"]["NVIDIA_L4_GPUS"] = (need - 1, 0.0)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 1 and find(checks, "quota-gpu", "euw4", "fail")[0]["detail"].startswith(
        "NVIDIA_L4_GPUS: need 3, limit 2")
    gcp.quotas["europe-west4"]["NVIDIA_L4_GPUS"] = (need, 1.0)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 0 and find(checks, "quota-gpu", "euw4", "warn")


def test_a_new_project_with_no_gpus_in_gpus_all_regions_fails_though_the_regions_have_room(
        tmp_path, aws, monkeypatch, capsys):
    gcp = healthy_gcp()
    gcp.project_wide["GPUS_ALL_REGIONS"] = (0.0, 0.0)  # the default of many new projects
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 1 and find(checks, "quota-gpu", "euw4", "pass")
    [failure] = find(checks, "quota-project", "gcp", "fail")
    assert failure["detail"] == "GPUS_ALL_REGIONS: need 3, limit 0, in use 0"
    assert f"for project {GCP_PROJECT}" in failure["fix"]


def test_regional_vcpu_quotas_count_every_pool_by_machine_family(tmp_path, aws, monkeypatch, capsys):
    plan = ops_plan()
    [needs] = gcp_needs(plan)
    by_type = {p.instance_type: p.max_nodes * int(p.instance_type.rsplit("-", 1)[1]) for p in needs.all_pools}
    assert by_type == {"e2-standard-4": 24, "g2-standard-4": 12}  # e2 has a quota of its own; g2 counts as CPUS
    gcp = healthy_gcp()
    gcp.quotas["europe-west4"]["CPUS"] = (11.0, 0.0)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 1
    assert find(checks, "quota-cpu", "euw4", "fail")[0]["detail"] == "CPUS: need 12, limit 11, in use 0"
    assert find(checks, "quota-cpu", "euw4", "pass")[0]["detail"].startswith("E2_CPUS: need 24")
    del gcp.quotas["europe-west4"]["E2_CPUS"]  # a family metric the region does not list counts as CPUS
    gcp.quotas["europe-west4"]["CPUS"] = (36.0, 0.0)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 0 and find(checks, "quota-cpu", "euw4", "pass")[0]["detail"].startswith("CPUS: need 36")
    gcp.project_wide["CPUS_ALL_REGIONS"] = (40.0, 10.0)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys)
    assert code == 0 and find(checks, "quota-project", "gcp", "warn")[0]["detail"].startswith("CPUS_ALL_REGIONS")


def test_without_google_credentials_every_gcp_check_names_the_missing_credentials(
        tmp_path, aws, monkeypatch, capsys):
    """No TypeError from deep inside google-auth: one named check per GCP step, with the fix."""
    import google.auth

    from infra.ops.clouds import GoogleRestApi

    monkeypatch.setattr(google.auth, "default", lambda **kw: None)  # what a half-configured environment returned
    path = write_ops_stack(tmp_path, STACK)
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code = preflight.main(["--stack-file", str(path), "--json"], aws=aws, gcp_factory=GoogleRestApi, env={})
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert code == 1
    failures = find(checks, "gcp-credentials", status="fail")
    assert {c["scope"] for c in failures} == {"euw4", "gcp"}
    assert all("no usable Google credentials" in c["detail"] and "application-default login" in c["fix"]
               for c in failures)
    assert not find(checks, "cloud-api") and "TypeError: cannot" not in json.dumps(find(checks, "quota-gpu"))


def test_aws_errors_are_named_by_what_is_wrong():
    from botocore.exceptions import ClientError, NoCredentialsError

    from infra.ops.report import Step

    step = Step("use1: vCPU quotas", list)
    assert preflight.cloud_error(step, NoCredentialsError()).check == "aws-credentials"
    expired = ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "DescribeVpcs")
    assert preflight.cloud_error(step, expired).check == "aws-credentials"
    denied = ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeVpcs")
    assert preflight.cloud_error(step, denied).check == "cloud-permissions"
    assert preflight.cloud_error(step, RuntimeError("boom")).check == "cloud-api"


def test_every_listing_is_read_to_its_last_page(aws):
    """A listing that pages (NextToken) is read to its end; one that does not page is one call."""
    from botocore.stub import Stubber

    from infra.ops.clouds import page_all

    ec2 = aws.client("ec2", "eu-west-1")
    with Stubber(ec2) as stub:
        stub.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-1"}], "NextToken": "t"}, {})
        stub.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-2"}]}, {"NextToken": "t"})
        stub.add_response("describe_addresses", {"Addresses": [{"PublicIp": "192.0.2.1"}]}, {})
        assert [v["VpcId"] for v in page_all(ec2, "describe_vpcs", "Vpcs")] == ["vpc-1", "vpc-2"]
        assert len(page_all(ec2, "describe_addresses", "Addresses")) == 1
        stub.assert_no_pending_responses()


def test_the_runner_must_reach_the_eks_apis_from_an_address_the_stack_admits(tmp_path, aws, monkeypatch, capsys):
    access = {"mode": "dns-endpoint", "deployerCidrs": ["203.0.113.0/28"]}
    cluster = {"apiAccess": access}
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys, env={"RUNNER_EGRESS_IP": "203.0.113.5"},
                                cluster=cluster)
    assert find(checks, "runner-reach", "stack", "pass")
    with ec2_quotas(monkeypatch, applied=PLENTY):  # a GitHub-hosted runner: some address of the day
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys, env={"RUNNER_EGRESS_IP": "198.51.100.7"},
                                cluster=cluster)
    [failure] = find(checks, "runner-reach", "stack", "fail")
    assert code == 1 and "not in cluster.apiAccess.deployerCidrs" in failure["detail"]
    assert "DEPLOY_RUNS_ON" in failure["fix"]
    private = {"apiAccess": {"mode": "private", "runnerCidrs": ["10.255.0.0/24"]}}
    with ec2_quotas(monkeypatch, applied=PLENTY):  # a self-hosted runner inside the network
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys, env={"RUNNER_EGRESS_IP": "192.0.2.44,10.255.0.9"},
                                cluster=private)
    assert find(checks, "runner-reach", "stack", "pass")


# ---- state backend and secrets -----------------------------------------------------------------------------------

def test_s3_backend_and_kms_secrets_provider_are_reachable(tmp_path, aws, monkeypatch, capsys):
    aws.client("s3", "us-east-1").create_bucket(Bucket="rollout-state")
    key = aws.client("kms", "eu-west-1").create_key()["KeyMetadata"]["KeyId"]
    env = {"PULUMI_BACKEND_URL": "s3://rollout-state?region=us-east-1"}
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys, env=env,
                                secrets_provider=f"awskms://{key}?region=eu-west-1")
    assert code == 0
    assert find(checks, "state-backend", "stack", "pass") and find(checks, "secrets-provider", "stack", "pass")


def test_missing_bucket_and_disabled_key_fail(tmp_path, aws, monkeypatch, capsys):
    kms = aws.client("kms", "eu-west-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key)
    env = {"PULUMI_BACKEND_URL": "s3://no-such-bucket?region=us-east-1"}
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys, env=env,
                                secrets_provider=f"awskms://{key}?region=eu-west-1")
    assert code == 1
    assert "bucket not reachable" in find(checks, "state-backend", "stack", "fail")[0]["detail"]
    assert "key is Disabled" in find(checks, "secrets-provider", "stack", "fail")[0]["detail"]


def test_gcs_backend_gcp_kms_key_and_passphrase(tmp_path, aws, monkeypatch, capsys):
    gcp = healthy_gcp()
    gcp.buckets.add("rollout-state")
    name = f"projects/{GCP_PROJECT}/locations/global/keyRings/pulumi/cryptoKeys/state"
    gcp.keys[name] = "ENABLED"
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys, env={"PULUMI_BACKEND_URL": "gs://rollout-state"},
                                secrets_provider=f"gcpkms://{name}")
    assert code == 0 and find(checks, "secrets-provider", "stack", "pass")
    # A self-managed backend without a secrets provider uses a passphrase, which must be given.
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys, env={"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    assert code == 1 and find(checks, "state-backend", "stack", "pass")
    assert "PULUMI_CONFIG_PASSPHRASE" in find(checks, "secrets-provider", "stack", "fail")[0]["detail"]
    with ec2_quotas(monkeypatch, applied=PLENTY):
        code, checks = run_json(tmp_path, aws, gcp, capsys, env={"PULUMI_BACKEND_URL": "gs://missing",
                                                                   "PULUMI_CONFIG_PASSPHRASE_FILE": "/x"})
    assert code == 1 and find(checks, "secrets-provider", "stack", "pass")
    assert "no such bucket" in find(checks, "state-backend", "stack", "fail")[0]["detail"]


# ---- errors and the network guard ----------------------------------------------------------------------------

def test_a_cloud_error_is_a_failed_check_and_the_other_checks_still_run(tmp_path, aws, monkeypatch, capsys):
    # Without the quota patch moto raises NotImplementedError for GetAWSDefaultServiceQuota.
    code, checks = run_json(tmp_path, aws, healthy_gcp(), capsys)
    assert code == 1
    assert {c["scope"] for c in find(checks, "cloud-api", status="fail")} == {"use1", "usw2"}
    assert find(checks, "zones", "use1", "pass") and find(checks, "gpu-offered", "euw4", "pass")


def test_the_socket_guard_refuses_connections(monkeypatch):
    guard_sockets(monkeypatch)
    with socket.socket() as s, pytest.raises(AssertionError, match="network"):
        s.connect(("192.0.2.1", 443))


# ---- needs (pure) ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("instance_type", "code"), [
    ("g5.xlarge", G), ("g6.12xlarge", G), ("vt1.3xlarge", G), ("p4d.24xlarge", P), ("p5.48xlarge", P),
    ("m6i.large", STANDARD), ("c7g.large", STANDARD), ("i4i.large", STANDARD), ("inf2.xlarge", None),
    ("trn1.2xlarge", None)])
def test_instance_families_map_to_their_vcpu_quota(instance_type, code):
    assert vcpu_quota_code(instance_type) == code


def test_needs_follow_the_plan():
    plan = ops_plan(network={"natPerZone": True})
    for needs in aws_needs(plan):
        region = plan.region(needs.region)
        assert needs.elastic_ips == region.nat_gateways == 3
        assert needs.tgw_peerings == 1
        planned = plan.clusters[needs.region].pools
        assert {p.pool: p.max_nodes for p in needs.pools} == {p.name: p.max_nodes for p in planned}
    [gneeds] = gcp_needs(plan)
    assert gneeds.gpus == {"NVIDIA_L4_GPUS": sum(p.max_nodes * p.gpu_count for p in plan.clusters["euw4"].gpu_pools)}
