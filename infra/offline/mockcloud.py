"""A mock cloud for offline runs: realistic, deterministic outputs per resource type.

Every resource gets the outputs the real provider would compute (ids, ARNs, self links, IPs,
endpoints), derived from a hash of its type and name, so previews are reproducible and every
`apply` downstream runs on plausible values.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

import pulumi

from infra.offline.mockcloud_database import database_outputs
from infra.offline.mockcloud_links import link_outputs
from infra.offline.mockcloud_serving import serving_outputs
from infra.offline.mockcloud_traffic import traffic_outputs
from infra.planning.partition import oidc_issuer_host, partition_of_region

ACCOUNT_ID = "123456789012"
DEFAULT_AWS_REGION = "us-east-1"
DEFAULT_GCP_PROJECT = "rollout-mock-project"

# Id prefixes the EC2 API uses (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Types.html).
_AWS_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2transitgateway/transitGateway:TransitGateway": "tgw",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": "tgw-attach",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment": "tgw-attach",
    "aws:ec2transitgateway/routeTable:RouteTable": "tgw-rtb",
    "aws:ec2/customerGateway:CustomerGateway": "cgw",
    "aws:ec2/vpnConnection:VpnConnection": "vpn",
}


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _ip(pool: str, *parts: str) -> str:
    net = ipaddress.ip_network(pool)
    offset = int(_digest(*parts)[:8], 16) % (net.num_addresses - 2) + 1
    return str(net.network_address + offset)


def _aws(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    region = inputs.get("region") or DEFAULT_AWS_REGION
    module = typ.split(":")[1].split("/")[0]
    kind = typ.rsplit(":", 1)[1]
    h = _digest(typ, name)
    prefix = _AWS_ID_PREFIX.get(typ)
    rid = f"{prefix}-{h[:17]}" if prefix else f"{name}-{h[:8]}"
    service = {"ec2transitgateway": "ec2", "cloudwatch": "logs"}.get(module, module)
    if module == "iam":
        physical = inputs.get("name") or f"{name}-{h[:7]}"
        rid = physical
        arn = f"arn:aws:iam::{ACCOUNT_ID}:{kind[0].lower() + kind[1:]}/{physical}"
        return rid, {"name": physical, "arn": arn, "uniqueId": f"AROA{h[:17].upper()}"}
    arn = f"arn:{partition_of_region(region)}:{service}:{region}:{ACCOUNT_ID}:{kind[0].lower() + kind[1:]}/{rid}"
    out: dict[str, Any] = {"arn": arn, "region": region, "ownerId": ACCOUNT_ID, "tagsAll": inputs.get("tags", {})}
    if typ == "aws:ec2/vpc:Vpc":
        out |= {"defaultSecurityGroupId": f"sg-{h[17:34]}", "mainRouteTableId": f"rtb-{h[17:34]}",
                "defaultRouteTableId": f"rtb-{h[17:34]}", "defaultNetworkAclId": f"acl-{h[17:34]}"}
    elif typ == "aws:ec2/eip:Eip":
        out |= {"allocationId": rid, "publicIp": _ip("203.0.113.0/24", name), "domain": "vpc"}
    elif typ == "aws:ec2/natGateway:NatGateway":
        out |= {"publicIp": _ip("198.51.100.0/24", name), "privateIp": _ip("10.255.0.0/16", name)}
    elif typ == "aws:ec2transitgateway/transitGateway:TransitGateway":
        out |= {"associationDefaultRouteTableId": f"tgw-rtb-{h[17:34]}",
                "propagationDefaultRouteTableId": f"tgw-rtb-{h[17:34]}"}
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        physical = inputs.get("name") or f"{name}-{h[:7]}"
        rid = physical
        partition = partition_of_region(region)
        out |= {"name": physical, "arn": f"arn:{partition}:logs:{region}:{ACCOUNT_ID}:log-group:{physical}"}
    elif typ == "aws:ec2/subnet:Subnet":
        out |= {"availabilityZoneId": f"use1-az{int(h[:2], 16) % 6 + 1}"}
    return rid, out


_GCP_COLLECTION = {
    "Network": "networks",
    "Subnetwork": "subnetworks",
    "Router": "routers",
    "Firewall": "firewalls",
    "HaVpnGateway": "vpnGateways",
    "ExternalVpnGateway": "externalVpnGateways",
    "VpnTunnel": "vpnTunnels",
    "VPNTunnel": "vpnTunnels",  # what pulumi_gcp registers: gcp:compute/vPNTunnel:VPNTunnel
}


def _gcp(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = inputs.get("project") or DEFAULT_GCP_PROJECT
    kind = typ.rsplit(":", 1)[1]
    physical = inputs.get("name") or f"{name}-{_digest(typ, name)[:7]}"
    region = inputs.get("region")
    collection = _GCP_COLLECTION.get(kind, kind[0].lower() + kind[1:] + "s")
    scope = f"projects/{project}/regions/{region}" if region else f"projects/{project}/global"
    rid = f"{scope}/{collection}/{physical}"
    out: dict[str, Any] = {"name": physical, "project": project,
                           "selfLink": f"https://www.googleapis.com/compute/v1/{rid}"}
    if kind == "Subnetwork":
        cidr = inputs.get("ipCidrRange", "10.0.0.0/24")
        out["gatewayAddress"] = str(next(ipaddress.ip_network(cidr).hosts()))
    elif kind == "Network":
        out["numericId"] = str(int(_digest(typ, name)[:12], 16))
    elif kind == "RouterNat":
        rid = f"{project}/{region}/{inputs.get('router')}/{physical}"
    return rid, out


def _generic(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{name}-{_digest(typ, name)[:12]}", {}


# --- Kubernetes clusters (components/cluster) ------------------------------------------------------
MOCK_CA_PEM_B64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSU1PQ0s="  # base64 of a PEM header, not a real CA
GCP_PROJECT_NUMBER = "123456789012"


def _cluster_outputs(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Computed outputs of cluster resources (endpoints, CA data, OIDC issuer, KMS and SA ids):
    (id override or None, extra outputs)."""
    h = _digest(typ, name)
    region = inputs.get("region") or DEFAULT_AWS_REGION
    project = inputs.get("project") or DEFAULT_GCP_PROJECT
    if typ == "aws:eks/cluster:Cluster":
        oidc_id = h[:32].upper()
        return None, {
            "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{h[32:49]}",
                          "vpcId": f"vpc-{h[49:64]}"},
            "endpoint": f"https://{oidc_id}.gr7.{region}.eks.amazonaws.com",
            "certificateAuthority": {"data": MOCK_CA_PEM_B64},
            "identities": [{"oidcs": [
                {"issuer": f"https://{oidc_issuer_host(partition_of_region(region), region)}/id/{oidc_id}"}]}],
            "status": "ACTIVE", "platformVersion": "eks.1",
        }
    if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        host = str(inputs.get("url", "oidc.example")).removeprefix("https://")
        arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
        return arn, {"arn": arn, "url": host}
    if typ == "aws:kms/key:Key":
        key_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        key_arn = f"arn:{partition_of_region(region)}:kms:{region}:{ACCOUNT_ID}:key/{key_id}"
        return key_id, {"keyId": key_id, "arn": key_arn}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return None, {"latestVersion": 1, "defaultVersion": 1}
    if typ == "aws:eks/nodeGroup:NodeGroup":
        return None, {"status": "ACTIVE", "resources": [{"autoscalingGroups": [{"name": f"eks-{h[:12]}"}]}]}
    if typ == "gcp:container/cluster:Cluster":
        location = inputs.get("location", "us-central1")
        endpoints = inputs.get("controlPlaneEndpointsConfig") or {}
        dns = endpoints.get("dnsEndpointConfig")
        if dns is not None:  # GKE names the DNS endpoint gke-<hash>-<project number>.<location>.gke.goog
            endpoints = {**endpoints, "dnsEndpointConfig": {
                **dns, "endpoint": f"gke-{h[:32]}-{GCP_PROJECT_NUMBER}.{location}.gke.goog"}}
        return (f"projects/{project}/locations/{location}/clusters/{inputs.get('name', name)}",
                {"endpoint": _ip("10.250.0.0/16", name), "masterVersion": f"{inputs.get('minMasterVersion')}.1-gke.1",
                 "masterAuth": {"clusterCaCertificate": MOCK_CA_PEM_B64},
                 **({"controlPlaneEndpointsConfig": endpoints} if endpoints else {})})
    if typ == "gcp:projects/serviceIdentity:ServiceIdentity":
        agent = {"container.googleapis.com": "container-engine-robot"}.get(inputs.get("service", ""), "gcp-sa")
        email = f"service-{GCP_PROJECT_NUMBER}@{agent}.iam.gserviceaccount.com"
        return (f"projects/{project}/services/{inputs.get('service')}",
                {"email": email, "member": f"serviceAccount:{email}"})
    if typ == "gcp:projects/service:Service":
        return f"{project}/{inputs.get('service')}", {}
    if typ == "random:index/randomId:RandomId":
        size = int(inputs.get("byteLength", 4))
        return h[: 2 * size], {"hex": h[: 2 * size], "dec": str(int(h[: 2 * size], 16))}
    if typ == "gcp:kms/keyRing:KeyRing":
        return f"projects/{project}/locations/{inputs.get('location')}/keyRings/{inputs.get('name', name)}", {}
    if typ == "gcp:kms/cryptoKey:CryptoKey":
        return f"{inputs.get('keyRing')}/cryptoKeys/{inputs.get('name', name)}", {}
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs.get('accountId')}@{project}.iam.gserviceaccount.com"
        return (f"projects/{project}/serviceAccounts/{email}",
                {"email": email, "member": f"serviceAccount:{email}", "uniqueId": str(int(h[:15], 16))})
    return None, {}


def _cluster_call(token: str, args: dict[str, Any]) -> dict[str, Any] | None:
    if token == "gcp:organizations/getProject:getProject":
        project = args.get("projectId") or DEFAULT_GCP_PROJECT
        return {"projectId": project, "number": GCP_PROJECT_NUMBER, "name": project, "id": f"projects/{project}"}
    return None


OutputFactory = Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any]]]
_BY_PACKAGE: dict[str, OutputFactory] = {"aws": _aws, "gcp": _gcp}


def mock_outputs(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(physical id, state) the provider would report: the inputs plus the computed outputs."""
    factory = _BY_PACKAGE.get(typ.split(":", 1)[0], _generic)
    rid, computed = factory(typ, name, inputs)
    cluster_rid, cluster_computed = _cluster_outputs(typ, name, inputs)
    serving_rid, serving_computed = serving_outputs(typ, name, inputs)
    database_rid, database_computed = database_outputs(typ, name, inputs)
    traffic_rid, traffic_computed = traffic_outputs(typ, name, inputs)
    rid = serving_rid or database_rid or cluster_rid or traffic_rid or rid
    return rid, {**inputs, **computed, **cluster_computed, **link_outputs(typ, name, inputs), **traffic_computed,
                 **serving_computed, **database_computed,
                 "id": rid}


# Types whose provider refuses an over-long physical name (auto-named: logical name + random suffix)
# instead of truncating it: the mock refuses them too, with the provider's kind of message. The
# limits and their sources are the deploy rehearsal's (infra/rehearsal/names.py).
REFUSED_NAME_TYPES = frozenset({
    "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup", "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy", "aws:s3/bucket:Bucket", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
    "gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool", "gcp:serviceaccount/account:Account",
})


class PhysicalNameError(ValueError):
    """What the provider says when a physical name breaks the service's length limit."""


def refuse_bad_name(typ: str, name: str, inputs: dict[str, Any]) -> None:
    from infra.rehearsal.names import check_name

    if typ in REFUSED_NAME_TYPES:
        problems = [p for p in check_name(typ, name, inputs) if "characters" in p]
        if problems:
            raise PhysicalNameError(f"{typ} {name!r}: {'; '.join(problems)}")


class MockCloud(pulumi.runtime.Mocks):
    """The `Mocks` the offline preview and the tests install."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom:
            return None, {}
        refuse_bad_name(args.typ, args.name, dict(args.inputs))
        return mock_outputs(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """Invoke results as a plain dict (a tuple's failure list must not be None for MockMonitor)."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock",
                    "userId": "AIDAMOCK", "id": ACCOUNT_ID}
        cluster_result = _cluster_call(args.token, dict(args.args))
        return cluster_result if cluster_result is not None else {}
