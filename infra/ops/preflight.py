"""`python -m infra.ops.preflight --stack prod [--json]`: can this account hold the plan? Run before `pulumi up`.

Per AWS region: the planned zones exist and map to zone IDs in this account, every GPU instance type is
offered in every zone its pool uses (matched by zone ID), and the On-Demand vCPU quotas (G/VT, P,
Standard), VPCs, internet gateways, NAT gateways per zone, Elastic IPs and transit gateways leave room for
the plan at every pool's ceiling next to what already runs in the account. Per GCP region: the
accelerator types in the pools' zones, the regional GPU quotas and the regional vCPU quotas (per machine
family); for the GCP project: the project-wide `GPUS_ALL_REGIONS` and `CPUS_ALL_REGIONS`. For the stack:
the state backend and the secrets provider are reachable. Every listing is read page by page; every
cloud error becomes a named failed check (`aws-credentials`, `gcp-credentials`, `cloud-permissions`,
`cloud-api`), never a traceback.

Exit codes: 0 nothing blocks; 1 a check failed (the table names the fix); 2 bad config.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from rich.console import Console

from infra.errors import ConfigError
from infra.ops.clouds import AwsClients, GcpApi, GcpCredentialsError, GoogleRestApi, page_all
from infra.ops.needs import (
    GCP_CPUS_ALL_REGIONS,
    GCP_GPUS_ALL_REGIONS,
    QUOTA_EIPS,
    QUOTA_IGWS,
    QUOTA_NAT_PER_AZ,
    QUOTA_TGWS,
    QUOTA_VPCS,
    TGW_PEERINGS_LIMIT,
    VCPU_QUOTAS,
    AwsRegionNeeds,
    GcpRegionNeeds,
    aws_needs,
    gcp_cpu_metric,
    gcp_needs,
    vcpu_quota_code,
)
from infra.ops.report import Check, Step, exit_code, failed, passed, render_table, run_steps, to_json
from infra.ops.stack import StackTarget, add_stack_arguments, load_target

LIVE_STATES = ("pending", "running")


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


# ---- AWS: zones and offerings -------------------------------------------------------------------------

def zone_ids(ec2: Any) -> dict[str, str]:
    """This account's zone name -> zone ID map (names are shuffled per account; IDs are physical)."""
    zones = page_all(ec2, "describe_availability_zones", "AvailabilityZones", AllAvailabilityZones=False)
    return {z["ZoneName"]: z["ZoneId"] for z in zones}


def offered(ec2: Any, instance_types: Sequence[str]) -> set[tuple[str, str]]:
    """(instance type, zone ID) pairs EC2 offers in this region for the given types."""
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone-id",
        Filters=[{"Name": "instance-type", "Values": sorted(set(instance_types))}])
    return {(o["InstanceType"], o["Location"]) for page in pages for o in page["InstanceTypeOfferings"]}


def check_zones_and_offerings(ec2: Any, needs: AwsRegionNeeds) -> list[Check]:
    ids = zone_ids(ec2)
    out: list[Check] = []
    missing = [z for z in needs.zones if z not in ids]
    if missing:
        out.append(failed("zones", needs.region, f"{', '.join(missing)} not available to this account in "
                          f"{needs.location}; it has {', '.join(sorted(ids)) or 'none'}",
                          "lower the region's `zones` or pick another region (zone letters differ per account)"))
    else:
        out.append(passed("zones", needs.region,
                          ", ".join(f"{z}={ids[z]}" for z in needs.zones) + " (name=zone ID in this account)"))
    if not needs.gpu_pools:
        return out
    have = offered(ec2, [p.instance_type for p in needs.gpu_pools])
    by_id = {v: k for k, v in ids.items()}
    for pool in needs.gpu_pools:
        zones = [z for z in pool.zones if z in ids]
        absent = [f"{z} ({ids[z]})" for z in zones if (pool.instance_type, ids[z]) not in have]
        if absent:
            elsewhere = sorted(f"{by_id.get(zid, '?')} ({zid})" for t, zid in have if t == pool.instance_type)
            out.append(failed(
                "gpu-offered", needs.region, f"{pool.instance_type} ({pool.pool}) not offered in {', '.join(absent)}",
                f"zones offering {pool.instance_type} here: {', '.join(elsewhere) or 'none'}; adjust the catalog's "
                f"gpu_zones for {needs.location} or the region's `zones`, or remove the type from "
                "`sizing.instanceTypes`"))
        elif zones:
            out.append(passed("gpu-offered", needs.region, f"{pool.instance_type} in "
                              + ", ".join(f"{z} ({ids[z]})" for z in zones)))
    return out


# ---- AWS: quotas -----------------------------------------------------------------------------------------

def quota_value(quotas: Any, service: str, code: str) -> tuple[float, str]:
    """The applied quota, or AWS's default when none is applied (the API then raises NoSuchResource)."""
    try:
        return float(quotas.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"]), "applied"
    except Exception as error:
        if _error_code(error) not in ("NoSuchResourceException", "NoSuchResource"):
            raise
    default = quotas.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)
    return float(default["Quota"]["Value"]), "default"


def _not_this_stack(tags: Sequence[Mapping[str, str]] | None, stack: str) -> bool:
    return not any(t.get("Key") == "stack" and t.get("Value") == stack for t in tags or ())


def _quota_check(name: str, scope: str, what: str, need: int, quota: tuple[float, str], others: int,
                 code: str, service: str) -> Check:
    value, source = quota
    room = value - others
    detail = f"{what}: need {need}, quota {value:g} ({source}, {code}), used by others {others}"
    if need <= room:
        return passed(name, scope, detail)
    return failed(name, scope, detail,
                  f"request at least {int(need + others)} for {service} quota {code} in this region "
                  "(Service Quotas console or `aws service-quotas request-service-quota-increase`), "
                  "or lower the plan")


def instance_vcpus(ec2: Any, instance_types: Sequence[str]) -> dict[str, int]:
    pages = ec2.get_paginator("describe_instance_types").paginate(InstanceTypes=sorted(set(instance_types)))
    return {t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"]) for page in pages for t in page["InstanceTypes"]}


def check_vcpu_quotas(ec2: Any, quotas: Any, needs: AwsRegionNeeds, stack: str) -> list[Check]:
    running = [i for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": list(LIVE_STATES)}])
        for reservation in page["Reservations"] for i in reservation["Instances"]]
    others = [i for i in running if _not_this_stack(i.get("Tags"), stack)]
    vcpus = instance_vcpus(ec2, [p.instance_type for p in needs.pools] + [i["InstanceType"] for i in others])
    need: dict[str, int] = {}
    parts: dict[str, list[str]] = {}
    out: list[Check] = []
    for pool in needs.pools:
        code = vcpu_quota_code(pool.instance_type)
        if code is None:
            out.append(Check("quota-vcpu", needs.region, "warn",
                             f"{pool.instance_type}: no On-Demand vCPU quota known for this family; not checked"))
            continue
        need[code] = need.get(code, 0) + pool.max_nodes * vcpus[pool.instance_type]
        parts.setdefault(code, []).append(f"{pool.max_nodes} x {pool.instance_type} ({vcpus[pool.instance_type]})")
    for code, total in sorted(need.items()):
        used = sum(vcpus.get(i["InstanceType"], 0) for i in others if vcpu_quota_code(i["InstanceType"]) == code)
        what = f"{VCPU_QUOTAS[code]} vCPUs [{' + '.join(parts[code])}]"
        out.append(_quota_check("quota-vcpu", needs.region, what, total, quota_value(quotas, "ec2", code),
                                used, code, "ec2"))
    return out


def check_network_quotas(ec2: Any, quotas: Any, needs: AwsRegionNeeds, stack: str) -> list[Check]:
    def others(items: Sequence[Mapping[str, Any]]) -> int:
        return sum(1 for item in items if _not_this_stack(item.get("Tags"), stack))

    vpcs = page_all(ec2, "describe_vpcs", "Vpcs")
    igws = page_all(ec2, "describe_internet_gateways", "InternetGateways")
    eips = page_all(ec2, "describe_addresses", "Addresses")
    tgws = [t for t in page_all(ec2, "describe_transit_gateways", "TransitGateways")
            if t["State"] not in ("deleting", "deleted")]
    out = []
    for (service, code, name), need, used in (
            (QUOTA_VPCS, needs.vpcs, others(vpcs)), (QUOTA_IGWS, needs.internet_gateways, others(igws)),
            (QUOTA_EIPS, needs.elastic_ips, others(eips)), (QUOTA_TGWS, needs.transit_gateways, others(tgws))):
        out.append(_quota_check("quota-network", needs.region, name, need, quota_value(quotas, service, code),
                                used, code, service))
    # NAT gateways count per zone: the busiest planned zone decides.
    nats = [n for n in page_all(ec2, "describe_nat_gateways", "NatGateways",
                                Filter=[{"Name": "state", "Values": ["pending", "available"]}])
            if _not_this_stack(n.get("Tags"), stack)]
    subnet_zone = {s["SubnetId"]: s["AvailabilityZone"] for s in page_all(ec2, "describe_subnets", "Subnets")}
    per_zone = {z: sum(1 for n in nats if subnet_zone.get(n["SubnetId"]) == z) for z in needs.zones}
    busiest = max(needs.zones, key=lambda z: per_zone[z])
    service, code, name = QUOTA_NAT_PER_AZ
    out.append(_quota_check("quota-network", needs.region, f"{name} (busiest: {busiest})",
                            needs.nat_gateways_per_zone, quota_value(quotas, service, code), per_zone[busiest],
                            code, service))
    detail = f"TGW peering attachments: need {needs.tgw_peerings}, limit {TGW_PEERINGS_LIMIT} per transit gateway"
    out.append(passed("quota-network", needs.region, detail) if needs.tgw_peerings <= TGW_PEERINGS_LIMIT else
               failed("quota-network", needs.region, detail, "fewer AWS regions per stack (hub-and-spoke above 6)"))
    return out


# ---- GCP -------------------------------------------------------------------------------------------------

def check_gcp_region(gcp: GcpApi, needs: GcpRegionNeeds) -> list[Check]:
    out: list[Check] = []
    for pool in needs.pools:
        absent = [z for z in pool.zones if pool.accelerator not in gcp.accelerator_types(z)]
        if absent:
            out.append(failed("gpu-offered", needs.region, f"{pool.accelerator} ({pool.instance_type}) not offered "
                              f"in {', '.join(absent)}", f"adjust the catalog's gpu_zones for {needs.location} or "
                              "the region's `zones`, or remove the type from `sizing.instanceTypes`"))
        else:
            out.append(passed("gpu-offered", needs.region, f"{pool.accelerator} in {', '.join(pool.zones)}"))
    quotas = gcp.region_quotas(needs.location) if needs.gpus else {}
    for metric, need in sorted(needs.gpus.items()):
        if metric not in quotas:
            out.append(failed("quota-gpu", needs.region, f"{metric}: no such quota in {needs.location}",
                              "pick a region that offers this GPU, or check the project and its Compute API"))
            continue
        limit, usage = quotas[metric]
        detail = f"{metric}: need {need}, limit {limit:g}, in use {usage:g}"
        if need > limit:
            out.append(failed("quota-gpu", needs.region, detail,
                              f"request {metric} >= {need} in {needs.location} (IAM & Admin > Quotas), or lower "
                              "the plan"))
        elif need > limit - usage:
            out.append(Check("quota-gpu", needs.region, "warn", detail + " (other workloads hold part of it)",
                             "free GPUs or raise the quota before the pools reach their ceiling"))
        else:
            out.append(passed("quota-gpu", needs.region, detail))
    return out + check_gcp_cpus(gcp, needs, quotas if needs.gpus else None)


def gcp_vcpus(gcp: GcpApi, needs: GcpRegionNeeds) -> tuple[dict[str, int], list[Check]]:
    """vCPUs per regional quota metric at every pool's ceiling (the machine types' guestCpus)."""
    per_metric: dict[str, int] = {}
    problems: list[Check] = []
    for pool in needs.all_pools:
        cpus = gcp.machine_type_cpus(pool.zones[0], pool.instance_type) if pool.zones else None
        if cpus is None:
            problems.append(failed("quota-cpu", needs.region, f"{pool.instance_type} ({pool.pool}): no such machine "
                                   f"type in {pool.zones[0] if pool.zones else needs.location}",
                                   "pick a machine type the region offers (sizing.instanceTypes / the catalog)"))
            continue
        metric = gcp_cpu_metric(pool.instance_type)
        per_metric[metric] = per_metric.get(metric, 0) + pool.max_nodes * cpus
    return per_metric, problems


def _gcp_quota_check(name: str, scope: str, metric: str, need: int, quotas: dict[str, tuple[float, float]],
                     where: str) -> Check:
    limit, usage = quotas[metric]
    detail = f"{metric}: need {need}, limit {limit:g}, in use {usage:g}"
    if need > limit:
        return failed(name, scope, detail, f"request {metric} >= {need} {where} (IAM & Admin > Quotas), or lower "
                      "the plan")
    if need > limit - usage:
        return Check(name, scope, "warn", detail + " (other workloads hold part of it)",
                     "free capacity or raise the quota before the pools reach their ceiling")
    return passed(name, scope, detail)


def check_gcp_cpus(gcp: GcpApi, needs: GcpRegionNeeds, quotas: dict[str, tuple[float, float]] | None) -> list[Check]:
    per_metric, out = gcp_vcpus(gcp, needs)
    if not per_metric:
        return out
    quotas = gcp.region_quotas(needs.location) if quotas is None else quotas
    merged: dict[str, int] = {}
    for metric, need in per_metric.items():  # a family metric the region does not list counts as CPUS
        key = metric if metric in quotas else "CPUS"
        merged[key] = merged.get(key, 0) + need
    for metric, need in sorted(merged.items()):
        if metric not in quotas:
            out.append(failed("quota-cpu", needs.region, f"{metric}: no such quota in {needs.location}",
                              "check the project and its Compute API"))
            continue
        out.append(_gcp_quota_check("quota-cpu", needs.region, metric, need, quotas, f"in {needs.location}"))
    return out


def check_gcp_project(gcp: GcpApi, all_needs: Sequence[GcpRegionNeeds]) -> list[Check]:
    """Project-wide quotas: every GCP region's GPUs (GPUS_ALL_REGIONS, often 0 on a new project) and vCPUs."""
    gpus = sum(n.gpu_total for n in all_needs)
    cpus = sum(sum(gcp_vcpus(gcp, n)[0].values()) for n in all_needs)
    quotas = gcp.project_quotas()
    out = []
    for metric, need in ((GCP_GPUS_ALL_REGIONS, gpus), (GCP_CPUS_ALL_REGIONS, cpus)):
        if need == 0:
            continue
        if metric not in quotas:
            out.append(failed("quota-project", "gcp", f"{metric}: not listed for project {gcp.project}",
                              "check the project and its Compute API"))
            continue
        out.append(_gcp_quota_check("quota-project", "gcp", metric, need, quotas, f"for project {gcp.project}"))
    return out


# ---- state backend and secrets provider --------------------------------------------------------------------

def check_backend(url: str | None, aws: AwsClients, gcp: Callable[[], GcpApi]) -> Check:
    if not url:
        return Check("state-backend", "stack", "skip", "no PULUMI_BACKEND_URL and no backend.url in Pulumi.yaml: "
                     "the backend is whatever `pulumi login` chose", "set PULUMI_BACKEND_URL to have it checked")
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        region = (parse_qs(parsed.query).get("region") or ["us-east-1"])[0]
        try:
            aws.client("s3", region).head_bucket(Bucket=parsed.netloc)
        except Exception as error:
            return failed("state-backend", "stack", f"{url}: bucket not reachable ({_error_code(error) or error})",
                          f"create the bucket {parsed.netloc} (versioning on) or fix PULUMI_BACKEND_URL / credentials")
        return passed("state-backend", "stack", f"{url}: bucket {parsed.netloc} reachable")
    if parsed.scheme == "gs":
        if gcp().bucket_exists(parsed.netloc):
            return passed("state-backend", "stack", f"{url}: bucket {parsed.netloc} reachable")
        return failed("state-backend", "stack", f"{url}: no such bucket (or no access)",
                      f"create gs://{parsed.netloc} or fix PULUMI_BACKEND_URL / credentials")
    if parsed.scheme == "file":
        path = Path(parsed.path or "~").expanduser()
        if path.is_dir():
            return passed("state-backend", "stack", f"{url}: directory exists")
        return failed("state-backend", "stack", f"{url}: no such directory", f"mkdir -p {path}")
    return Check("state-backend", "stack", "skip", f"{url}: not checked here",
                 "`pulumi whoami -v` shows whether the CLI can reach it")


def check_secrets_provider(provider: str | None, backend: str | None, aws: AwsClients, gcp: Callable[[], GcpApi],
                           env: Mapping[str, str]) -> Check:
    cloud_backend = backend is None or backend.startswith(("https://", "http://"))
    if not provider or provider == "default":
        if cloud_backend:
            return Check("secrets-provider", "stack", "skip", "default provider: the Pulumi Cloud backend's key")
        provider = "passphrase"
    parsed = urlparse(provider)
    if parsed.scheme == "awskms":
        # awskms://<key id or alias/name>?region=R, or awskms:///arn:aws:kms:... (the ARN carries the region)
        key = (parsed.netloc + parsed.path).lstrip("/")
        arn_region = key.split(":")[3] if key.startswith("arn:") else "us-east-1"
        region = (parse_qs(parsed.query).get("region") or [arn_region])[0]
        try:
            meta = aws.client("kms", region).describe_key(KeyId=key)["KeyMetadata"]
        except Exception as error:
            return failed("secrets-provider", "stack", f"{provider}: key not reachable ({_error_code(error) or error})",
                          "create the KMS key or fix the stack's `secretsprovider` / credentials")
        if meta.get("KeyState") != "Enabled":
            return failed("secrets-provider", "stack", f"{provider}: key is {meta.get('KeyState')}",
                          "enable the key (or cancel its deletion)")
        return passed("secrets-provider", "stack", f"{provider}: key enabled")
    if parsed.scheme == "gcpkms":
        name = parsed.netloc + parsed.path
        state = gcp().crypto_key_state(name)
        if state == "ENABLED":
            return passed("secrets-provider", "stack", f"{provider}: key enabled")
        return failed("secrets-provider", "stack", f"{provider}: key {'missing' if state is None else state}",
                      "create or enable the Cloud KMS key, or fix the stack's `secretsprovider`")
    if provider == "passphrase":
        if env.get("PULUMI_CONFIG_PASSPHRASE") is not None or env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
            return passed("secrets-provider", "stack", "passphrase provider: passphrase given in the environment")
        return failed("secrets-provider", "stack", "passphrase provider but neither PULUMI_CONFIG_PASSPHRASE nor "
                      "PULUMI_CONFIG_PASSPHRASE_FILE is set", "export PULUMI_CONFIG_PASSPHRASE_FILE=<file>")
    return Check("secrets-provider", "stack", "skip", f"{provider}: not checked here")


# ---- the runner's reach to the cluster APIs ------------------------------------------------------------------

def check_runner_reach(target: StackTarget, address: str) -> Check:
    """Can this runner reach the EKS APIs? `dns-endpoint`: its egress address must be in `deployerCidrs`
    (EKS's public endpoint admits only those); `private`: its address must be in `runnerCidrs` (inside
    the network). GKE's DNS endpoint takes IAM, not addresses. GitHub-hosted runners have no fixed
    egress: docs/rollout.md, "Reaching EKS from CI"."""
    import ipaddress

    access = target.config.cluster.api_access
    if access is None or not target.plan.aws_regions:
        return Check("runner-reach", "stack", "skip", "no EKS cluster or no cluster.apiAccess: nothing to reach")
    try:  # comma-separated: the public egress and the private address; one admitted address suffices
        ips = [ipaddress.ip_address(a.strip()) for a in address.split(",") if a.strip()]
    except ValueError:
        return failed("runner-reach", "stack", f"RUNNER_EGRESS_IP {address!r} is not a list of IP addresses",
                      "set it to the runner's egress address (e.g. from checkip.amazonaws.com)")
    ranges = access.deployer_cidrs if access.mode == "dns-endpoint" else access.runner_cidrs
    field = "cluster.apiAccess.deployerCidrs" if access.mode == "dns-endpoint" else "cluster.apiAccess.runnerCidrs"
    admitted = [ip for ip in ips if any(ip in ipaddress.ip_network(c, strict=False) for c in ranges)]
    if admitted:
        return passed("runner-reach", "stack", f"{admitted[0]} is in {field} ({access.mode})")
    shown = ", ".join(map(str, ips)) or "no address"
    return failed("runner-reach", "stack", f"{shown} not in {field} ({', '.join(ranges) or 'empty'}): the EKS APIs "
                  "will refuse this runner mid-deploy",
                  "run the deploy on a runner whose egress is listed (fixed-egress or self-hosted runner, "
                  "DEPLOY_RUNS_ON) or add its address to " + field)


# ---- the command -------------------------------------------------------------------------------------------

def preflight_steps(target: StackTarget, aws: AwsClients, gcp: Callable[[], GcpApi],
                    env: Mapping[str, str]) -> list[Step]:
    steps: list[Step] = []
    for needs in aws_needs(target.plan):
        ec2, quotas = aws.client("ec2", needs.location), aws.client("service-quotas", needs.location)
        steps += [
            Step(f"{needs.region}: zones and GPU offerings",
                 lambda ec2=ec2, n=needs: check_zones_and_offerings(ec2, n)),
            Step(f"{needs.region}: vCPU quotas",
                 lambda ec2=ec2, q=quotas, n=needs: check_vcpu_quotas(ec2, q, n, target.name)),
            Step(f"{needs.region}: network quotas",
                 lambda ec2=ec2, q=quotas, n=needs: check_network_quotas(ec2, q, n, target.name)),
        ]
    every_gcp = gcp_needs(target.plan)
    for gneeds in every_gcp:
        steps.append(Step(f"{gneeds.region}: GPUs and quotas", lambda n=gneeds: check_gcp_region(gcp(), n)))
    if every_gcp:
        steps.append(Step("gcp: project-wide quotas", lambda: check_gcp_project(gcp(), every_gcp)))
    if env.get("RUNNER_EGRESS_IP"):
        steps.append(Step("runner: cluster API reach", lambda: [check_runner_reach(target, env["RUNNER_EGRESS_IP"])]))
    steps.append(Step("state backend", lambda: [check_backend(target.backend_url, aws, gcp)]))
    steps.append(Step("secrets provider", lambda: [check_secrets_provider(
        target.secrets_provider, target.backend_url, aws, gcp, env)]))
    return steps


def cloud_error(step: Step, error: Exception) -> Check:
    """Any exception of a step as one named failed check with its fix (never a traceback)."""
    scope = step.label.split(":")[0]
    name = type(error).__name__
    code = _error_code(error)
    if isinstance(error, GcpCredentialsError):
        return failed("gcp-credentials", scope, f"{step.label}: {error}",
                      "`gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS (CI: "
                      "google-github-actions/auth)")
    if isinstance(error, ConfigError):
        return failed("config", scope, f"{step.label}: {error}", "fix the stack file")
    if name in ("NoCredentialsError", "PartialCredentialsError", "NoRegionError") or code in (
            "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
        return failed("aws-credentials", scope, f"{step.label}: {name}: {code or error}",
                      "AWS credentials from any standard source (environment, AWS_PROFILE, SSO, role); renew "
                      "an expired session")
    status = getattr(getattr(error, "response", None), "status_code", None)
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation") or status in (401, 403):
        return failed("cloud-permissions", scope, f"{step.label}: {name}: {code or status}: {error}",
                      "grant the read permissions docs/ops.md lists to the identity running this command")
    return failed("cloud-api", scope, f"{step.label}: {name}: {error}",
                  "check credentials (AWS: any standard source; GCP: application default credentials), "
                  "the account's permissions and network access")


def lazy_gcp(project: str | None, factory: Callable[[str], GcpApi]) -> Callable[[], GcpApi]:
    """Build the GCP client on first use, so AWS-only stacks never need Google credentials."""
    made: list[GcpApi] = []
    broken: list[Exception] = []

    def get() -> GcpApi:
        if not project:
            raise ConfigError(["gcp:project: not set in the stack file; `pulumi config set gcp:project <id>`"])
        if broken:
            raise broken[0]
        if not made:
            try:
                made.append(factory(project))
            except GcpCredentialsError as error:
                broken.append(error)
                raise
            except Exception as error:  # any other failure to build the client is a credentials problem too
                broken.append(GcpCredentialsError(f"no usable Google credentials: {type(error).__name__}: {error}"))
                raise broken[0] from error
        return made[0]
    return get


def main(argv: Sequence[str] | None = None, *, aws: AwsClients | None = None,
         gcp_factory: Callable[[str], GcpApi] = GoogleRestApi, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.preflight", description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    args = parser.parse_args(argv)
    try:
        target = load_target(args, env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect, not bad input: say what, without a traceback
        print(f"error: loading the stack failed: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return 1
    env = os.environ if env is None else env
    steps = preflight_steps(target, aws or AwsClients(), lazy_gcp(target.gcp_project, gcp_factory), env)
    checks = run_steps(steps, on_error=cloud_error)
    if args.json:
        print(to_json("preflight", target.name, checks))
    else:
        render_table(f"Preflight: stack {target.name}", checks, Console())
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
