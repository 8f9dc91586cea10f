"""Every resource rule, as a specification: one resource that violates it and one that complies.

The rule cores are plain functions of (type, camelCase props, protect); these cases use the engine's
wire names, exactly what the served pack receives.
"""

from __future__ import annotations

import pytest

from policies.rules import ALL_RULES
from policies.rules.core import UNKNOWN, Resource, Rule, StackRule, plain
from tests.policy_cases import CASES as HARDENING_CASES
from tests.policy_cases import NO_COMPLIANT_RESOURCE
from tests.policy_cases_api import API_CASES
from tests.policy_cases_reads import READ_CASES
from tests.policy_cases_traffic import TRAFFIC_CASES

TAGS = {"owner": "platform-team", "cost-center": "cc-1001", "stack": "prod"}
LABELS = dict(TAGS)
STRONG_TUNNELS = {
    f"tunnel{n}{key}": value for n in (1, 2) for key, value in {
        "IkeVersions": ["ikev2"], "Phase1EncryptionAlgorithms": ["AES256-GCM-16"],
        "Phase2EncryptionAlgorithms": ["AES256-GCM-16"], "Phase1IntegrityAlgorithms": ["SHA2-256"],
        "Phase2IntegrityAlgorithms": ["SHA2-256"], "Phase1DhGroupNumbers": [20], "Phase2DhGroupNumbers": [20],
        "InsideCidr": f"169.254.{10 + n}.0/30",
        "LogOptions": {"cloudwatchLogOptions": {"logEnabled": True}},
    }.items()
}
POD = {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3", "readinessProbe": {"httpGet": {}},
                       "resources": {"limits": {"nvidia.com/gpu": "1"}}, "securityContext": {"privileged": False}}]}
GPU_TAINT = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]

# rule name -> (resource type, violating props, compliant props[, protect of the compliant one])
CASES: dict[str, tuple] = {
    "no-open-ingress-aws": ("aws:ec2/securityGroup:SecurityGroup",
                            {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22,
                                          "cidrBlocks": ["0.0.0.0/0"]}]},
                            {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443,
                                          "cidrBlocks": ["0.0.0.0/0"]},
                                         {"protocol": "tcp", "fromPort": 22, "toPort": 22,
                                          "cidrBlocks": ["10.0.0.0/8"]}]}),
    "no-open-ingress-gcp": ("gcp:compute/firewall:Firewall",
                            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
                            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["443"]}]}),
    "default-security-group-closed": ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                                      {"ingress": [{"protocol": "-1", "self": True}], "egress": []},
                                      {"ingress": [], "egress": []}),
    "subnet-no-public-ip-on-launch": ("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True},
                                      {"mapPublicIpOnLaunch": False}),
    "flow-log-captures-all-traffic": ("aws:ec2/flowLog:FlowLog", {"trafficType": "REJECT"}, {"trafficType": "ALL"}),
    "gcp-subnetwork-flow-logs": ("gcp:compute/subnetwork:Subnetwork", {"ipCidrRange": "10.68.0.0/19"},
                                 {"logConfig": {"flowSampling": 0.5}}),
    "gcp-subnetwork-private-google-access": ("gcp:compute/subnetwork:Subnetwork", {"privateIpGoogleAccess": False},
                                             {"privateIpGoogleAccess": True}),
    "gcp-nat-logging": ("gcp:compute/routerNat:RouterNat", {"logConfig": {"enable": False}},
                        {"logConfig": {"enable": True, "filter": "ERRORS_ONLY"}}),
    "log-retention-bounds": ("aws:cloudwatch/logGroup:LogGroup", {"name": "forever"}, {"retentionInDays": 90}),
    "iam-no-wildcard-admin": ("aws:iam/rolePolicy:RolePolicy",
                              {"policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'},
                              {"policy": '{"Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"], '
                                         '"Resource": "arn:aws:logs:*:*:log-group:/rollout/*"}]}'}),
    "iam-trust-no-wildcard-principal": ("aws:iam/role:Role",
                                        {"assumeRolePolicy": '{"Statement": [{"Effect": "Allow", "Principal": "*", '
                                                             '"Action": "sts:AssumeRole"}]}'},
                                        {"assumeRolePolicy": '{"Statement": [{"Effect": "Allow", "Principal": '
                                                             '{"Service": "vpc-flow-logs.amazonaws.com"}}]}'}),
    "aws-required-tags": ("aws:ec2/vpc:Vpc", {"tags": {"owner": "x"}}, {"tags": TAGS}),
    "gcp-required-labels": ("gcp:container/nodePool:NodePool", {"nodeConfig": {"resourceLabels": {}}},
                            {"nodeConfig": {"resourceLabels": LABELS}}),
    "aws-vpn-ikev2-strong-crypto": ("aws:ec2/vpnConnection:VpnConnection",
                                    {**STRONG_TUNNELS, "tunnel2IkeVersions": ["ikev1", "ikev2"],
                                     "tunnel1Phase1DhGroupNumbers": [2, 20]},
                                    STRONG_TUNNELS),
    "gcp-vpn-ikev2": ("gcp:compute/vPNTunnel:VPNTunnel", {"ikeVersion": 1}, {}),
    "vpn-psk-strength": ("gcp:compute/vPNTunnel:VPNTunnel", {"sharedSecret": "hunter2"}, {"sharedSecret": UNKNOWN}),
    "aws-vpn-bgp-routing": ("aws:ec2/vpnConnection:VpnConnection", {"staticRoutesOnly": True},
                            {"staticRoutesOnly": False}),
    "aws-vpn-tunnel-logging": ("aws:ec2/vpnConnection:VpnConnection", {}, STRONG_TUNNELS),
    "gcp-external-vpn-gateway-redundancy": ("gcp:compute/externalVpnGateway:ExternalVpnGateway",
                                            {"redundancyType": "SINGLE_IP_INTERNALLY_REDUNDANT"},
                                            {"redundancyType": "FOUR_IPS_REDUNDANCY"}),
    "vpn-bgp-link-local": ("aws:ec2/vpnConnection:VpnConnection",
                           {"tunnel1InsideCidr": "10.0.0.0/30", "tunnel2InsideCidr": "169.254.169.252/30"},
                           STRONG_TUNNELS),
    "bgp-private-asn": ("gcp:compute/routerPeer:RouterPeer", {"peerAsn": 16509}, {"peerAsn": 64512}),
    "tgw-no-auto-accept": ("aws:ec2transitgateway/transitGateway:TransitGateway",
                           {"autoAcceptSharedAttachments": "enable"}, {"autoAcceptSharedAttachments": "disable"}),
    "tgw-routes-private-only": ("aws:ec2transitgateway/route:Route", {"destinationCidrBlock": "0.0.0.0/0"},
                                {"destinationCidrBlock": "10.4.0.0/15"}),
    "tgw-peering-explicit": ("aws:ec2transitgateway/peeringAttachment:PeeringAttachment", {"transitGatewayId": "tgw-1"},
                             {"transitGatewayId": "tgw-1", "peerTransitGatewayId": "tgw-2", "peerRegion": "us-west-2"}),
    "tls-key-strength": ("tls:index/privateKey:PrivateKey", {"algorithm": "RSA"},
                         {"algorithm": "ECDSA", "ecdsaCurve": "P384"}),
    "tls-certificate-validity": ("tls:index/locallySignedCert:LocallySignedCert", {"validityPeriodHours": 8760},
                                 {"validityPeriodHours": 2160, "earlyRenewalHours": 720}),
    "tls-leaf-cannot-sign": ("tls:index/locallySignedCert:LocallySignedCert",
                             {"allowedUses": ["server_auth", "cert_signing"]},
                             {"allowedUses": ["server_auth", "digital_signature"]}),
    "tls-early-renewal": ("tls:index/locallySignedCert:LocallySignedCert", {"validityPeriodHours": 2160},
                          {"earlyRenewalHours": 720}),
    "random-password-strength": ("random:index/randomPassword:RandomPassword", {"length": 16}, {"length": 48}),
    "eks-api-endpoint-restricted": ("aws:eks/cluster:Cluster", {"vpcConfig": {"subnetIds": ["subnet-1"]}},
                                    {"vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False}}),
    "eks-secrets-encrypted-cmk": ("aws:eks/cluster:Cluster", {"encryptionConfig": {"resources": ["secrets"]}},
                                  {"encryptionConfig": {"resources": ["secrets"],
                                                        "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}}}),
    "eks-audit-logging": ("aws:eks/cluster:Cluster", {"enabledClusterLogTypes": ["api"]},
                          {"enabledClusterLogTypes": ["api", "audit", "authenticator"]}),
    "eks-access-no-root-or-wildcard": ("aws:eks/accessEntry:AccessEntry",
                                       {"principalArn": "arn:aws:iam::123456789012:root"},
                                       {"principalArn": "arn:aws:iam::123456789012:role/platform-admin"}),
    "eks-addon-version-pinned": ("aws:eks/addon:Addon", {"addonName": "vpc-cni"},
                                 {"addonName": "vpc-cni", "addonVersion": "v1.19.2-eksbuild.1"}),
    "imdsv2-required": ("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "optional"}},
                        {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}}),
    "gpu-pools-tainted": ("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["g5.xlarge"]},
                          {"instanceTypes": ["g5.xlarge"], "taints": GPU_TAINT}),
    "kms-key-rotation": ("aws:kms/key:Key", {"enableKeyRotation": False}, {"enableKeyRotation": True}),
    "gke-api-endpoint-restricted": ("gcp:container/cluster:Cluster",
                                    {"privateClusterConfig": {"enablePrivateNodes": True},
                                     "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]}},
                                    {"privateClusterConfig": {"enablePrivateNodes": True},
                                     "masterAuthorizedNetworksConfig": {
                                         "cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]}}),
    "gke-secrets-encrypted-cmk": ("gcp:container/cluster:Cluster", {"databaseEncryption": {"state": "DECRYPTED"}},
                                  {"databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/p/k"}}),
    "gke-no-legacy-abac": ("gcp:container/cluster:Cluster", {"enableLegacyAbac": True},
                           {"workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}}),
    "gke-node-metadata-protected": ("gcp:container/nodePool:NodePool",
                                    {"nodeConfig": {"workloadMetadataConfig": {"mode": "GCE_METADATA"}}},
                                    {"nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}}}),
    "gke-node-auto-repair": ("gcp:container/nodePool:NodePool", {"management": {"autoRepair": False}},
                             {"management": {"autoRepair": True, "autoUpgrade": True}}),
    "k8s-no-privileged-pods": ("kubernetes:apps/v1:DaemonSet",
                               {"spec": {"template": {"spec": {"hostNetwork": True, **POD}}}},
                               {"spec": {"template": {"spec": POD}}}),
    "k8s-image-pinned": ("kubernetes:apps/v1:Deployment",
                         {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "vllm/vllm-openai"}]}}}},
                         {"spec": {"template": {"spec": POD}}}),
    "k8s-serving-containers-ready": ("kubernetes:apps/v1:Deployment",
                                     {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}},
                                     {"spec": {"template": {"spec": POD}}}),
    "k8s-pdb-allows-drain": ("kubernetes:policy/v1:PodDisruptionBudget", {"spec": {"maxUnavailable": 0}},
                             {"spec": {"maxUnavailable": 1}}),
    "k8s-namespace-pod-security": ("kubernetes:core/v1:Namespace",
                                   {"metadata": {"name": "rollout-serving",
                                                 "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
                                   {"metadata": {"name": "rollout-serving",
                                                 "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
    "helm-chart-pinned": ("kubernetes:helm.sh/v3:Release", {"chart": "nvidia-device-plugin"},
                          {"chart": "nvidia-device-plugin", "version": "0.17.0"}),
    "stateful-resources-protected": ("kubernetes:core/v1:PersistentVolumeClaim", {}, {}, True),
    "encryption-keys-protected": ("aws:kms/key:Key", {}, {}, True),
    "volumes-encrypted": ("aws:ebs/volume:Volume", {"encrypted": False}, {"encrypted": True}),
    "route53-routed-records-health-checked": ("aws:route53/record:Record",
                                              {"failoverRoutingPolicies": [{"type": "PRIMARY"}]},
                                              {"failoverRoutingPolicies": [{"type": "PRIMARY"}],
                                               "healthCheckId": "hc"}),
    "route53-health-check-https": ("aws:route53/healthCheck:HealthCheck", {"type": "HTTP"}, {"type": "HTTPS"}),
    "gpu-instance-type-approved": ("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["p3.16xlarge"]},
                                   {"instanceTypes": ["g5.xlarge"]}),
    "gpu-pool-size-bounded": ("gcp:container/nodePool:NodePool",
                              {"nodeConfig": {"machineType": "g2-standard-4"}, "autoscaling": {"maxNodeCount": 500}},
                              {"nodeConfig": {"machineType": "g2-standard-4"}, "autoscaling": {"maxNodeCount": 8}}),
    # The compliant case holds until 90 days before 1.36 leaves standard support (2027-04-01): from then
    # on this test fails on purpose, like the advisory, until the pinned minor moves.
    "kubernetes-version-support": ("aws:eks/cluster:Cluster", {"version": "1.29"}, {"version": "1.36"}),
}
CASES.update(HARDENING_CASES)
CASES.update(TRAFFIC_CASES)
CASES.update(READ_CASES)
CASES.update(API_CASES)
RESOURCE_RULES = {r.name: r for r in ALL_RULES if isinstance(r, Rule)}


def _resource(case: tuple, violating: bool) -> Resource:
    typ, bad, good, *protect = case
    return Resource(type=typ, props=bad if violating else good, urn=f"urn:pulumi:prod::p::{typ}::x",
                    protect=False if violating else bool(protect and protect[0]))


def test_the_pack_has_at_least_30_uniquely_named_rules():
    names = [r.name for r in ALL_RULES]
    assert len(names) >= 30 and len(names) == len(set(names))


def test_every_resource_rule_has_a_case():
    assert sorted(RESOURCE_RULES) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_reports_the_violating_resource(name):
    assert RESOURCE_RULES[name].evaluate(_resource(CASES[name], violating=True)), name


@pytest.mark.parametrize("name", sorted(set(CASES) - NO_COMPLIANT_RESOURCE))
def test_rule_accepts_the_compliant_resource(name):
    assert RESOURCE_RULES[name].evaluate(_resource(CASES[name], violating=False)) == []


def test_rules_ignore_other_resource_types():
    assert RESOURCE_RULES["tls-key-strength"].evaluate(Resource(type="aws:ec2/vpc:Vpc", props={})) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_values_never_raise(name):
    """During preview any input may be unknown: every rule must cope with that, not crash."""
    typ, bad = CASES[name][0], CASES[name][1]
    assert isinstance(RESOURCE_RULES[name].evaluate(Resource(type=typ, props={k: UNKNOWN for k in bad})), list)


@pytest.mark.parametrize("name, typ, props", [
    ("no-open-ingress-aws", "aws:ec2/securityGroup:SecurityGroup", {"ingress": UNKNOWN}),
    ("eks-api-endpoint-restricted", "aws:eks/cluster:Cluster",
     {"vpcConfig": {"endpointPrivateAccess": True, "publicAccessCidrs": UNKNOWN}}),
    ("gke-secrets-encrypted-cmk", "gcp:container/cluster:Cluster", {"databaseEncryption": UNKNOWN}),
    ("imdsv2-required", "aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": UNKNOWN}}),
    ("tls-key-strength", "tls:index/privateKey:PrivateKey", {"algorithm": UNKNOWN}),
])
def test_an_unknown_deciding_value_is_not_a_violation(name, typ, props):
    assert RESOURCE_RULES[name].evaluate(Resource(type=typ, props=props)) == []


def test_config_tunes_a_threshold():
    rule = RESOURCE_RULES["tls-certificate-validity"]
    cert = Resource(type="tls:index/locallySignedCert:LocallySignedCert", props={"validityPeriodHours": 4000})
    assert rule.evaluate(cert) and rule.evaluate(cert, {"maxLeafHours": 8760}) == []


def test_engine_unknown_sentinels_become_unknown():
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    props = plain(unknown_checking_proxy({"vpcConfig": {"publicAccessCidrs": [UNKNOWN_STRING_VALUE]},
                                          "name": UNKNOWN_STRING_VALUE}))
    assert props == {"vpcConfig": {"publicAccessCidrs": [UNKNOWN]}, "name": UNKNOWN}


def test_ca_certificates_get_the_longer_limit():
    rule = RESOURCE_RULES["tls-certificate-validity"]
    ca = Resource(type="tls:index/selfSignedCert:SelfSignedCert",
                  props={"validityPeriodHours": 43800, "isCaCertificate": True})
    assert rule.evaluate(ca) == []


def test_rsa_keys_default_to_2048_bits_and_fail():
    assert RESOURCE_RULES["tls-key-strength"].evaluate(
        Resource(type="tls:index/privateKey:PrivateKey", props={"algorithm": "RSA", "rsaBits": 4096})) == []


def test_privileged_only_in_a_reviewed_namespace_that_says_why():
    def ns(name, annotations=None):
        return Resource(type="kubernetes:core/v1:Namespace",
                        props={"metadata": {"name": name, "annotations": annotations or {},
                                            "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})

    rule = RESOURCE_RULES["k8s-namespace-pod-security"]
    reason = {"global-ai-rollout/pod-security-exception": "hostPath for the kubelet device-plugin socket"}
    assert rule.evaluate(ns("nvidia-device-plugin", reason)) == []
    assert rule.evaluate(ns("nvidia-device-plugin"))  # no documented reason
    assert rule.evaluate(ns("rollout-system", reason))  # a workload namespace is always restricted
    assert rule.evaluate(ns("tools", reason))  # not a reviewed exception


@pytest.mark.parametrize("name", ["gcp-subnetwork-flow-logs", "gcp-subnetwork-private-google-access"])
def test_proxy_only_subnets_are_exempt_from_subnet_logging_and_google_access(name):
    """The API rejects flow logs and Private Google Access on a load balancer's proxy-only subnet; the
    same subnet without that purpose still violates."""
    proxy = {"ipCidrRange": "10.0.64.0/23", "purpose": "REGIONAL_MANAGED_PROXY", "role": "ACTIVE"}
    assert RESOURCE_RULES[name].evaluate(Resource(type="gcp:compute/subnetwork:Subnetwork", props=proxy)) == []
    plain_subnet = {k: v for k, v in proxy.items() if k not in ("purpose", "role")}
    assert RESOURCE_RULES[name].evaluate(Resource(type="gcp:compute/subnetwork:Subnetwork", props=plain_subnet))


def test_stack_rules_are_stack_rules():
    assert {r.name for r in ALL_RULES if isinstance(r, StackRule)} >= {
        "vpc-flow-logs-on", "regions-have-cluster", "regions-linked", "gpu-capacity-meets-sizing",
        "mongodb-voting-layout", "secret-material-generated"}
