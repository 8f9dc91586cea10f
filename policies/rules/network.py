"""Network exposure and visibility: nothing open to the internet except the serving listener, flow
logs everywhere, IAM limited to what flow-log delivery needs."""

from __future__ import annotations

import json
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

OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
PUBLIC_PORTS = Param("array", [443], "ports that may be open to 0.0.0.0/0 (the public serving listener)")

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
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
    open_ = sorted(c for c in cidrs if isinstance(c, str) and c in OPEN_CIDRS)
    if open_ and not _only_allowed_ports(protocol, from_port, to_port, allowed):
        return f"ingress from {', '.join(open_)} on {protocol} {from_port}-{to_port}; only tcp {allowed} may be public"
    return None


@rule("no-open-ingress-aws",
      "Security groups allow ingress from 0.0.0.0/0 or ::/0 only to the public serving listener (tcp 443).",
      enforcement=MANDATORY, severity=HIGH, types=(SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE),
      params={"allowedPublicPorts": PUBLIC_PORTS})
def no_open_ingress_aws(r: Resource, config) -> Iterator[str]:
    allowed = [int(p) for p in config["allowedPublicPorts"]]
    p = r.props
    if r.type == SECURITY_GROUP:
        for entry in as_list(p.get("ingress")):
            if not isinstance(entry, dict):
                continue
            cidrs = as_list(entry.get("cidrBlocks")) + as_list(entry.get("ipv6CidrBlocks"))
            found = _open_ingress(cidrs, entry.get("protocol"), entry.get("fromPort"), entry.get("toPort"), allowed)
            if found:
                yield found
    elif r.type == SECURITY_GROUP_RULE:
        if p.get("type") == "ingress":
            cidrs = as_list(p.get("cidrBlocks")) + as_list(p.get("ipv6CidrBlocks"))
            found = _open_ingress(cidrs, p.get("protocol"), p.get("fromPort"), p.get("toPort"), allowed)
            if found:
                yield found
    else:
        cidrs = [p.get("cidrIpv4"), p.get("cidrIpv6")]
        found = _open_ingress(cidrs, p.get("ipProtocol"), p.get("fromPort"), p.get("toPort"), allowed)
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


@rule("no-open-ingress-gcp",
      "GCP firewall rules allow ingress from 0.0.0.0/0 only to the public serving listener (tcp 443).",
      enforcement=MANDATORY, severity=HIGH, types=(GCP_FIREWALL,), params={"allowedPublicPorts": PUBLIC_PORTS})
def no_open_ingress_gcp(r: Resource, config) -> Iterator[str]:
    p = r.props
    if p.get("direction", "INGRESS") != "INGRESS" or p.get("disabled") is True or p.get("denies"):
        return
    open_ = sorted(c for c in as_list(p.get("sourceRanges")) if isinstance(c, str) and c in OPEN_CIDRS)
    allowed = [int(x) for x in config["allowedPublicPorts"]]
    if open_ and not _gcp_ports_public_ok(as_list(p.get("allows")), allowed):
        yield f"ingress from {', '.join(open_)} to {p.get('allows')}; only tcp {allowed} may be public"


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


def _statements(document: Any) -> list[dict[str, Any]]:
    if is_unknown(document) or document is None:
        return []
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [s for s in as_list(statements) if isinstance(s, dict)]


@rule("iam-no-wildcard-admin",
      "IAM policies never allow every action on every resource (Action '*' with Resource '*').",
      enforcement=MANDATORY, severity=CRITICAL,
      types=("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy"))
def iam_no_wildcard_admin(r: Resource, config) -> Iterator[str]:
    for s in _statements(r.props.get("policy")):
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
    for s in _statements(r.props.get("assumeRolePolicy")):
        principal = s.get("Principal")
        values = [principal] if isinstance(principal, str) else \
            [v for vs in (principal or {}).values() for v in as_list(vs)] if isinstance(principal, dict) else []
        if s.get("Effect") == "Allow" and "*" in values and not s.get("Condition"):
            yield "the trust policy allows Principal '*' without a Condition"


RULES = [no_open_ingress_aws, no_open_ingress_gcp, default_security_group_closed, subnet_no_public_ip,
         flow_log_all_traffic, gcp_subnetwork_flow_logs, gcp_private_google_access, gcp_nat_logging,
         log_retention_bounds, iam_no_wildcard_admin, iam_trust_no_wildcard]
