"""Quotas a preview cannot see but `pulumi up` hits: AWS security groups' rules per group.

AWS counts, per security group and direction, one rule per IPv4 CIDR, per IPv6 CIDR, per referenced
group and per prefix list of every rule (inline or separate rule resources); the default quota is 60
inbound and 60 outbound, enforced separately for IPv4 and IPv6
(https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups).
A prefix list really counts as its max entries; it is counted as 1 here (the program uses none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from .core import HIGH, MANDATORY, Param, Resource, StackFinding, as_list, get, is_unknown, stack_rule

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DEFAULT_QUOTA = 60


def _entries(rule: Mapping[str, Any]) -> Counter[str]:
    """How many quota entries one inline / SecurityGroupRule rule takes, by address family."""
    out: Counter[str] = Counter()
    out["ipv4"] += len(as_list(rule.get("cidrBlocks")))
    out["ipv6"] += len(as_list(rule.get("ipv6CidrBlocks")))
    refs = len(as_list(rule.get("securityGroups"))) + len(as_list(rule.get("prefixListIds")))
    refs += 1 if rule.get("self") is True or rule.get("sourceSecurityGroupId") else 0
    out["ipv4"] += refs  # a group or prefix-list reference counts in each family; report it with IPv4
    return out


def _separate(r: Resource) -> tuple[str, Counter[str]]:
    """(direction, entries) of a separate rule resource."""
    if r.type == SECURITY_GROUP_RULE:
        return str(r.props.get("type", "ingress")), _entries(r.props)
    direction = "ingress" if r.type == SG_INGRESS_RULE else "egress"
    family = "ipv6" if r.props.get("cidrIpv6") else "ipv4"
    return direction, Counter({family: 1})


@stack_rule("security-group-rules-quota",
            "No AWS security group needs more rules per direction and address family than the quota "
            "(each CIDR, referenced group and prefix list of a rule is one rule).",
            enforcement=MANDATORY, severity=HIGH,
            reads=(SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE, SG_EGRESS_RULE),
            params={"quota": Param("integer", DEFAULT_QUOTA, "rules per group, direction and family")})
def security_group_rules_quota(resources: list[Resource], config) -> Iterator[StackFinding]:
    quota = int(config.get("quota", DEFAULT_QUOTA)) if isinstance(config, Mapping) else DEFAULT_QUOTA
    groups = [r for r in resources if r.type == SECURITY_GROUP]
    counts: dict[str, Counter[tuple[str, str]]] = {g.urn: Counter() for g in groups}
    for g in groups:
        for direction in ("ingress", "egress"):
            rules = get(g.props, direction)
            if is_unknown(rules):
                continue
            for rule in as_list(rules):
                if isinstance(rule, Mapping):
                    for family, n in _entries(rule).items():
                        counts[g.urn][direction, family] += n
    for r in resources:
        if r.type in (SECURITY_GROUP_RULE, SG_INGRESS_RULE, SG_EGRESS_RULE):
            direction, entries = _separate(r)
            for g in r.depends_on("securityGroupId"):
                if g.urn in counts:
                    for family, n in entries.items():
                        counts[g.urn][direction, family] += n
    for g in groups:
        for (direction, family), n in sorted(counts[g.urn].items()):
            if n > quota:
                yield (f"{n} {direction} {family} rules (each CIDR counts) exceed the quota of {quota} per "
                       f"group; aggregate the ranges (infra/planning/peer_ranges.py) or use a prefix list", g.urn)


RULES = [security_group_rules_quota]
