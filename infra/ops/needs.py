"""What a plan needs from each cloud account, region by region: GPU zones, quota units, network objects.

Pure (reads the plan only), so it is tested directly; `preflight` compares these needs with what the
account offers. Quota codes and defaults are AWS's and Google's (sources next to each constant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.planning.plan import RolloutPlan

# AWS On-Demand vCPU quotas by instance family (service code ec2), https://docs.aws.amazon.com/ec2/latest/
# instancetypes/ec2-instance-quotas.html ("On-Demand Instance quotas"); quota codes as listed by
# `aws service-quotas list-aws-default-service-quotas --service-code ec2`.
VCPU_QUOTAS = {
    "L-1216C47A": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    "L-DB2E81BA": "Running On-Demand G and VT instances",
    "L-417A185B": "Running On-Demand P instances",
}
_FAMILY_QUOTA = {**dict.fromkeys("acdhimrtz", "L-1216C47A"), "g": "L-DB2E81BA", "p": "L-417A185B"}
# Families whose first letter would mislead: VT counts with G; Inferentia, Trainium, DL, HPC and Mac
# instances have quotas of their own (not checked here).
_FAMILY_EXCEPTIONS: dict[str, str | None] = {"vt": "L-DB2E81BA", "inf": None, "trn": None, "dl": None,
                                             "hpc": None, "mac": None}

# Counted network quotas: (service code, quota code, name). https://docs.aws.amazon.com/vpc/latest/userguide/
# amazon-vpc-limits.html (VPCs, internet gateways, NAT gateways per AZ, Elastic IPs) and
# https://docs.aws.amazon.com/vpc/latest/tgw/transit-gateway-quotas.html (transit gateways per account).
QUOTA_VPCS = ("vpc", "L-F678F1CE", "VPCs per Region")
QUOTA_IGWS = ("vpc", "L-A4707A72", "Internet gateways per Region")
QUOTA_NAT_PER_AZ = ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone")
QUOTA_EIPS = ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs")
QUOTA_TGWS = ("ec2", "L-A2478D36", "Transit gateways per account")
# Not in Service Quotas; fixed by AWS: https://docs.aws.amazon.com/vpc/latest/tgw/transit-gateway-quotas.html
# ("Peering attachments per transit gateway: 50").
TGW_PEERINGS_LIMIT = 50

# GCP regional GPU quota metric per accelerator type, https://cloud.google.com/compute/resource-usage#gpu_quota
GCP_GPU_QUOTA_METRIC = {
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
}

# Project-wide GCP quotas (`projects/{p}` quotas), often 0 GPUs on a new project:
# https://cloud.google.com/compute/resource-usage#gpu_quota ("GPUS_ALL_REGIONS") and
# https://cloud.google.com/compute/resource-usage#cpu_quota ("CPUS_ALL_REGIONS").
GCP_GPUS_ALL_REGIONS = "GPUS_ALL_REGIONS"
GCP_CPUS_ALL_REGIONS = "CPUS_ALL_REGIONS"
# Regional vCPU quota per machine family: families with a metric of their own (the Compute API's
# Quota.Metric enum: A2_CPUS, C2_CPUS, C2D_CPUS, C3_CPUS, E2_CPUS, N2_CPUS, N2D_CPUS, ...,
# https://cloud.google.com/compute/docs/reference/rest/v1/regions) count there, the others
# (N1, G2, ...) against `CPUS`; a family metric the region does not list falls back to `CPUS`.
_GCP_FAMILY_CPUS = {"a2": "A2_CPUS", "c2": "C2_CPUS", "c2d": "C2D_CPUS", "c3": "C3_CPUS", "e2": "E2_CPUS",
                    "n2": "N2_CPUS", "n2d": "N2D_CPUS", "m1": "M1_CPUS", "m2": "M2_CPUS", "t2d": "T2D_CPUS"}


def gcp_cpu_metric(machine_type: str) -> str:
    return _GCP_FAMILY_CPUS.get(machine_type.split("-", 1)[0], "CPUS")


def vcpu_quota_code(instance_type: str) -> str | None:
    """The On-Demand vCPU quota an instance type counts against (None for families not listed here)."""
    match = re.match(r"[a-z]+", instance_type)
    family = match.group(0) if match else ""
    if family in _FAMILY_EXCEPTIONS:
        return _FAMILY_EXCEPTIONS[family]
    return _FAMILY_QUOTA.get(family[:1])


@dataclass(frozen=True)
class PoolNeed:
    """One node pool at its ceiling: `max_nodes` nodes of `instance_type` in `zones`."""

    region: str
    pool: str
    instance_type: str
    zones: tuple[str, ...]
    max_nodes: int
    gpu_count: int
    accelerator: str | None  # GKE accelerator type (GCP only)

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0


@dataclass(frozen=True)
class AwsRegionNeeds:
    region: str
    location: str
    zones: tuple[str, ...]  # zone names as the catalog (and the subnets) spell them
    pools: tuple[PoolNeed, ...]  # the system pool and every GPU pool
    vpcs: int
    internet_gateways: int
    nat_gateways_per_zone: int  # the most NAT gateways any one zone gets
    elastic_ips: int  # one per NAT gateway
    transit_gateways: int
    tgw_peerings: int  # peering attachments on this region's transit gateway

    @property
    def gpu_pools(self) -> tuple[PoolNeed, ...]:
        return tuple(p for p in self.pools if p.is_gpu)


@dataclass(frozen=True)
class GcpRegionNeeds:
    region: str
    location: str
    pools: tuple[PoolNeed, ...]  # GPU pools
    gpus: dict[str, int]  # quota metric -> GPUs at every pool's ceiling
    all_pools: tuple[PoolNeed, ...] = ()  # every pool (the system pool too): the vCPU quotas

    @property
    def gpu_total(self) -> int:
        return sum(self.gpus.values())


def _pools(plan: RolloutPlan, region: str) -> tuple[PoolNeed, ...]:
    cluster = plan.clusters.get(region)
    if cluster is None:
        return ()
    return tuple(PoolNeed(region, p.name, p.machine_type, p.zones, p.max_nodes, p.gpu_count, p.accelerator)
                 for p in cluster.pools)


def aws_needs(plan: RolloutPlan) -> tuple[AwsRegionNeeds, ...]:
    out = []
    for r in plan.aws_regions:
        peerings = sum(1 for p in plan.topology.peerings if r.name in (p.requester, p.accepter))
        out.append(AwsRegionNeeds(
            region=r.name, location=r.location, zones=r.zones, pools=_pools(plan, r.name), vpcs=1,
            internet_gateways=1, nat_gateways_per_zone=1, elastic_ips=r.nat_gateways, transit_gateways=1,
            tgw_peerings=peerings))
    return tuple(out)


def gcp_needs(plan: RolloutPlan) -> tuple[GcpRegionNeeds, ...]:
    out = []
    for r in plan.gcp_regions:
        pools = tuple(p for p in _pools(plan, r.name) if p.is_gpu)
        gpus: dict[str, int] = {}
        for p in pools:
            metric = GCP_GPU_QUOTA_METRIC.get(p.accelerator or "", f"{p.accelerator} (unknown quota metric)")
            gpus[metric] = gpus.get(metric, 0) + p.max_nodes * p.gpu_count
        out.append(GcpRegionNeeds(region=r.name, location=r.location, pools=pools, gpus=gpus,
                                  all_pools=_pools(plan, r.name)))
    return tuple(out)

