"""Physical names as the clouds will see them, against each service's length and pattern rules.

Pulumi auto-names a resource whose name input is not set: the logical name + `-` + 7 random hex
characters (pulumi/pulumi sdk/go/common/resource/urn.go NewUniqueHex; bridged providers' AutoName);
pulumi-kubernetes adds `-` + 8 characters to `metadata.name`. With a maximum length known to the
provider, the result is an error, not a truncation ("plus 7 random chars is longer than maximum
length"). An explicit name is checked as given. `*_prefix` inputs get the provider's own suffix.

Every type the dev and prod previews declare is in `NAME_RULES` or in `UNNAMED` (no physical name
the user chooses); `deploy/name-table` fails on a type in neither, so a new type cannot slip through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from infra.rehearsal.model import Resource
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

PULUMI_SUFFIX = 8  # "-" + 7 hex: https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming
KUBERNETES_SUFFIX = 9  # "-" + 8: pulumi-kubernetes provider/pkg/metadata/naming.go AssignNameIfAutonamable

_ELB = r"^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
_IAM = r"^[\w+=,.@-]+$"
_RFC1035 = r"^[a-z](?:[-a-z0-9]*[a-z0-9])?$"
_DNS1123_LABEL = r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$"
_DNS1123_SUBDOMAIN = r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
_FQDN = r"^(?:\*\.)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_-]{1,63}\.?$"


@dataclass(frozen=True)
class NameRule:
    prop: str  # the input holding the physical name ("metadata.name" for Kubernetes objects)
    max_len: int
    pattern: str
    source: str
    suffix: int = PULUMI_SUFFIX  # added by auto-naming when `prop` is unset; 0: the name is required
    min_len: int = 1
    prefix_prop: str | None = None  # e.g. bucketPrefix: checked against prefix_max
    prefix_max: int = 0
    label_max: int = 0  # DNS names: each dot-separated label at most this long


_K8S = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"


def _k8s(max_len: int, pattern: str = _DNS1123_SUBDOMAIN, source: str = _K8S) -> NameRule:
    return NameRule("metadata.name", max_len, pattern, source, suffix=KUBERNETES_SUFFIX)


NAME_RULES: Mapping[str, NameRule] = {
    # --- AWS ------------------------------------------------------------------------------------
    "aws:lb/loadBalancer:LoadBalancer": NameRule(
        "name", 32, _ELB, "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/"
        "API_CreateLoadBalancer.html (pulumi_aws 7.51.1 lb/load_balancer.py: max 32, errors)",
        prefix_prop="namePrefix", prefix_max=6),
    "aws:lb/targetGroup:TargetGroup": NameRule(
        "name", 32, _ELB, "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/"
        "API_CreateTargetGroup.html (pulumi_aws 7.51.1 lb/target_group.py: max 32)",
        prefix_prop="namePrefix", prefix_max=6),
    "aws:iam/role:Role": NameRule(
        "name", 64, _IAM, "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
        prefix_prop="namePrefix", prefix_max=38),
    "aws:iam/rolePolicy:RolePolicy": NameRule(
        "name", 128, _IAM, "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
        prefix_prop="namePrefix", prefix_max=102),
    "aws:s3/bucket:Bucket": NameRule(
        "bucket", 63, r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (global namespace; "
        "pulumi_aws 7.51.1 s3/bucket.py: bucketPrefix <= 37, lowercase)", min_len=3,
        prefix_prop="bucketPrefix", prefix_max=37),
    "aws:eks/cluster:Cluster": NameRule(
        "name", 100, r"^[0-9A-Za-z][A-Za-z0-9_-]*$",
        "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html"),
    "aws:eks/nodeGroup:NodeGroup": NameRule(
        "nodeGroupName", 63, r"^[0-9A-Za-z][A-Za-z0-9_-]*$",
        "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html (pulumi_aws 7.51.1 "
        "eks/node_group.py: max 63)", prefix_prop="nodeGroupNamePrefix", prefix_max=37),
    "aws:eks/addon:Addon": NameRule(
        "addonName", 100, r"^[0-9A-Za-z][A-Za-z0-9-]*$",
        "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html", suffix=0),
    "aws:secretsmanager/secret:Secret": NameRule(
        "name", 512, r"^[A-Za-z0-9/_+=.@-]+$", "https://docs.aws.amazon.com/secretsmanager/latest/apireference/"
        "API_CreateSecret.html (Name: 1-512 of A-Za-z0-9/_+=.@-)", prefix_prop="namePrefix", prefix_max=480),
    "aws:wafv2/webAcl:WebAcl": NameRule(
        "name", 128, r"^[\w-]+$", "https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html "
        "(Name: 1-128 of \\w and -)", prefix_prop="namePrefix", prefix_max=102),
    "gcp:secretmanager/secret:Secret": NameRule(
        "secretId", 255, r"^[A-Za-z0-9_-]+$", "https://cloud.google.com/secret-manager/docs/reference/rest/v1/"
        "projects.secrets/create (secretId: up to 255 letters, digits, _ and -)", suffix=0),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": NameRule(
        "bucketId", 100, r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "https://cloud.google.com/logging/docs/reference/v2/rest/"
        "v2/projects.locations.buckets/create (bucketId: up to 100, alphanumeric first)", suffix=0),
    "gcp:logging/projectSink:ProjectSink": NameRule(
        "name", 100, r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "https://cloud.google.com/logging/docs/reference/v2/rest/v2/"
        "projects.sinks (sink id: up to 100, alphanumeric first)"),
    "aws:sns/topic:Topic": NameRule(
        "name", 256, r"^[A-Za-z0-9_-]+$", "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html "
        "(up to 256 alphanumerics, hyphens, underscores)", prefix_prop="namePrefix", prefix_max=230),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameRule(
        "name", 255, r"^[^\x00-\x1f]+$", "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/"
        "API_PutMetricAlarm.html (AlarmName: 1-255 characters)"),
    "aws:cloudwatch/dashboard:Dashboard": NameRule(
        "dashboardName", 255, r"^[A-Za-z0-9_-]+$", "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/"
        "API_PutDashboard.html (DashboardName: up to 255 characters; A-Z, a-z, 0-9, - and _)", suffix=0),
    "aws:cloudwatch/logGroup:LogGroup": NameRule(
        "name", 512, r"^[.\-_/#A-Za-z0-9]+$",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
        prefix_prop="namePrefix", prefix_max=483),
    "aws:ec2/securityGroup:SecurityGroup": NameRule(
        "name", 255, r"^(?!sg-)[\x20-\x7e]+$",
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
        prefix_prop="namePrefix", prefix_max=229),
    "aws:ec2/launchTemplate:LaunchTemplate": NameRule(
        "name", 128, r"^[a-zA-Z0-9().\-/_]+$",
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html",
        prefix_prop="namePrefix", prefix_max=102),
    "aws:route53/zone:Zone": NameRule(
        "name", 255, _FQDN, "https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHostedZone.html",
        suffix=0, label_max=63),
    "aws:route53/record:Record": NameRule(
        "name", 255, _FQDN,
        "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html (labels 63, name 255)",
        suffix=0, label_max=63),
    "aws:acm/certificate:Certificate": NameRule(
        "domainName", 64, _FQDN,
        "https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html (DomainName: the "
        "first name must be at most 64 characters; labels 63)", suffix=0, label_max=63),
    # --- GCP: Compute resource names are RFC 1035, at most 63 ------------------------------------
    **{typ: NameRule("name", 63, _RFC1035, "https://cloud.google.com/compute/docs/naming-resources")
       for typ in ("gcp:compute/address:Address", "gcp:compute/externalVpnGateway:ExternalVpnGateway",
                   "gcp:compute/firewall:Firewall", "gcp:compute/forwardingRule:ForwardingRule",
                   "gcp:compute/haVpnGateway:HaVpnGateway", "gcp:compute/network:Network",
                   "gcp:compute/regionBackendService:RegionBackendService",
                   "gcp:compute/regionHealthCheck:RegionHealthCheck",
                   "gcp:compute/regionSecurityPolicy:RegionSecurityPolicy",
                   "gcp:compute/regionSslPolicy:RegionSslPolicy",
                   "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy",
                   "gcp:compute/regionUrlMap:RegionUrlMap", "gcp:compute/router:Router",
                   "gcp:compute/routerInterface:RouterInterface", "gcp:compute/routerNat:RouterNat",
                   "gcp:compute/routerPeer:RouterPeer", "gcp:compute/subnetwork:Subnetwork",
                   "gcp:compute/vPNTunnel:VPNTunnel", "gcp:compute/networkEndpointGroup:NetworkEndpointGroup",
                   "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")},
    "gcp:container/cluster:Cluster": NameRule(
        "name", 40, _RFC1035, "https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/"
        "projects.locations.clusters#Cluster (name: lowercase letters, numbers, hyphens; <= 40)"),
    "gcp:container/nodePool:NodePool": NameRule(
        "name", 40, _RFC1035, "https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/"
        "projects.locations.clusters.nodePools#NodePool (<= 40)", prefix_prop="namePrefix", prefix_max=14),
    "gcp:certificatemanager/certificate:Certificate": NameRule(
        "name", 63, _RFC1035, "https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/"
        "rest/v1/projects.locations.certificates/create (certificateId: RFC 1035, <= 63)"),
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": NameRule(
        "name", 63, _RFC1035, "https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/"
        "rest/v1/projects.locations.dnsAuthorizations/create (RFC 1035, <= 63)"),
    "gcp:dns/managedZone:ManagedZone": NameRule(
        "name", 63, _RFC1035, "https://cloud.google.com/dns/docs/reference/rest/v1/managedZones (name: "
        "1-63 characters, letter first, lowercase letters, digits, dashes)"),
    "gcp:dns/recordSet:RecordSet": NameRule(
        "name", 255, _FQDN, "https://cloud.google.com/dns/docs/records (RFC 1035 names)", suffix=0,
        label_max=63),
    "gcp:kms/keyRing:KeyRing": NameRule(
        "name", 63, r"^[a-zA-Z0-9_-]+$", "https://cloud.google.com/kms/docs/resource-hierarchy#key_rings"),
    "gcp:kms/cryptoKey:CryptoKey": NameRule(
        "name", 63, r"^[a-zA-Z0-9_-]+$", "https://cloud.google.com/kms/docs/resource-hierarchy#keys"),
    "gcp:serviceaccount/account:Account": NameRule(
        "accountId", 30, r"^[a-z](?:[-a-z0-9]*[a-z0-9])$",
        "https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create (accountId: "
        "6-30 characters, RFC 1035)", suffix=0, min_len=6),
    "gcp:storage/bucket:Bucket": NameRule(
        "name", 63, r"^[a-z0-9][a-z0-9_-]*[a-z0-9]$",
        "https://cloud.google.com/storage/docs/buckets#naming (3-63 without dots, global namespace)", min_len=3),
    # --- Kubernetes ------------------------------------------------------------------------------
    "kubernetes:core/v1:Namespace": _k8s(63, _DNS1123_LABEL),
    # Service names are RFC 1035 labels (letter first): pkg/apis/core/validation ValidateServiceName.
    "kubernetes:core/v1:Service": _k8s(63, _RFC1035),
    # The controller-revision-hash label `<name>-<10 chars>` must fit a 63-character label value.
    "kubernetes:apps/v1:StatefulSet": _k8s(
        52, _DNS1123_LABEL, "https://github.com/kubernetes/kubernetes/issues/64023 (StatefulSet names "
        "longer than 52 break the controller-revision-hash label)"),
    # A CronJob's Jobs are `<name>-<11 digits>`, and Job names feed the 63-character job-name label.
    "kubernetes:batch/v1:CronJob": _k8s(
        52, _DNS1123_SUBDOMAIN, "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#writing-a-"
        "cronjob-spec (name no longer than 52 characters)"),
    "kubernetes:batch/v1:Job": _k8s(
        63, _DNS1123_LABEL, "https://kubernetes.io/docs/concepts/workloads/controllers/job/#writing-a-job-spec "
        "(the name is a label value: <= 63)"),
    **{typ: _k8s(253) for typ in (
        "kubernetes:apps/v1:DaemonSet", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:Secret", "kubernetes:core/v1:ServiceAccount",
        "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:storage.k8s.io/v1:StorageClass", "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")},
    # Helm release names: at most 53 characters, DNS-1123 label (helm/pkg/chartutil ValidateReleaseName).
    "kubernetes:helm.sh/v3:Release": NameRule(
        "name", 53, _DNS1123_LABEL, "https://github.com/helm/helm/blob/main/pkg/chart/v2/util/validate_name.go "
        "(maxReleaseNameLen = 53)", suffix=KUBERNETES_SUFFIX),
}

# Types with no user-chosen physical name (ids, ARNs and names are the cloud's), or not a cloud object.
UNNAMED: frozenset[str] = frozenset({
    "aws:sns/topicSubscription:TopicSubscription", "gcp:monitoring/alertPolicy:AlertPolicy",
    "aws:wafv2/webAclAssociation:WebAclAssociation", "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:monitoring/notificationChannel:NotificationChannel",  # server-assigned names; display names are free
    "gcp:monitoring/dashboard:Dashboard",  # server-assigned id (projects/p/dashboards/<id>); displayName is free
    "aws:acm/certificateValidation:CertificateValidation", "aws:ec2/customerGateway:CustomerGateway",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/eip:Eip", "aws:ec2/flowLog:FlowLog",
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway", "aws:ec2/route:Route",
    "aws:ec2/routeTable:RouteTable", "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/subnet:Subnet", "aws:ec2/subnetCidrReservation:SubnetCidrReservation", "aws:ec2/vpc:Vpc",
    "aws:ec2/vpnConnection:VpnConnection", "aws:ec2/networkInterface:NetworkInterface",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
    "aws:ec2transitgateway/route:Route", "aws:ec2transitgateway/transitGateway:TransitGateway",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment", "aws:eks/accessEntry:AccessEntry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:kms/key:Key", "aws:lb/listener:Listener", "aws:route53/healthCheck:HealthCheck",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketObjectv2:BucketObjectv2",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/service:Service", "gcp:projects/serviceIdentity:ServiceIdentity",
    "gcp:serviceaccount/iAMMember:IAMMember", "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketObject:BucketObject",
    "random:index/randomId:RandomId", "random:index/randomPassword:RandomPassword",
    "tls:index/certRequest:CertRequest", "tls:index/locallySignedCert:LocallySignedCert",
    "tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert",
})

_UNKNOWN = "[unknown]"  # how the captured run shows an Output not known at preview time


def _get(inputs: Mapping, dotted: str):
    value = inputs
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def physical_name(r: Resource | None, rule_: NameRule, *, typ: str = "", logical: str = "",
                  inputs: Mapping | None = None) -> tuple[str | None, int]:
    """(name as the cloud sees it, characters of random suffix it will carry) or (None, 0) when
    the name is not known offline. Works on a captured resource or on (type, logical name, inputs)."""
    inputs = r.inputs if r is not None else (inputs or {})
    logical = r.name if r is not None else logical
    given = _get(inputs, rule_.prop)
    if isinstance(given, str):
        return (None, 0) if _UNKNOWN in given or given == "" else (given, 0)
    if given is not None:
        return None, 0
    prefix = inputs.get(rule_.prefix_prop) if rule_.prefix_prop else None
    if isinstance(prefix, str):
        return None, 0  # the provider's own unique suffix: checked as a prefix
    if rule_.suffix == 0:
        return None, 0  # required input: the provider's schema already refuses it missing
    return logical, rule_.suffix


def name_problems(rule_: NameRule, name: str, suffix: int) -> list[str]:
    problems = []
    full = len(name) + suffix
    shown = f"{name!r}" + (f" + {suffix} random characters" if suffix else "")
    if full > rule_.max_len:
        problems.append(f"{shown} is {full} characters; the limit is {rule_.max_len}")
    if full < rule_.min_len:
        problems.append(f"{shown} is {full} characters; the minimum is {rule_.min_len}")
    candidate = name + ("-" + "a" * (suffix - 1) if suffix else "")
    if not re.match(rule_.pattern, candidate):
        problems.append(f"{shown} does not match {rule_.pattern}")
    if rule_.label_max:
        long = [label for label in name.rstrip(".").split(".") if len(label) > rule_.label_max]
        if long:
            problems.append(f"label {long[0]!r} is {len(long[0])} characters; the limit is {rule_.label_max}")
    return problems


def check_name(typ: str, logical: str, inputs: Mapping) -> list[str]:
    """Problems of one resource's physical name (used by the mock cloud to refuse like the provider)."""
    rule_ = NAME_RULES.get(typ)
    if rule_ is None:
        return []
    name, suffix = physical_name(None, rule_, typ=typ, logical=logical, inputs=inputs)
    problems = name_problems(rule_, name, suffix) if name is not None else []
    prefix = inputs.get(rule_.prefix_prop) if rule_.prefix_prop else None
    if isinstance(prefix, str) and _UNKNOWN not in prefix and len(prefix) > rule_.prefix_max:
        problems.append(f"{rule_.prefix_prop} {prefix!r} is {len(prefix)} characters; the limit is "
                        f"{rule_.prefix_max}")
    return problems


def _named(ctx: Context) -> Iterator[tuple[Resource, NameRule]]:
    for r in ctx.run:
        rule_ = NAME_RULES.get(r.type)
        if rule_ is not None:
            yield r, rule_


@rule("deploy/name-length", stage="deploy",
      source="https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming")
def names_fit(ctx: Context) -> Iterator[Violation]:
    """Every physical name (auto-named: + the random suffix) fits its service's length and pattern."""
    for r, rule_ in _named(ctx):
        for problem in check_name(r.type, r.name, r.inputs):
            yield Violation("deploy/name-length", r.urn, f"{r.type.rsplit(':', 1)[-1]} name: {problem}",
                            rule_.source)


@rule("deploy/name-table", stage="deploy", source="infra/rehearsal/names.py")
def every_type_has_a_name_rule(ctx: Context) -> Iterator[Violation]:
    """Every cloud type the program declares has a naming entry (or is known to have no chosen name)."""
    seen: set[str] = set()
    for r in ctx.run:
        if not r.custom or r.type.startswith("pulumi:providers:") or r.type in seen:
            continue
        seen.add(r.type)
        if r.type not in NAME_RULES and r.type not in UNNAMED:
            yield Violation("deploy/name-table", r.urn,
                            f"{r.type}: no naming rule; add its length/pattern (with source) to NAME_RULES, "
                            "or to UNNAMED if the cloud chooses its name")
