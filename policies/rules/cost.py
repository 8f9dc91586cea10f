"""Cost guards (advisory): GPU types from the approved catalogue, bounded GPU pools, a NAT per zone
only where availability pays for it (prod)."""

from __future__ import annotations

from collections.abc import Iterator

from .core import (
    ADVISORY,
    LOW,
    MEDIUM,
    Param,
    Resource,
    StackFinding,
    as_list,
    get,
    is_unknown,
    rule,
    stack_name,
    stack_rule,
)
from .gpu import eks_node_group_is_gpu, gke_node_pool_is_gpu, is_gpu_instance_type

EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
APPROVED_GPU_TYPES = ["g5.xlarge", "g5.2xlarge", "g6.xlarge", "g6.2xlarge", "p4d.24xlarge", "p5.48xlarge",
                      "g2-standard-4", "g2-standard-8", "a2-highgpu-1g", "a2-ultragpu-1g", "a3-highgpu-8g"]


def _instance_types(r: Resource) -> list[str]:
    if r.type == EKS_NODE_GROUP:
        return [t for t in as_list(r.props.get("instanceTypes")) if isinstance(t, str)]
    key = "nodeConfig.machineType" if r.type == GKE_NODE_POOL else "instanceType"
    value = get(r.props, key)
    return [value] if isinstance(value, str) and not is_unknown(value) else []


@rule("gpu-instance-type-approved", "GPU capacity uses instance / machine types from the approved, priced catalogue.",
      enforcement=ADVISORY, severity=MEDIUM, types=(EKS_NODE_GROUP, GKE_NODE_POOL, LAUNCH_TEMPLATE, EC2_INSTANCE),
      params={"allowedGpuTypes": Param("array", APPROVED_GPU_TYPES, "GPU instance/machine types that may be used")})
def gpu_type_approved(r: Resource, config) -> Iterator[str]:
    for name in _instance_types(r):
        if is_gpu_instance_type(name) and name not in config["allowedGpuTypes"]:
            yield f"{name} is not an approved GPU type"


@rule("gpu-pool-size-bounded", "GPU node pools have an autoscaling ceiling below the configured maximum.",
      enforcement=ADVISORY, severity=MEDIUM, types=(EKS_NODE_GROUP, GKE_NODE_POOL),
      params={"maxNodes": Param("integer", 64, "largest GPU pool (nodes) before someone must sign off")})
def gpu_pool_bounded(r: Resource, config) -> Iterator[str]:
    if r.type == EKS_NODE_GROUP:
        if not eks_node_group_is_gpu(r.props):
            return
        ceiling = get(r.props, "scalingConfig.maxSize")
    else:
        if not gke_node_pool_is_gpu(r.props):
            return
        ceiling = get(r.props, "autoscaling.totalMaxNodeCount") or get(r.props, "autoscaling.maxNodeCount")
    if ceiling is None:
        yield "no autoscaling ceiling"
    elif not is_unknown(ceiling) and float(ceiling) > config["maxNodes"]:
        yield f"ceiling {ceiling:g} nodes > {config['maxNodes']}"


VPC, SUBNET, NAT = "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway"


@stack_rule("nat-per-zone-in-prod",
            "In production stacks every AWS zone with subnets has its own NAT gateway (one zone down keeps egress).",
            enforcement=ADVISORY, severity=LOW, reads=(VPC, SUBNET, NAT),
            params={"stacks": Param("array", ["prod"], "stacks that need a NAT per zone")})
def nat_per_zone(resources: list[Resource], config) -> Iterator[StackFinding]:
    if stack_name(resources) not in config["stacks"]:
        return
    for vpc in (r for r in resources if r.type == VPC):
        subnets = [r for r in resources if r.type == SUBNET and vpc in r.dependencies]
        zones = {s.props.get("availabilityZone") for s in subnets if isinstance(s.props.get("availabilityZone"), str)}
        nat_zones = {s.props.get("availabilityZone") for nat in resources if nat.type == NAT
                     for s in nat.dependencies if s in subnets}
        if len(nat_zones) < len(zones):
            yield f"{len(nat_zones)} NAT gateway zone(s) for {len(zones)} zones", vpc.urn


RULES = [gpu_type_approved, gpu_pool_bounded, nat_per_zone]
