"""Network exposure and visibility: nothing open to the internet except the serving listener, flow
logs everywhere, IAM limited to what flow-log delivery needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .core import (
    ADVISORY,
    CRITICAL,
    HIGH,
    LOW,
    MANDATORY,
    MEDIUM,
    UNKNOWN,
    Param,
    Resource,
    as_list,
    get,
    is_unknown,
    rule,
)
from .iam import open_to_anyone, statements
from .netmath import covers_world, public_ranges

PUBLIC_PORTS = Param("array", [443], "ports that may be open to 0.0.0.0/0 (the public serving listener)")

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"


def _only_allowed_ports(protocol: Any, from_port: Any, to_port: Any, allowed: list[int]) -> bool:
    """True when the rule opens exactly one allowed TCP port (protocol "-1"/"all" opens everything)."""
    if any(is_unknown(v) for v in (protocol, from_port, to_port)):
        return True  # decided at update time; the resource is re-checked then
    if str(protocol).lower() not in ("tcp", "6"):
        return False
    return from_port == to_port and int(from_port) in allowed


def _open_ingress(cidrs: list[Any], protocol: Any, from_port: Any, to_port: Any, allowed: list[int]) -> str | None:
    """The ranges together admit the whole internet (compared as networks: 0.0.0.0/1 + 128.0.0.0/1 is the world)."""
    if covers_world(cidrs) and not _only_allowed_ports(protocol, from_port, to_port, allowed):
        shown = ", ".join(str(c) for c in cidrs if isinstance(c, str))
        return f"ingress from {shown} (the whole internet) on {protocol} {from_port}-{to_port}; " \
               f"only tcp {allowed} may be public"
    return None


def _sg_ingress_groups(r: Resource) -> list[tuple[Any, Any, Any, list[Any]]]:
    """(protocol, fromPort, toPort, every CIDR) per port range: one group's ranges may be split over entries."""
    p = r.props
    if r.type == SECURITY_GROUP:
        groups: dict[tuple[str, str, str], list[Any]] = {}
        keys: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        for entry in as_list(p.get("ingress")):
            if not isinstance(entry, dict):
                continue
            key = (str(entry.get("protocol")), str(entry.get("fromPort")), str(entry.get("toPort")))
            keys[key] = (entry.get("protocol"), entry.get("fromPort"), entry.get("toPort"))
            groups.setdefault(key, []).extend(as_list(entry.get("cidrBlocks")) + as_list(entry.get("ipv6CidrBlocks")))
        return [(*keys[k], cidrs) for k, cidrs in groups.items()]
    if r.type == SECURITY_GROUP_RULE:
        if p.get("type") != "ingress":
            return []
        return [(p.get("protocol"), p.get("fromPort"), p.get("toPort"),
                 as_list(p.get("cidrBlocks")) + as_list(p.get("ipv6CidrBlocks")))]
    if r.type == SG_INGRESS_RULE:
        return [(p.get("ipProtocol"), p.get("fromPort"), p.get("toPort"), [p.get("cidrIpv4"), p.get("cidrIpv6")])]
    return []


@rule("no-open-ingress-aws",
      "Security groups allow ingress from the whole internet (any set of ranges that covers it) only to the "
      "public serving listener (tcp 443).",
      enforcement=MANDATORY, severity=HIGH, types=(SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE),
      params={"allowedPublicPorts": PUBLIC_PORTS})
def no_open_ingress_aws(r: Resource, config) -> Iterator[str]:
    allowed = [int(p) for p in config["allowedPublicPorts"]]
    for protocol, from_port, to_port, cidrs in _sg_ingress_groups(r):
        found = _open_ingress(cidrs, protocol, from_port, to_port, allowed)
        if found:
            yield found


def _gcp_ports_public_ok(allows: list[Any], allowed: list[int]) -> bool:
    for allow in allows:
        if is_unknown(allow):
            continue
        if str(allow.get("protocol", "")).lower() != "tcp":
            return False
        ports = as_list(allow.get("ports"))
        if not ports:  # no ports = every port
            return False
        for port in ports:
            if is_unknown(port):
                continue
            if not str(port).isdigit() or int(port) not in allowed:
                return False
    return True


def _gcp_ingress_allow(p: Any) -> bool:
    return p.get("direction", "INGRESS") == "INGRESS" and p.get("disabled") is not True and not p.get("denies")


@rule("no-open-ingress-gcp",
      "GCP firewall rules allow ingress from the whole internet (any set of ranges that covers it) only to the "
      "public serving listener (tcp 443).",
      enforcement=MANDATORY, severity=HIGH, types=(GCP_FIREWALL,), params={"allowedPublicPorts": PUBLIC_PORTS})
def no_open_ingress_gcp(r: Resource, config) -> Iterator[str]:
    p = r.props
    if not _gcp_ingress_allow(p):
        return
    sources = as_list(p.get("sourceRanges"))
    allowed = [int(x) for x in config["allowedPublicPorts"]]
    if covers_world(sources) and not _gcp_ports_public_ok(as_list(p.get("allows")), allowed):
        yield f"ingress from {sources} (the whole internet) to {p.get('allows')}; only tcp {allowed} may be public"


def _port_ranges_aws(protocol: Any, from_port: Any, to_port: Any) -> list[tuple[int, int]] | None:
    if any(is_unknown(v) for v in (protocol, from_port, to_port)):
        return None
    if str(protocol).lower() in ("-1", "all"):
        return [(0, 65535)]
    if str(protocol).lower() not in ("tcp", "6", "udp", "17"):
        return []
    try:
        return [(int(from_port), int(to_port))]
    except (TypeError, ValueError):
        return None


def _port_ranges_gcp(allows: list[Any]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for allow in allows:
        if not isinstance(allow, dict) or str(allow.get("protocol", "")).lower() not in ("tcp", "udp", "all"):
            continue
        ports = as_list(allow.get("ports"))
        if not ports or str(allow.get("protocol")).lower() == "all":
            out.append((0, 65535))
        for port in ports:
            if is_unknown(port):
                continue
            low, _, high = str(port).partition("-")
            if low.isdigit():
                out.append((int(low), int(high) if high.isdigit() else int(low)))
    return out


ADMIN_PORTS = Param("array", [22, 3389, 2379, 2380, 6443, 10250, 27017, 5432, 3306, 6379, 9200],
                    "ports never reachable from internet ranges (SSH, RDP, etcd, Kubernetes API/kubelet, databases)")


def _admin_hits(ranges: list[tuple[int, int]], admin: list[int]) -> list[int]:
    return sorted({p for p in admin for low, high in ranges if low <= p <= high})


@rule("no-internet-admin-ports",
      "No internet range (any non-private CIDR, not only 0.0.0.0/0) reaches SSH, RDP, etcd, the Kubernetes API, "
      "kubelets or database ports (CIS AWS 5.2/5.3, CIS GCP 3.6/3.7).",
      enforcement=MANDATORY, severity=CRITICAL, types=(SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE,
                                                      GCP_FIREWALL),
      params={"adminPorts": ADMIN_PORTS})
def no_internet_admin_ports(r: Resource, config) -> Iterator[str]:
    admin = [int(x) for x in config["adminPorts"]]
    if r.type == GCP_FIREWALL:
        if not _gcp_ingress_allow(r.props):
            return
        public = public_ranges(as_list(r.props.get("sourceRanges")))
        hits = _admin_hits(_port_ranges_gcp(as_list(r.props.get("allows"))), admin) if public else []
        if hits:
            yield f"ports {hits} reachable from internet ranges {public}"
        return
    for protocol, from_port, to_port, cidrs in _sg_ingress_groups(r):
        public = public_ranges(cidrs)
        ranges = _port_ranges_aws(protocol, from_port, to_port) if public else []
        hits = _admin_hits(ranges or [], admin)
        if hits:
            yield f"ports {hits} reachable from internet ranges {public}"


@rule("security-group-descriptions",
      "Security groups and each of their rules say what they are for (a description other than the default).",
      enforcement=ADVISORY, severity=LOW, types=(SECURITY_GROUP,))
def security_group_descriptions(r: Resource, config) -> Iterator[str]:
    description = r.props.get("description")
    if not is_unknown(description) and description in (None, "", "Managed by Pulumi"):
        yield "the group has no description of its own"
    for direction in ("ingress", "egress"):
        for entry in as_list(r.props.get(direction)):
            if isinstance(entry, dict) and not entry.get("description"):
                yield f"an {direction} rule ({entry.get('protocol')} {entry.get('fromPort')}) has no description"


@rule("security-group-egress-restricted",
      "Security groups do not allow every protocol to the whole internet (egress says where traffic goes).",
      enforcement=ADVISORY, severity=MEDIUM, types=(SECURITY_GROUP, SG_EGRESS_RULE))
def security_group_egress_restricted(r: Resource, config) -> Iterator[str]:
    if r.type == SECURITY_GROUP:
        entries = [e for e in as_list(r.props.get("egress")) if isinstance(e, dict)]
        pairs = [(e.get("protocol"), as_list(e.get("cidrBlocks")) + as_list(e.get("ipv6CidrBlocks"))) for e in entries]
    else:
        pairs = [(r.props.get("ipProtocol"), [r.props.get("cidrIpv4"), r.props.get("cidrIpv6")])]
    for protocol, cidrs in pairs:
        if str(protocol) in ("-1", "all") and covers_world(cidrs):
            yield "egress allows every protocol to the whole internet"


@rule("gcp-firewall-logging", "GCP firewall rules log matched connections (CIS GCP 3.x, incident reconstruction).",
      enforcement=MANDATORY, severity=MEDIUM, types=(GCP_FIREWALL,))
def gcp_firewall_logging(r: Resource, config) -> Iterator[str]:
    log_config = r.props.get("logConfig")
    if log_config is None or (isinstance(log_config, dict) and not log_config.get("metadata")):
        yield "logConfig is not set: matched connections are not logged"


@rule("gcp-firewall-targeted",
      "GCP ingress allow rules name their targets (targetTags or targetServiceAccounts), not every VM of the network.",
      enforcement=MANDATORY, severity=MEDIUM, types=(GCP_FIREWALL,))
def gcp_firewall_targeted(r: Resource, config) -> Iterator[str]:
    p = r.props
    if not _gcp_ingress_allow(p) or is_unknown(p.get("targetTags")) or is_unknown(p.get("targetServiceAccounts")):
        return
    if not as_list(p.get("targetTags")) and not as_list(p.get("targetServiceAccounts")):
        yield "no targetTags / targetServiceAccounts: the rule applies to every instance in the network"


@rule("gcp-network-custom-subnets",
      "GCP VPC networks use custom subnet mode (no auto-created subnets in every region, CIS GCP 3.1).",
      enforcement=MANDATORY, severity=MEDIUM, types=("gcp:compute/network:Network",))
def gcp_network_custom_subnets(r: Resource, config) -> Iterator[str]:
    if r.props.get("autoCreateSubnetworks", True) is True:
        yield "autoCreateSubnetworks is true (or unset, which defaults to true)"


ROUTE = "aws:ec2/route:Route"


@rule("vpc-default-route-to-internet-gateways-only",
      "A VPC route that covers the internet goes to an internet or NAT gateway, never to a peer, Transit Gateway "
      "or instance (traffic for the world must not detour through another region or an appliance).",
      enforcement=MANDATORY, severity=MEDIUM, types=(ROUTE,))
def vpc_default_route(r: Resource, config) -> Iterator[str]:
    destination = [r.props.get("destinationCidrBlock"), r.props.get("destinationIpv6CidrBlock")]
    if not covers_world(destination):
        return
    for key in ("transitGatewayId", "vpcPeeringConnectionId", "networkInterfaceId", "vpcEndpointId"):
        if r.props.get(key) not in (None, ""):
            yield f"the default route goes to {key}"


@rule("vpc-dns-enabled", "VPCs resolve and name hosts (private EKS endpoints and private zones need both).",
      enforcement=ADVISORY, severity=LOW, types=("aws:ec2/vpc:Vpc",))
def vpc_dns_enabled(r: Resource, config) -> Iterator[str]:
    for key in ("enableDnsSupport", "enableDnsHostnames"):
        if r.props.get(key) is False:
            yield f"{key} is false"


@rule("default-security-group-closed",
      "The default security group of every VPC has no rules, so nothing can use it by accident (CIS AWS 5.4).",
      enforcement=MANDATORY, severity=MEDIUM, types=(DEFAULT_SG,))
def default_security_group_closed(r: Resource, config) -> Iterator[str]:
    for direction in ("ingress", "egress"):
        rules = r.props.get(direction)
        if rules is None:
            yield f"{direction} not set: AWS keeps its default rules; set {direction}=[]"
        elif not is_unknown(rules) and len(rules) > 0:
            yield f"{direction} has {len(rules)} rule(s); the default security group must stay empty"


@rule("subnet-no-public-ip-on-launch",
      "Subnets never assign public IPs on launch; public entry is only through load balancers.",
      enforcement=MANDATORY, severity=MEDIUM, types=("aws:ec2/subnet:Subnet",))
def subnet_no_public_ip(r: Resource, config) -> Iterator[str]:
    if r.props.get("mapPublicIpOnLaunch") is True:
        yield "mapPublicIpOnLaunch is true"


@rule("flow-log-captures-all-traffic",
      "VPC flow logs capture ALL traffic (accepted and rejected) so incidents can be reconstructed.",
      enforcement=MANDATORY, severity=MEDIUM, types=("aws:ec2/flowLog:FlowLog",))
def flow_log_all_traffic(r: Resource, config) -> Iterator[str]:
    traffic = r.props.get("trafficType")
    if not is_unknown(traffic) and traffic != "ALL":
        yield f"trafficType is {traffic!r}, not 'ALL'"


# Proxy-only subnets (Envoy load balancers) take neither flow logs nor Private Google Access: "This field
# isn't supported if the subnet purpose field is set to REGIONAL_MANAGED_PROXY"
# (https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks, enableFlowLogs).
PROXY_ONLY_PURPOSES = ("REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER")


def _proxy_only(r: Resource) -> bool:
    return r.props.get("purpose") in PROXY_ONLY_PURPOSES


@rule("gcp-subnetwork-flow-logs",
      "Every GCP subnetwork has VPC flow logs on (logConfig with a sampling rate above zero).",
      enforcement=MANDATORY, severity=MEDIUM, types=("gcp:compute/subnetwork:Subnetwork",))
def gcp_subnetwork_flow_logs(r: Resource, config) -> Iterator[str]:
    if _proxy_only(r):
        return
    log_config = r.props.get("logConfig")
    if log_config is None:
        yield "logConfig is not set: flow logs are off"
        return
    sampling = get(log_config, "flowSampling", 0.5)  # the API default when logConfig is present
    if not is_unknown(sampling) and float(sampling) <= 0:
        yield "logConfig.flowSampling is 0: no flows are recorded"


@rule("gcp-subnetwork-private-google-access",
      "GCP subnetworks reach Google APIs privately (no NAT or public IP needed for image pulls and APIs).",
      enforcement=ADVISORY, severity=LOW, types=("gcp:compute/subnetwork:Subnetwork",))
def gcp_private_google_access(r: Resource, config) -> Iterator[str]:
    if _proxy_only(r):
        return
    if r.props.get("privateIpGoogleAccess") is not True and not is_unknown(r.props.get("privateIpGoogleAccess")):
        yield "privateIpGoogleAccess is not true"


@rule("gcp-nat-logging",
      "Cloud NAT logs at least errors, so dropped egress (port exhaustion) is visible.",
      enforcement=ADVISORY, severity=LOW, types=("gcp:compute/routerNat:RouterNat",))
def gcp_nat_logging(r: Resource, config) -> Iterator[str]:
    enabled = get(r.props, "logConfig.enable", False)
    if enabled is not UNKNOWN and enabled is not True:
        yield "logConfig.enable is not true"


@rule("log-retention-bounds",
      "CloudWatch log groups keep logs long enough for investigations and not forever (cost).",
      enforcement=ADVISORY, severity=LOW, types=("aws:cloudwatch/logGroup:LogGroup",),
      params={"minDays": Param("integer", 30, "shortest acceptable retention in days"),
              "maxDays": Param("integer", 731, "longest acceptable retention in days")})
def log_retention_bounds(r: Resource, config) -> Iterator[str]:
    days = r.props.get("retentionInDays")
    if is_unknown(days):
        return
    if not days:
        yield "retentionInDays not set: logs are kept (and billed) forever"
    elif days < config["minDays"]:
        yield f"retentionInDays {days:g} < {config['minDays']}"
    elif days > config["maxDays"]:
        yield f"retentionInDays {days:g} > {config['maxDays']}"


@rule("iam-no-wildcard-admin",
      "IAM policies never allow every action on every resource (Action '*' with Resource '*').",
      enforcement=MANDATORY, severity=CRITICAL,
      types=("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy",
             "aws:iam/role:Role"))
def iam_no_wildcard_admin(r: Resource, config) -> Iterator[str]:
    documents = [r.props.get("policy")] if r.type != "aws:iam/role:Role" else \
        [p.get("policy") for p in as_list(r.props.get("inlinePolicies")) if isinstance(p, dict)]
    for s in (s for d in documents for s in statements(d)):
        if s.get("Effect") != "Allow":
            continue
        actions, resources = as_list(s.get("Action")), as_list(s.get("Resource"))
        if "*" in actions and "*" in resources:
            yield "a statement allows Action '*' on Resource '*'"
        elif "*" in actions:
            yield "a statement allows Action '*'; list the actions"


@rule("iam-trust-no-wildcard-principal",
      "IAM role trust policies never let any principal ('*') assume the role.",
      enforcement=MANDATORY, severity=HIGH, types=("aws:iam/role:Role",))
def iam_trust_no_wildcard(r: Resource, config) -> Iterator[str]:
    for s in statements(r.props.get("assumeRolePolicy")):
        if open_to_anyone(s):  # a Condition counts only when it restricts who (policies/rules/iam.py)
            yield "the trust policy allows Principal '*' without a condition that restricts who"


def _wide(ranges: list[tuple[int, int]], max_span: int) -> list[str]:
    return [f"{low}-{high}" for low, high in ranges if high - low + 1 > max_span]


@rule("peer-ingress-ports-listed",
      "Ingress from other regions and clouds (private ranges: peer VPCs, the supernet, VPN peers) names its ports: "
      "no rule admits all protocols, all TCP/UDP ports or a range wider than maxPortSpan from a peer, so a "
      "compromised region reaches only the services it uses (443, 27017, ...).",
      enforcement=MANDATORY, severity=HIGH, types=(SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE,
                                                  GCP_FIREWALL),
      params={"maxPortSpan": Param("integer", 16, "widest port range a peer ingress rule may open")})
def peer_ingress_ports_listed(r: Resource, config) -> Iterator[str]:
    span = int(config["maxPortSpan"])
    if r.type == GCP_FIREWALL:
        p = r.props
        sources = [c for c in as_list(p.get("sourceRanges")) if not is_unknown(c)]
        if not _gcp_ingress_allow(p) or not sources or public_ranges(sources):
            return
        for allow in as_list(p.get("allows")):
            if not isinstance(allow, dict) or is_unknown(allow):
                continue
            protocol = str(allow.get("protocol", "")).lower()
            if protocol in ("all", "-1"):
                yield f"allows every protocol from peer ranges {sources}"
            elif protocol in ("tcp", "udp", "sctp", "6", "17"):
                wide = _wide(_port_ranges_gcp([{**allow, "protocol": "tcp"}]), span)
                if wide:
                    yield f"allows {protocol} {', '.join(wide)} from peer ranges {sources}; list the ports"
        return
    for protocol, from_port, to_port, cidrs in _sg_ingress_groups(r):
        cidrs = [c for c in cidrs if isinstance(c, str) and not is_unknown(c)]
        if not cidrs or public_ranges(cidrs):
            continue
        ranges = _port_ranges_aws(protocol, from_port, to_port)
        if ranges is None:
            continue
        if str(protocol).lower() in ("-1", "all"):
            yield f"allows every protocol from peer ranges {cidrs}"
            continue
        wide = _wide(ranges, span)
        if wide:
            yield f"allows {protocol} {', '.join(wide)} from peer ranges {cidrs}; list the ports"


RULES = [peer_ingress_ports_listed,
         vpc_default_route, vpc_dns_enabled, no_open_ingress_aws, no_open_ingress_gcp, no_internet_admin_ports,
         security_group_descriptions, security_group_egress_restricted, gcp_firewall_logging, gcp_firewall_targeted,
         gcp_network_custom_subnets, default_security_group_closed, subnet_no_public_ip, flow_log_all_traffic,
         gcp_subnetwork_flow_logs, gcp_private_google_access, gcp_nat_logging, log_retention_bounds,
         iam_no_wildcard_admin, iam_trust_no_wildcard]
