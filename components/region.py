"""One serving region: owns everything declared in that region (network, Kubernetes cluster and GPU
pools now; the database member and serving stack as they land)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cluster.eks_cluster import EksCluster
from components.cluster.region_cluster import RegionCluster, RegionClusterArgs
from components.database.region_database import RegionDatabase, RegionDatabaseArgs
from components.database.replica_set import RECONCILE_SUBJECT
from components.database.sharded import RegionShards, RegionShardsArgs
from components.deploy_context import gcp_project
from components.endpoint import RegionalEndpoint
from components.network.aws_vpc import AwsNetwork, AwsNetworkArgs
from components.network.gcp_network import GcpRegionalNetwork, GcpRegionalNetworkArgs
from components.serving import RegionServingArgs, RegionServingStack
from components.traffic.certificates import ServingTls
from infra.planning.api_edge import RegionApiEdge
from infra.planning.cluster_plan import ClusterPlan
from infra.planning.database import DatabasePlan
from infra.planning.monitoring import Delivery
from infra.planning.regions import RegionPlan
from infra.planning.residency import ResidencyPlan
from infra.planning.serving import RegionServing, ServerSettings


@dataclass(frozen=True)
class RegionArgs:
    region: RegionPlan
    tags: dict[str, str]
    flow_log_role_arn: pulumi.Input[str] | None = None  # AWS regions
    gcp_network_self_link: pulumi.Input[str] | None = None  # GCP regions
    cluster: ClusterPlan | None = None  # None: network only
    database: DatabasePlan | None = None  # the replica set; this region's members go on its cluster
    environment: str = "dev"
    ca_cert_pem: pulumi.Input[str] | None = None  # database: member certificates
    ca_private_key_pem: pulumi.Input[str] | None = None  # secret
    db_passwords: dict[str, pulumi.Input[str]] | None = None  # database users (app, backup): secrets
    db_after: pulumi.Resource | None = None  # database: the member rolled just before this region's
    advertised_ranges: tuple[str, ...] = ()  # GCP: what the Cloud Router advertises besides the subnets
    serving: RegionServing | None = None  # None or no pools: no model servers
    server: ServerSettings | None = None
    domain: str | None = None
    tls: ServingTls | None = None  # the regional HTTPS endpoint's certificate and TLS policy (traffic layer)
    api_edge: RegionApiEdge | None = None  # client keys and edge limits of the serving endpoint
    alert_rules: dict | None = None  # the region's Prometheus rule file (infra/planning/monitoring.py)
    residency: ResidencyPlan | None = None  # the zone-sharded cluster: this region's members and routers
    member_ranges: dict[str, tuple[str, ...]] | None = None  # residency: every region's member ranges
    shards_after: pulumi.Resource | None = None  # residency: the sharded member rolled just before this region's
    alert_delivery: Delivery | None = None  # where the region's Alertmanager sends


class Region(pulumi.ComponentResource):
    """Everything in one region, grouped so the preview tree and `pulumi stack` read per region."""

    network: AwsNetwork | GcpRegionalNetwork
    cluster: RegionCluster | None
    serving: RegionServingStack | None
    endpoint: RegionalEndpoint | None  # the public HTTPS endpoint global traffic points at (None: not serving)
    database: RegionDatabase | None
    shards: RegionShards | None  # the zone-sharded cluster's members, routers and backups here
    summary: dict[str, pulumi.Output[str]]  # ids worth a stack output

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:region:Region", name, None, opts)
        plan, child = args.region, pulumi.ResourceOptions(parent=self)
        if plan.cloud == "aws":
            if args.flow_log_role_arn is None:
                raise ValueError(f"region {plan.name}: AWS regions need the flow log role")
            self.network = AwsNetwork(plan.name, AwsNetworkArgs(plan, args.tags, args.flow_log_role_arn),
                                      opts=child)
            outputs = {"vpcId": self.network.vpc_id, "transitGatewayId": self.network.transit_gateway_id}
        else:
            if args.gcp_network_self_link is None:
                raise ValueError(f"region {plan.name}: GCP regions need the stack's global network")
            self.network = GcpRegionalNetwork(plan.name, GcpRegionalNetworkArgs(plan, args.gcp_network_self_link,
                                                                                 args.advertised_ranges),
                                              opts=child)
            outputs = {"subnetwork": self.network.subnetwork_self_link}
        self.cluster = None
        if args.cluster is not None:
            if plan.cloud == "aws":
                cluster_args = RegionClusterArgs(plan, args.cluster, args.tags,
                                                 private_subnet_ids=self.network.private_subnet_ids,
                                                 vpc_id=self.network.vpc_id)
            else:
                cluster_args = RegionClusterArgs(plan, args.cluster, args.tags,
                                                 network_self_link=args.gcp_network_self_link,
                                                 subnetwork_self_link=self.network.subnetwork_self_link)
            self.cluster = RegionCluster(f"{plan.name}-k8s", cluster_args,
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[self.network]))
            outputs["cluster"] = self.cluster.summary
        self.serving = None
        if self.cluster is not None and args.serving is not None and args.serving.pools:
            self.serving = self._serving(plan, args)
        self.endpoint = self.serving.endpoint if self.serving is not None else None
        self.database = None
        if args.database is not None and self.cluster is not None and args.database.in_region(plan.name):
            if args.ca_cert_pem is None or args.ca_private_key_pem is None or not args.db_passwords:
                raise ValueError(f"region {plan.name}: database members need the CA and the users' passwords")
            run_backup = plan.name in args.database.backup_regions()
            eks = self.cluster.cluster if isinstance(self.cluster.cluster, EksCluster) else None
            self.database = RegionDatabase(f"{plan.name}-mongodb", RegionDatabaseArgs(
                plan=args.database, region=plan, tags=args.tags, environment=args.environment,
                ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
                app_password=args.db_passwords["app"],
                backup_password=args.db_passwords["backup"] if run_backup else None,
                monitor_password=args.db_passwords.get("monitor"),
                reconcile_subject=RECONCILE_SUBJECT, after=args.db_after,
                private_subnet_ids=self.network.private_subnet_ids if plan.cloud == "aws" else (),
                subnetwork_self_link=None if plan.cloud == "aws" else self.network.subnetwork_self_link,
                oidc_provider_arn=eks.oidc_provider_arn if eks else None,
                oidc_issuer=eks.oidc_issuer if eks else None,
                gcp_project=gcp_project() if plan.cloud == "gcp" else None,
                run_backup=run_backup),
                self.cluster.k8s_provider, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]))
        self.shards = self._shards(plan, args) if args.residency is not None and self.cluster is not None else None
        self.summary = outputs
        self.register_outputs(outputs)

    def _shards(self, plan: RegionPlan, args: RegionArgs) -> RegionShards:
        assert self.cluster is not None and args.residency is not None
        if args.ca_cert_pem is None or args.ca_private_key_pem is None or not args.db_passwords:
            raise ValueError(f"region {plan.name}: the sharded cluster needs the CA and the users' passwords")
        eks = self.cluster.cluster if isinstance(self.cluster.cluster, EksCluster) else None
        own = args.database.in_region(plan.name) if args.database is not None else ()
        return RegionShards(f"{plan.name}-sharded", RegionShardsArgs(
            plan=args.residency, region=plan, ranges=args.member_ranges or {}, tags=args.tags,
            environment=args.environment, ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
            reconcile_subject=RECONCILE_SUBJECT, backup_password=args.db_passwords["backup"],
            private_subnet_ids=self.network.private_subnet_ids if plan.cloud == "aws" else (),
            subnetwork_self_link=None if plan.cloud == "aws" else self.network.subnetwork_self_link,
            oidc_provider_arn=eks.oidc_provider_arn if eks else None, oidc_issuer=eks.oidc_issuer if eks else None,
            gcp_project=gcp_project() if plan.cloud == "gcp" else None,
            storage=self.database.storage if self.database is not None else None,
            reserved_zone_indexes=tuple(sorted({m.zone_index for m in own})), after=args.shards_after),
            self.cluster.k8s_provider,
            opts=pulumi.ResourceOptions(parent=self,
                                        depends_on=[self.cluster, *([self.database] if self.database else [])]))

    def _serving(self, plan: RegionPlan, args: RegionArgs) -> RegionServingStack:
        from components.cluster.eks_cluster import EksCluster
        from components.cluster.gke_cluster import gcp_project

        assert self.cluster is not None and args.serving is not None and args.cluster is not None
        if args.server is None or args.domain is None:
            raise ValueError(f"region {plan.name}: serving needs the server settings and the domain")
        common = dict(region=plan, cluster=args.cluster, serving=args.serving, server=args.server, domain=args.domain,
                      tags=args.tags, k8s_provider=self.cluster.k8s_provider,
                      certificate=args.tls.certificate if args.tls else None,
                      tls_policy=args.tls.tls_policy if args.tls else None, protect_data=args.cluster.protect_keys,
                      api_edge=args.api_edge, alert_rules=args.alert_rules,
                      alert_delivery=args.alert_delivery)
        if isinstance(self.cluster.cluster, EksCluster):
            assert isinstance(self.network, AwsNetwork)
            serving_args = RegionServingArgs(**common, vpc_id=self.network.vpc_id,
                                             public_subnet_ids=self.network.public_subnet_ids,
                                             oidc_provider_arn=self.cluster.cluster.oidc_provider_arn,
                                             oidc_issuer=self.cluster.cluster.oidc_issuer)
        else:
            serving_args = RegionServingArgs(**common, project=gcp_project(),
                                             network_self_link=args.gcp_network_self_link)
        return RegionServingStack(f"{plan.name}-serving", serving_args,
                                  opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]))
