"""The top of the resource tree: stack-wide resources and one `Region` per planned region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.database.replica_set import ReplicaSet, ReplicaSetArgs
from components.database.sharded import ShardedCluster, ShardedClusterArgs
from components.deploy_context import gcp_project
from components.endpoint import RegionalEndpoint
from components.gcp_project import GcpProject, GcpProjectArgs
from components.links import PrivateLinks, PrivateLinksArgs
from components.monitoring import CloudAlarms, CloudAlarmsArgs, Dashboards, DashboardsArgs
from components.network.aws_vpc import AwsNetwork
from components.network.flow_log_role import FlowLogRole, FlowLogRoleArgs
from components.network.gcp_network import GcpGlobalNetwork, GcpGlobalNetworkArgs, GcpRegionalNetwork
from components.partitions import AwsPartitions, AwsPartitionsArgs
from components.pki import RootCa, RootCaArgs
from components.region import Region, RegionArgs
from components.traffic import (
    GlobalRecords,
    GlobalRecordsArgs,
    PublicZone,
    PublicZoneArgs,
    RegionalCertificates,
    RegionalCertificatesArgs,
)
from infra.planning.dashboards import dashboard_plan
from infra.planning.database import NAMESPACE, member_ranges
from infra.planning.plan import RolloutPlan
from infra.planning.topology import router_advertised_ranges

DATABASE_USERS = ("app", "backup", "restore", "monitor")  # per-purpose MongoDB users (docs/database.md "Users")


def advertised_ranges(plan: RolloutPlan) -> tuple[str, ...]:
    """What every Cloud Router advertises besides its subnets: the supernet in hub mode, and in private
    API mode every GKE control-plane range, so a runner in an AWS VPC reaches the private endpoints."""
    masters = tuple(c.master_ipv4_cidr for c in plan.clusters.values()
                    if c.cloud == "gcp" and c.api_access == "private" and c.master_ipv4_cidr)
    return router_advertised_ranges(plan.topology, plan.addresses.supernet) + masters


def alb_arn_suffixes(rollout: GlobalRollout) -> dict[str, pulumi.Output[str]]:
    """Region name -> its serving ALB's ARN suffix (AWS regions with a serving endpoint)."""
    return {n: r.serving.alb_arn_suffix for n, r in rollout.regions.items()
            if r.serving is not None and r.serving.alb_arn_suffix is not None}


def cloud_alarms_args(plan: RolloutPlan, rollout: GlobalRollout) -> CloudAlarmsArgs:
    """What the clouds' alarms watch: every AWS VPN connection, public certificate, load balancer and
    health check this stack declares (docs/monitoring.md)."""
    location = {r.name: r.location for r in plan.regions}
    vpns: dict[str, list] = {}
    for link_id, vpn in rollout.links.vpns.items():
        vpns.setdefault(location[next(v for v in plan.topology.vpns if v.id == link_id).aws_region], []).extend(
            vpn.vpn_connection_ids)
    for link_id, vpn in rollout.links.partition_vpns.items():  # cross-partition links: alarms on the AWS end
        vpns.setdefault(location[next(x for x in plan.topology.partition_links if x.id == link_id).global_region],
                        []).extend(vpn.vpn_connection_ids)
    certificates = {location[r]: tls.certificate for r, tls in (rollout.certificates.by_region.items()
                                                                if rollout.certificates else ())
                    if plan.region(r).cloud == "aws"}
    albs = {location[n]: suffix for n, suffix in alb_arn_suffixes(rollout).items()}
    checks = {r: hc.id for r, hc in rollout.records.health_checks.items()} if rollout.records else {}
    emails = plan.monitoring.emails if plan.monitoring else ()
    return CloudAlarmsArgs(tags=plan.tags, emails=emails, vpn_connection_ids=vpns, alb_arn_suffixes=albs,
                           certificate_arns=certificates, health_check_ids=checks, gcp=bool(plan.gcp_regions),
                           providers=rollout.partitions.providers if rollout.partitions else {},
                           protect=plan.stack_environment == "prod")


@dataclass(frozen=True)
class GlobalRolloutArgs:
    plan: RolloutPlan
    endpoints: Mapping[str, RegionalEndpoint] | None = None  # overrides/adds regional endpoints (tests)


class GlobalRollout(pulumi.ComponentResource):
    """Stack-wide resources (flow-log role, global GCP VPC, private CA), the regions, and the links
    between them."""

    regions: dict[str, Region]
    links: PrivateLinks
    ca: RootCa
    database: ReplicaSet | None
    sharded: ShardedCluster | None  # the zone-sharded cluster's reconcile Job (stack's `residency` section)
    gcp: GcpProject | None  # the project's provider and enabled APIs, when the stack has GCP regions
    zone: PublicZone | None
    certificates: RegionalCertificates | None  # the serving stack's listeners take these (by region)
    records: GlobalRecords | None  # once every region has a public endpoint
    alarms: CloudAlarms  # the clouds' alarms on links, edge health, load balancers and certificates
    dashboards: Dashboards | None  # global and per-region views of the plan against what runs
    partitions: AwsPartitions | None  # providers of the non-global AWS partitions (aws-cn)

    def __init__(self, name: str, args: GlobalRolloutArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:global:GlobalRollout", name, None, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.gcp = GcpProject(f"{name}-gcp-project", GcpProjectArgs(gcp_project()), opts=child) \
            if plan.gcp_regions else None
        if self.gcp is not None:
            child = self.gcp.child_options(self)  # GCP resources below: one provider, after the APIs
        # AWS partitions besides the global one (aws-cn): their own providers (docs/partitions.md).
        self.partitions = AwsPartitions(f"{name}-partitions", AwsPartitionsArgs(plan.partitions),
                                        opts=pulumi.ResourceOptions(parent=self)) if plan.partitions else None
        if self.partitions is not None:
            child = pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(transformations=[self.partitions.assign]))
        aws_partitions = sorted({r.catalog.partition for r in plan.aws_regions})
        flow_log_roles = {
            p: FlowLogRole(f"{name}-flow-logs" if p == "aws" else f"{name}-flow-logs-{p}",
                           FlowLogRoleArgs(plan.tags, p),
                           opts=self.partitions.region_options(p, child) if self.partitions else child)
            for p in aws_partitions}
        gcp_network = GcpGlobalNetwork(
            f"{name}-gcp", GcpGlobalNetworkArgs(f"global-ai-rollout {pulumi.get_stack()}"), opts=child) \
            if plan.gcp_regions else None
        # Global traffic, part 1 (before the regions: their HTTPS listeners need the certificates).
        self.zone = self.certificates = self.records = None
        if plan.traffic is not None:
            self.zone = PublicZone(f"{name}-zone", PublicZoneArgs(
                zone_name=plan.traffic.zone_name, existing_zone_id=plan.traffic.existing_zone_id,
                protect=plan.stack_environment == "prod", tags=plan.tags), opts=child)
            self.certificates = RegionalCertificates(f"{name}-certs", RegionalCertificatesArgs(
                domain=plan.domain, regions=plan.regions, zone_id=self.zone.zone_id, tags=plan.tags,
                zone_delegated=plan.traffic.zone_delegated), opts=child)
        # The private CA that internal services (database members, internal APIs) get leaf certificates from.
        self.ca = RootCa(f"{name}-ca", RootCaArgs(common_name=f"global-ai-rollout {pulumi.get_stack()} root CA",
                                                  organization=plan.tags["owner"]), opts=child)
        db = plan.database
        # One password per database user (letters and digits: they go into connection strings unescaped).
        db_passwords = {user: random.RandomPassword(f"{name}-mongodb-{user}", length=32, special=False,
                                                    opts=child).result
                        for user in DATABASE_USERS} if db else None
        self.regions = {}
        db_after = shards_after = None  # member StatefulSets roll one at a time, across regions in the plan's order
        for r in plan.regions:
            self.regions[r.name] = Region(r.name, RegionArgs(
                region=r, tags=plan.tags,
                flow_log_role_arn=flow_log_roles[r.catalog.partition].arn if r.cloud == "aws" else None,
                gcp_network_self_link=gcp_network.self_link if gcp_network and r.cloud == "gcp" else None,
                cluster=plan.clusters.get(r.name),
                database=db, environment=plan.stack_environment,
                ca_cert_pem=self.ca.cert_pem if db else None,
                ca_private_key_pem=self.ca.private_key_pem if db else None,
                db_passwords=db_passwords, db_after=db_after,
                advertised_ranges=advertised_ranges(plan) if r.cloud == "gcp" else (),
                serving=plan.serving.get(r.name), domain=plan.domain,
                server=plan.serving[r.name].server if r.name in plan.serving else None,
                tls=self.certificates.by_region.get(r.name) if self.certificates else None,
                api_edge=plan.api.get(r.name),
                # The chart's kube-state-metrics is installed with the Alertmanager (docs/monitoring.md).
                alert_rules=plan.monitoring.rule_groups(r.name)
                if plan.monitoring and r.name in plan.monitoring.regions else None,
                residency=plan.residency if db else None,
                member_ranges={x.name: member_ranges(x) for x in plan.regions} if plan.residency else None,
                shards_after=shards_after,
                alert_delivery=plan.monitoring.delivery if plan.monitoring else None,
            ), opts=self.partitions.region_options(r.catalog.partition, child)
                if self.partitions is not None and r.cloud == "aws" else child)
            if self.regions[r.name].database is not None:
                db_after = self.regions[r.name].database.last_member or db_after
            if self.regions[r.name].shards is not None:  # sharded members also roll one at a time
                shards_after = self.regions[r.name].shards.last_member or shards_after
        aws_networks = {n: r.network for n, r in self.regions.items() if isinstance(r.network, AwsNetwork)}
        gcp_networks = {n: r.network for n, r in self.regions.items() if isinstance(r.network, GcpRegionalNetwork)}
        self.links = PrivateLinks(f"{name}-links", PrivateLinksArgs(
            plan=plan, topology=plan.topology, aws_networks=aws_networks, gcp_network=gcp_network,
            gcp_regions=gcp_networks or None), opts=child)
        self.database = self.sharded = None
        primary = self.regions[db.primary_region] if db else None
        if db and primary is not None and primary.cluster is not None:
            members = [r.database for r in self.regions.values() if r.database is not None]
            self.database = ReplicaSet(f"{name}-mongodb", ReplicaSetArgs(
                plan=db, environment=plan.stack_environment, tags=plan.tags,
                aws_vpcs={n: (net.vpc_id, plan.region(n).location) for n, net in aws_networks.items()},
                gcp_network_self_link=gcp_network.self_link if gcp_network else None,
                gcp_project=gcp_project() if gcp_network else None,
                ca_cert_pem=self.ca.cert_pem, ca_private_key_pem=self.ca.private_key_pem,
                passwords=db_passwords or {}, namespace=primary.cluster.base.namespaces.get(NAMESPACE),
                named_members=tuple(m for rs in plan.residency.sets() for m in rs.members) if plan.residency else ()),
                primary.cluster.k8s_provider, members,
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.links])))
        if plan.residency is not None and self.database is not None and primary is not None:
            self.sharded = ShardedCluster(f"{name}-sharded", ShardedClusterArgs(
                plan=plan.residency, region=db.primary_region, ca_cert_pem=self.ca.cert_pem,
                ca_private_key_pem=self.ca.private_key_pem, users=DATABASE_USERS), primary.cluster.k8s_provider,
                after=[*self.database.records, self.database.users,
                       *(r.shards for r in self.regions.values() if r.shards is not None)], opts=child)
        # Global traffic, part 2: health checks and records, pointed at the regions' public endpoints.
        endpoints = {n: r.endpoint for n, r in self.regions.items() if getattr(r, "endpoint", None) is not None}
        endpoints.update(args.endpoints or {})
        if plan.traffic is not None and self.zone is not None and set(plan.traffic.regions) <= set(endpoints):
            self.records = GlobalRecords(f"{name}-dns", GlobalRecordsArgs(
                plan=plan.traffic, zone_id=self.zone.zone_id, endpoints=endpoints, tags=plan.tags), opts=child)
        self.alarms = CloudAlarms(f"{name}-alarms", cloud_alarms_args(plan, self), opts=child)
        views = dashboard_plan(plan, pulumi.get_stack())
        self.dashboards = Dashboards(f"{name}-dashboards", DashboardsArgs(views, alb_arn_suffixes(self)),
                                     opts=child) if views else None
        self.register_outputs({"caCertificate": self.ca.cert_pem})
