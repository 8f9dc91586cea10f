"""The hardening rules as specifications: CIDR logic on networks (not strings), the new stack rules on
small resource graphs, and a battery of realistic bad resources built by mutating what the program
really renders (dev and prod previews): each mutation must be caught, as mandatory when it is a
security weakness."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.offline.mock_runtime import SECRET
from policies.rules import ALL_RULES
from policies.rules.cluster_hardening import eks_node_role_no_cni, security_groups_attached
from policies.rules.core import MANDATORY, NotApplicable, Resource, Rule
from policies.rules.edge import public_lb_https_only
from policies.rules.k8s_security import namespaces_default_deny
from policies.rules.netmath import covers_world, public_ranges, reaches_metadata
from policies.rules.storage import s3_buckets_hardened
from tests.mutations import set_path as _set
from tests.previews import stack_run

ROOT = Path(__file__).resolve().parent.parent
RESOURCE_RULES = [r for r in ALL_RULES if isinstance(r, Rule)]


def res(typ: str, name: str, props=None, parent=None, deps=()) -> Resource:
    return Resource(type=typ, props=props or {}, urn=f"urn:pulumi:prod::p::{typ}::{name}", name=name,
                    parent=parent, dependencies=list(deps))


# ---- networks, not strings ----------------------------------------------------------------------------

@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["::/0"], ["0.0.0.0/00"],
                                   [f"{n}.0.0.0/2" for n in (0, 64, 128, 192)], ["0.0.0.1/0"]])
def test_any_set_of_ranges_covering_the_internet_is_the_world(cidrs):
    assert covers_world(cidrs)


@pytest.mark.parametrize("cidrs", [["0.0.0.0/1"], ["10.0.0.0/8", "128.0.0.0/1"], [], ["not-a-cidr"]])
def test_part_of_the_internet_is_not_the_world(cidrs):
    assert not covers_world(cidrs)


def test_public_ranges_are_those_routable_on_the_internet():
    assert public_ranges(["10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "203.0.113.0/24", "11.0.0.0/8"]) == \
        ["203.0.113.0/24", "11.0.0.0/8"]


def test_metadata_reachability_honours_except():
    assert reaches_metadata(["0.0.0.0/0"])
    assert not reaches_metadata(["0.0.0.0/0"], ["169.254.0.0/16"])
    assert not reaches_metadata(["10.0.0.0/8"])


def test_a_split_world_on_ssh_fails_both_ingress_rules():
    sg = res("aws:ec2/securityGroup:SecurityGroup", "sg", {"ingress": [
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1"]},
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["128.0.0.0/1"]}]})
    fired = {r.name for r in RESOURCE_RULES if r.evaluate(sg)}
    assert {"no-open-ingress-aws", "no-internet-admin-ports"} <= fired


# ---- stack rules ------------------------------------------------------------------------------------------

def _namespace(name: str, parent: Resource) -> Resource:
    return res("kubernetes:core/v1:Namespace", f"{parent.name}-{name}", {"metadata": {"name": name}}, parent=parent)


def _deny(ns: str, parent: Resource) -> Resource:
    return res("kubernetes:networking.k8s.io/v1:NetworkPolicy", f"{parent.name}-{ns}-deny",
               {"metadata": {"namespace": ns, "name": "default-deny"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}, parent=parent)


def test_every_workload_namespace_of_every_cluster_needs_its_own_default_deny():
    a, b = res("rollout:cluster:KubernetesBase", "use1"), res("rollout:cluster:KubernetesBase", "euw4")
    namespaces = [_namespace(n, c) for c in (a, b) for n in ("rollout-serving", "rollout-data", "rollout-system")]
    policies = [_deny(n, c) for c in (a, b) for n in ("rollout-serving", "rollout-data", "rollout-system")]
    assert namespaces_default_deny.evaluate(namespaces + policies) == []
    missing = [p for p in policies if p.name != "euw4-rollout-data-deny"]
    (finding,) = namespaces_default_deny.evaluate(namespaces + missing)
    assert finding[1].endswith("::euw4-rollout-data")
    ingress_only = copy.deepcopy(policies[0].props)
    ingress_only["spec"]["policyTypes"] = ["Ingress"]
    weak = [res(policies[0].type, "weak", ingress_only, parent=a), *policies[1:]]
    assert [u for _, u in namespaces_default_deny.evaluate(namespaces + weak)] == [namespaces[0].urn]
    with pytest.raises(NotApplicable):
        namespaces_default_deny.evaluate([])


def test_the_cni_policy_may_not_sit_on_a_node_role():
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}]})
    node = res("aws:iam/role:Role", "node", {"assumeRolePolicy": trust})
    irsa = res("aws:iam/role:Role", "cni", {"assumeRolePolicy": json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"}}]})})
    cni = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    on_node = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", {"policyArn": cni}, deps=[node])
    on_irsa = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "b", {"policyArn": cni}, deps=[irsa])
    assert [u for _, u in eks_node_role_no_cni.evaluate([node, irsa, on_node, on_irsa])] == [on_node.urn]


def test_buckets_need_a_public_access_block_encryption_and_versioning():
    bucket = res("aws:s3/bucketV2:BucketV2", "weights")
    assert len(s3_buckets_hardened.evaluate([bucket])) == 3
    companions = [res(t, t.rsplit(":", 1)[1], deps=[bucket]) for t in (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
        "aws:s3/bucketVersioningV2:BucketVersioningV2")]
    assert s3_buckets_hardened.evaluate([bucket, *companions]) == []


def test_an_internet_facing_load_balancer_publishes_only_tls():
    lb = res("aws:lb/loadBalancer:LoadBalancer", "public", {"internal": False})
    internal = res("aws:lb/loadBalancer:LoadBalancer", "mongo", {"internal": True})
    tcp = res("aws:lb/listener:Listener", "tcp", {"protocol": "TCP", "port": 27017}, deps=[lb])
    redirect = res("aws:lb/listener:Listener", "http", {"protocol": "HTTP", "defaultActions": [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}]}, deps=[lb])
    https = res("aws:lb/listener:Listener", "https", {"protocol": "HTTPS"}, deps=[lb])
    private_tcp = res("aws:lb/listener:Listener", "private", {"protocol": "TCP"}, deps=[internal])
    found = public_lb_https_only.evaluate([lb, internal, tcp, redirect, https, private_tcp])
    assert [u for _, u in found] == [tcp.urn]


def test_a_security_group_attached_to_nothing_is_reported():
    sg = res("aws:ec2/securityGroup:SecurityGroup", "peers")
    rule = res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "r", deps=[sg])
    assert len(security_groups_attached.evaluate([sg, rule])) == 1
    template = res("aws:ec2/launchTemplate:LaunchTemplate", "lt", deps=[sg])
    assert security_groups_attached.evaluate([sg, rule, template]) == []


# ---- a battery built from what the program renders -----------------------------------------------------

@pytest.fixture(scope="module")
def rendered() -> dict[str, Resource]:
    """One real resource of each type (dev and prod previews), as the pack would receive it."""
    found: dict[str, Resource] = {}
    for stack in ("dev", "prod"):
        for r in stack_run(stack).resources:
            # The capture masks secrets; the engine hands the pack the real (generated, 48-character) value.
            text = json.dumps(r.inputs, default=str).replace(json.dumps(SECRET), json.dumps("k" * 48))
            resource = Resource(type=r.type, props=json.loads(text), urn=r.urn, name=r.name, protect=r.protect)
            found.setdefault(r.type, resource)
            found.setdefault(f"{r.type}#{r.name}", resource)
    return found


def _label(key: str, value: str) -> Callable[[dict], None]:
    def mutate(props: dict) -> None:
        props["metadata"]["labels"][key] = value
    return mutate


def _pop(path: str) -> Callable[[dict], None]:
    def mutate(props: dict) -> None:
        node = props
        *steps, last = path.split(".")
        for step in steps:
            node = node[int(step)] if isinstance(node, list) else node[step]
        node.pop(last, None)
    return mutate


# (type, mutation, description); every one is a security weakness, so a MANDATORY rule must catch it.
BATTERY = [
    ("aws:ec2/launchTemplate:LaunchTemplate", _set("metadataOptions.httpPutResponseHopLimit", 2), "IMDS hop 2"),
    ("aws:ec2/launchTemplate:LaunchTemplate", _set("metadataOptions.httpTokens", "optional"), "IMDSv1"),
    ("aws:ec2/launchTemplate:LaunchTemplate", _set("blockDeviceMappings.0.ebs.encrypted", "false"), "plain disk"),
    ("aws:ec2/launchTemplate:LaunchTemplate", _set("networkInterfaces", [{"associatePublicIpAddress": "true"}]),
     "public IP"),
    ("aws:eks/cluster:Cluster", lambda p: (_set("vpcConfig.endpointPublicAccess", True)(p),
                                           _pop("vpcConfig.publicAccessCidrs")(p)), "public API, no allow-list"),
    ("aws:eks/cluster:Cluster", _set("accessConfig.bootstrapClusterCreatorAdminPermissions", True),
     "implicit admin for the creator"),
    ("aws:eks/accessEntry:AccessEntry", _set("kubernetesGroups", ["system:masters"]), "entry into system:masters"),
    ("aws:eks/accessEntry:AccessEntry", _set("principalArn", "arn:aws:iam::123456789012:root"),
     "account root as cluster principal"),
    ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", _set("principalArn", "*"),
     "cluster-admin policy for any principal"),
    ("aws:eks/cluster:Cluster", lambda p: (_set("vpcConfig.endpointPublicAccess", True)(p),
                                           _set("vpcConfig.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"])(p)),
     "split world"),
    ("aws:eks/cluster:Cluster", _pop("encryptionConfig"), "secrets unencrypted"),
    ("aws:eks/cluster:Cluster", _set("enabledClusterLogTypes", ["api"]), "no audit log"),
    ("aws:eks/cluster:Cluster", _set("version", "1.28"), "unsupported version"),
    ("aws:eks/addon:Addon#use1-k8s-vpc-cni", _pop("serviceAccountRoleArn"), "add-on borrows the node role"),
    ("aws:eks/addon:Addon#use1-k8s-vpc-cni", _set("configurationValues", "{}"), "NetworkPolicy not enforced"),
    ("aws:eks/nodeGroup:NodeGroup", _set("remoteAccess", {"ec2SshKey": "ops"}), "SSH to nodes"),
    ("aws:kms/key:Key", _set("enableKeyRotation", False), "no rotation"),
    ("aws:kms/key:Key", _set("bypassPolicyLockoutSafetyCheck", True), "lockout check skipped"),
    ("aws:cloudwatch/logGroup:LogGroup", _pop("kmsKeyId"), "logs without CMK"),
    ("aws:iam/role:Role", _set("assumeRolePolicy", json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]})), "anyone assumes"),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
     _set("policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"), "admin role"),
    ("aws:iam/rolePolicy:RolePolicy", _set("policy", json.dumps({"Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})), "NotAction"),
    ("aws:ec2/securityGroup:SecurityGroup", _set("ingress.1.cidrBlocks", ["0.0.0.0/1", "128.0.0.0/1"]),
     "peer group open to the split world"),
    ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", _set("ingress", [{"protocol": "-1", "self": True}]),
     "default SG used"),
    ("aws:ec2/subnet:Subnet", _set("mapPublicIpOnLaunch", True), "public IPs on launch"),
    ("aws:ec2/flowLog:FlowLog", _set("trafficType", "REJECT"), "partial flow logs"),
    ("aws:ec2/vpnConnection:VpnConnection", _set("tunnel1IkeVersions", ["ikev1", "ikev2"]), "IKEv1"),
    ("aws:ec2/vpnConnection:VpnConnection", _set("tunnel2Phase1DhGroupNumbers", [2]), "DH group 2"),
    ("aws:ec2/vpnConnection:VpnConnection", _set("tunnel1LogOptions.cloudwatchLogOptions.logEnabled", False),
     "tunnel logs off"),
    ("aws:ec2transitgateway/transitGateway:TransitGateway", _set("autoAcceptSharedAttachments", "enable"),
     "auto-accept"),
    ("aws:ec2transitgateway/route:Route", _set("destinationCidrBlock", "0.0.0.0/0"), "default route to a peer"),
    ("gcp:compute/vPNTunnel:VPNTunnel", _set("ikeVersion", 1), "GCP IKEv1"),
    ("gcp:compute/vPNTunnel:VPNTunnel", _set("sharedSecret", "short"), "typed-in short PSK"),
    ("gcp:compute/firewall:Firewall", _set("sourceRanges", ["0.0.0.0/1", "128.0.0.0/1"]), "firewall world"),
    ("gcp:compute/firewall:Firewall", _pop("targetTags"), "firewall targets every VM"),
    ("gcp:compute/firewall:Firewall", _pop("logConfig"), "firewall logging off"),
    ("gcp:compute/subnetwork:Subnetwork", _pop("logConfig"), "no flow logs"),
    ("gcp:container/cluster:Cluster", _set("enableLegacyAbac", True), "legacy ABAC"),
    ("gcp:container/cluster:Cluster", _pop("binaryAuthorization"), "no Binary Authorization"),
    ("gcp:container/cluster:Cluster", _set("datapathProvider", "LEGACY_DATAPATH"), "no NetworkPolicy"),
    ("gcp:container/cluster:Cluster", _set("masterAuthorizedNetworksConfig.cidrBlocks",
                                           [{"cidrBlock": "10.0.0.0/8"}]), "supernet on the API"),
    ("gcp:container/cluster:Cluster", _set("masterAuth", {"clientCertificateConfig": {"issueClientCertificate": True}}),
     "client certificates"),
    ("gcp:container/cluster:Cluster", _set("databaseEncryption.state", "DECRYPTED"), "etcd secrets plain"),
    ("gcp:container/cluster:Cluster", _set("enableShieldedNodes", False), "unshielded"),
    ("gcp:container/nodePool:NodePool", _set("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"),
     "node metadata exposed"),
    ("gcp:container/nodePool:NodePool", _set("nodeConfig.serviceAccount",
                                            "123-compute@developer.gserviceaccount.com"), "default compute SA"),
    ("gcp:container/nodePool:NodePool", _set("nodeConfig.shieldedInstanceConfig.enableSecureBoot", False),
     "no secure boot"),
    ("gcp:kms/cryptoKey:CryptoKey", _set("rotationPeriod", "31536000s"), "yearly rotation"),
    ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", _set("member", "allUsers"), "public key"),
    ("gcp:projects/iAMMember:IAMMember", _set("role", "roles/owner"), "node SA owner"),
    ("kubernetes:core/v1:Namespace", _label("pod-security.kubernetes.io/enforce", "privileged"),
     "privileged workload namespace"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", _set("spec.ingress", [{"ports": [{"port": 8000}]}]),
     "allow from everywhere"),
    ("kubernetes:apps/v1:DaemonSet", _set("spec.template.spec.containers.0.securityContext.privileged", True),
     "privileged plugin"),
    ("kubernetes:apps/v1:DaemonSet", _set("spec.template.spec.hostNetwork", True), "host network"),
    ("tls:index/privateKey:PrivateKey", _set("algorithm", "RSA"), "RSA 2048 default"),
    ("tls:index/selfSignedCert:SelfSignedCert", _set("earlyRenewalHours", 8760), "root auto-renews"),
    ("tls:index/selfSignedCert:SelfSignedCert", _set("allowedUses", ["cert_signing", "server_auth"]),
     "root serves TLS"),
    ("random:index/randomPassword:RandomPassword", _set("length", 12), "short PSK"),
    ("aws:eks/nodeGroup:NodeGroup", _pop("launchTemplate"), "node group on default launch settings"),
    ("aws:acm/certificate:Certificate", _set("validationMethod", "EMAIL"), "e-mail validated certificate"),
    ("gcp:compute/regionSslPolicy:RegionSslPolicy", _set("minTlsVersion", "TLS_1_0"), "TLS 1.0 policy"),
    ("gcp:certificatemanager/certificate:Certificate", lambda p: (p.pop("managed", None), p.update(
        selfManaged={"pemCertificate": "-----BEGIN CERTIFICATE-----"})), "uploaded certificate"),
    ("aws:route53/record:Record", lambda p: (p.pop("healthCheckId", None), p.pop("aliases", None), p.update(
        failoverRoutingPolicies=[{"type": "PRIMARY"}], setIdentifier="primary")), "routed record unchecked"),
    ("aws:route53/zone:Zone", _set("forceDestroy", True), "zone force-destroyed"),
    ("aws:eks/nodeGroup:NodeGroup", _set("amiType", "AL2_x86_64_GPU"), "AL2 nodes"),
    ("aws:ec2/route:Route", lambda p: (p.pop("natGatewayId", None), p.pop("gatewayId", None),
                                       p.update(destinationCidrBlock="0.0.0.0/0", transitGatewayId="tgw-peer")),
     "default route via a peer"),
    ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", _set("role", "roles/cloudkms.admin"), "KMS admin to a robot"),
    ("gcp:container/nodePool:NodePool", _set("nodeConfig.kubeletConfig",
                                            {"insecureKubeletReadonlyPortEnabled": "TRUE"}), "kubelet 10255"),
    ("kubernetes:apps/v1:DaemonSet", _set("spec.template.spec.containers.0.env",
                                         [{"name": "NGC_API_KEY", "value": "nvapi-123"}]), "literal API key"),
    # the serving path, the database and global traffic (wave 2 types)
    ("aws:lb/listener:Listener", lambda p: (_set("protocol", "HTTP")(p), _pop("certificateArn")(p),
                                            _pop("sslPolicy")(p)), "plain-HTTP public listener"),
    ("aws:lb/listener:Listener", _set("sslPolicy", "ELBSecurityPolicy-2016-08"), "TLS 1.0 allowed"),
    ("aws:lb/loadBalancer:LoadBalancer", _set("dropInvalidHeaderFields", False), "request smuggling headers kept"),
    ("aws:lb/targetGroup:TargetGroup", _set("healthCheck.enabled", False), "targets never health-checked"),
    ("aws:route53/healthCheck:HealthCheck", _set("enableSni", False), "health check without SNI"),
    ("aws:s3/bucket:Bucket", _set("acl", "public-read"), "public bucket ACL"),
    ("aws:s3/bucketPolicy:BucketPolicy", _set("policy", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})),
     "bucket readable by anyone"),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", _set("blockPublicPolicy", False),
     "public bucket policies allowed"),
    ("aws:s3/bucketVersioning:BucketVersioning", _set("versioningConfiguration.status", "Suspended"),
     "versioning off (a deleted dump is gone)"),
    ("gcp:compute/forwardingRule:ForwardingRule", _set("portRange", "80"), "public entry on plain HTTP"),
    ("gcp:compute/regionBackendService:RegionBackendService", _pop("securityPolicy"), "no Cloud Armor"),
    ("gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy", _pop("sslPolicy"), "default TLS policy (1.0)"),
    ("gcp:storage/bucket:Bucket", _set("uniformBucketLevelAccess", False), "object ACLs on a bucket"),
    ("gcp:storage/bucket:Bucket", _set("publicAccessPrevention", "inherited"), "public access not prevented"),
    ("gcp:storage/bucketIAMMember:BucketIAMMember", _set("member", "allUsers"), "bucket readable by anyone"),
    ("kubernetes:apps/v1:Deployment", _set("spec.template.spec.hostNetwork", True), "server on the host network"),
    ("kubernetes:apps/v1:Deployment", _set("spec.template.spec.containers.0.securityContext.privileged", True),
     "privileged model server"),
    ("kubernetes:apps/v1:StatefulSet", _set("spec.template.spec.hostPID", True), "database in the host PID space"),
    ("kubernetes:apps/v1:StatefulSet", _set("spec.persistentVolumeClaimRetentionPolicy",
                                            {"whenDeleted": "Delete", "whenScaled": "Delete"}),
     "volumes deleted with the set"),
    ("kubernetes:batch/v1:Job", _set("spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation",
                                     True), "reconcile Job may escalate"),
    ("kubernetes:batch/v1:CronJob",
     _set("spec.jobTemplate.spec.template.spec.containers.0.securityContext.privileged", True),
     "privileged backup job"),
    ("kubernetes:core/v1:ConfigMap", _set("data", {"MONGODB_PASSWORD": "correct-horse-battery-staple"}),
     "password in a ConfigMap"),
    ("kubernetes:core/v1:Service", lambda p: (_set("spec.type", "LoadBalancer")(p),
                                              _pop("metadata.annotations")(p),
                                              _pop("spec.loadBalancerSourceRanges")(p)),
     "service exposed to the internet"),
    ("kubernetes:helm.sh/v3:Release", _set("repositoryOpts.repo", "http://charts.example.com"),
     "chart over plain HTTP"),
    ("kubernetes:storage.k8s.io/v1:StorageClass#use1-mongodb-storage", _set("parameters.encrypted", "false"),
     "unencrypted volumes"),
    ("tls:index/locallySignedCert:LocallySignedCert", _set("allowedUses", ["cert_signing", "server_auth"]),
     "leaf certificate that can sign"),
    ("tls:index/locallySignedCert:LocallySignedCert", _set("validityPeriodHours", 24 * 3650),
     "ten-year leaf certificate"),
    ("gcp:dns/managedZone:ManagedZone", lambda p: (_set("visibility", "public")(p), _pop("dnssecConfig")(p),
                                                   _pop("privateVisibilityConfig")(p)), "public zone without DNSSEC"),
]


@pytest.mark.parametrize("typ, mutate, what", BATTERY, ids=[b[2] for b in BATTERY])
def test_each_realistic_weakness_is_caught_as_mandatory(rendered, typ, mutate, what):
    original = rendered[typ]
    typ = original.type
    assert not [r.name for r in RESOURCE_RULES if r.enforcement == MANDATORY and r.evaluate(original)], \
        "the rendered resource itself must pass"
    props = copy.deepcopy(dict(original.props))
    mutate(props)
    bad = Resource(type=typ, props=props, urn=original.urn, name=original.name, protect=original.protect)
    fired = [r.name for r in RESOURCE_RULES if r.enforcement == MANDATORY and r.evaluate(bad)]
    assert fired, f"{what}: no mandatory rule caught it"


def test_the_battery_covers_every_type_the_program_renders_that_a_mandatory_rule_watches(rendered):
    watched = {t for r in ALL_RULES if r.enforcement == MANDATORY for t in r.resource_types}
    covered = {b[0].split("#")[0] for b in BATTERY}
    missing = sorted(t for t in rendered if "#" not in t and t in watched and t not in covered)
    # Types watched only through stack rules or whose only mandatory rule is tags are listed here on purpose.
    allowed = {"aws:ec2/vpc:Vpc", "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:ec2/routeTable:RouteTable",
               "aws:ec2/internetGateway:InternetGateway", "aws:ec2/customerGateway:CustomerGateway",
               "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
               "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
               "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
               "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "gcp:compute/haVpnGateway:HaVpnGateway",
               "gcp:compute/externalVpnGateway:ExternalVpnGateway", "gcp:compute/routerPeer:RouterPeer",
               "gcp:compute/network:Network", "gcp:kms/keyRing:KeyRing", "gcp:serviceaccount/account:Account",
               "gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat",
               "kubernetes:helm.sh/v3:Release", "rollout:region:Region", "pulumi:pulumi:Stack",
               "aws:acm/certificateValidation:CertificateValidation",
               # labels/tags-only, or watched through provenance and stack rules (the served-pack tests)
               "gcp:compute/address:Address", "tls:index/certRequest:CertRequest",
               "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
               # the API edge's stack rules; mutations of the dev preview: tests/test_policies_api_edge.py
               "aws:wafv2/webAcl:WebAcl", "aws:wafv2/webAclAssociation:WebAclAssociation",
               "gcp:compute/regionSecurityPolicy:RegionSecurityPolicy",
               # the load balancers' log buckets: only the residency stack rule reads them; its mutations
               # (zone-named buckets in and out of their zone) are in tests/test_policies_residency.py
               "gcp:logging/projectBucketConfig:ProjectBucketConfig"}
    assert set(missing) <= allowed, sorted(set(missing) - allowed)


def test_the_served_pack_catches_the_battery_on_the_dev_stack():
    """The same weaknesses, injected into the real dev run and checked by the pack as the engine serves it."""
    import dataclasses

    from google.protobuf import struct_pb2

    from infra.offline.policy_check import check_policies

    run = stack_run("dev")
    by_key: dict[str, object] = {}
    for r in run.resources:
        by_key.setdefault(r.type, r)
        by_key.setdefault(f"{r.type}#{r.name}", r)
    injected = {}
    for i, (key, mutate, what) in enumerate(BATTERY):
        original = by_key.get(key)
        if original is None:
            continue
        text = json.dumps(original.inputs, default=str).replace(json.dumps(SECRET), json.dumps("k" * 48))
        props = json.loads(text)
        mutate(props)
        wire = struct_pb2.Struct()
        wire.update(props)
        name = f"{original.name}-bad{i}"
        urn = original.urn.rsplit("::", 1)[0] + "::" + name
        injected[urn] = what
        by_key[f"bad{i}"] = dataclasses.replace(original, urn=urn, name=name, inputs=props, wire=wire)
    extra = tuple(v for k, v in by_key.items() if k.startswith("bad"))
    assert len(injected) >= 40, "the dev stack renders most battery types"
    report = check_policies(dataclasses.replace(run, resources=run.resources + extra), ROOT / "policies")
    caught = {v.urn for v in report.mandatory}
    missed = [what for urn, what in injected.items() if urn not in caught]
    assert missed == []


def test_the_china_cni_policy_may_not_sit_on_a_node_role_either():
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}]})
    node = res("aws:iam/role:Role", "node", {"assumeRolePolicy": trust})
    cni = "arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy"  # the same managed policy in the China partition
    on_node = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", {"policyArn": cni}, deps=[node])
    other = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "b",
                {"policyArn": "arn:aws-cn:iam::aws:policy/AmazonEKSWorkerNodePolicy"}, deps=[node])
    assert [u for _, u in eks_node_role_no_cni.evaluate([node, on_node, other])] == [on_node.urn]
