"""One region's serving stack: weights bucket and identity, model servers per GPU pool, queue-depth
autoscaling (and the cluster autoscaler on EKS), and the public HTTPS endpoint with least-loaded
routing. Hands back the `RegionalEndpoint` the global traffic layer points DNS at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.endpoint import RegionalEndpoint
from components.serving.access_logs import AlbAccessLogs, AlbAccessLogsArgs, gcp_lb_log_bucket
from components.serving.api_auth import ApiKeyAuth, ApiKeyAuthArgs
from components.serving.aws_entry import AwsServingEntry, AwsServingEntryArgs
from components.serving.aws_waf import ApiWebAcl, ApiWebAclArgs
from components.serving.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.serving.gcp_entry import (
    HEALTH_CHECK_RANGES,
    GcpServingEntry,
    GcpServingEntryArgs,
    GcpWeightsAccess,
    GcpWeightsAccessArgs,
)
from components.serving.manifests import neg_name
from components.serving.weights_staging import WeightsStaging, WeightsStagingArgs
from components.serving.workload import ServingWorkload, ServingWorkloadArgs
from infra.planning.api_edge import RegionApiEdge
from infra.planning.cluster_plan import ClusterPlan
from infra.planning.monitoring import Delivery
from infra.planning.regions import RegionPlan, regional_hostname
from infra.planning.serving import RegionServing, ServerSettings, proxy_only_range


@dataclass(frozen=True)
class RegionServingArgs:
    region: RegionPlan
    cluster: ClusterPlan
    serving: RegionServing
    server: ServerSettings
    domain: str
    tags: dict[str, str]
    k8s_provider: k8s.Provider
    certificate: pulumi.Input[str] | None  # AWS: ACM certificate ARN; GCP: Certificate Manager certificate id
    tls_policy: pulumi.Input[str] | None = None  # AWS: listener ssl_policy; GCP: RegionSslPolicy; None: our own
    protect_data: bool = False
    # AWS
    vpc_id: pulumi.Input[str] | None = None
    public_subnet_ids: Sequence[pulumi.Input[str]] = field(default=())
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer: pulumi.Input[str] | None = None
    # GCP
    project: str | None = None
    network_self_link: pulumi.Input[str] | None = None
    api_edge: RegionApiEdge | None = None  # client keys and edge limits (None: no key check, no WAF)
    alert_rules: dict | None = None  # the region's Prometheus rule file (evaluated by its Prometheus)
    alert_delivery: Delivery | None = None  # where its Alertmanager sends (None: no Alertmanager)


class RegionServingStack(pulumi.ComponentResource):
    """The model-serving stack of one region; `endpoint` is its public HTTPS entry point."""

    endpoint: RegionalEndpoint
    summary: dict[str, object]
    alb_arn_suffix: pulumi.Output[str] | None  # AWS: the ALB's metrics dimension (alarms, dashboards)

    def __init__(self, name: str, args: RegionServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:RegionServingStack", name, None, opts)
        region, plan, cluster = args.region, args.serving, args.cluster
        if args.certificate is None:
            raise ValueError(f"region {region.name}: the HTTPS endpoint needs a certificate (no plain-HTTP listener)")
        child = pulumi.ResourceOptions(parent=self)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        self.alb_arn_suffix = None
        hostname = regional_hostname(region.name, args.domain)
        if region.cloud == "aws":
            if args.vpc_id is None or not args.public_subnet_ids or args.oidc_provider_arn is None \
                    or args.oidc_issuer is None:
                raise ValueError(f"region {region.name}: AWS serving needs the VPC, public subnets and OIDC provider")
            logs = AlbAccessLogs(f"{name}-access-logs", AlbAccessLogsArgs(
                location=region.location, cluster_name=cluster.name, retention_days=args.api_edge.log_retention_days,
                tags=args.tags, protect_data=args.protect_data), opts=child) if args.api_edge else None
            entry = AwsServingEntry(f"{name}-entry", AwsServingEntryArgs(
                serving=plan, location=region.location, cluster_name=cluster.name, vpc_id=args.vpc_id,
                vpc_cidr=region.addresses.network, public_subnet_ids=args.public_subnet_ids,
                oidc_provider_arn=args.oidc_provider_arn, oidc_issuer=args.oidc_issuer,
                certificate_arn=args.certificate, ssl_policy=args.tls_policy, tags=args.tags,
                protect_data=args.protect_data, access_logs_bucket=logs.bucket if logs else None,
                access_logs_ready=logs.ready if logs else None), opts=child)
            staged = self._stage(name, args, WeightsStagingArgs(
                region=region.name, cloud="aws", cluster_name=cluster.name, server=args.server,
                bucket_uri=entry.bucket_uri, tags=args.tags, bucket_arn=entry.bucket_arn,
                oidc_provider_arn=args.oidc_provider_arn, oidc_issuer=args.oidc_issuer))
            key_auth, key_ready = None, ()
            if args.api_edge is not None:
                ApiWebAcl(f"{name}-waf", ApiWebAclArgs(
                    edge=args.api_edge, location=region.location, cluster_name=cluster.name,
                    load_balancer_arn=entry.load_balancer_arn, tags=args.tags), opts=child)
                keys = ApiKeyAuth(f"{name}-keys", ApiKeyAuthArgs(
                    edge=args.api_edge, location=region.location, cluster_name=cluster.name, tags=args.tags,
                    server_role_arn=entry.role_arn, protect_data=args.protect_data),
                    opts=child, k8s_provider=args.k8s_provider)
                key_auth, key_ready = keys.mount, (keys,)
            ServingWorkload(f"{name}-servers", ServingWorkloadArgs(
                serving=plan, server=args.server, cluster_name=cluster.name,
                service_account_annotations={"eks.amazonaws.com/role-arn": entry.role_arn},
                bucket_uri=entry.bucket_uri, target_group_arns=entry.target_group_arns,
                alb_security_group_id=entry.security_group_id,
                # The ALB's nodes sit in the public subnets: the VPC CNI gives pods VPC addresses, so the
                # whole VPC would admit every pod of the cluster.
                load_balancer_sources=tuple(z.public for z in region.addresses.zones),
                weights_ready=(*staged, *key_ready), key_auth=key_auth, alert_rules=args.alert_rules,
                alert_delivery=args.alert_delivery),
                opts=in_cluster)
            ClusterAutoscaler(f"{name}-cluster-autoscaler", ClusterAutoscalerArgs(
                cluster_name=cluster.name, location=region.location, kubernetes_version=cluster.kubernetes_version,
                oidc_provider_arn=args.oidc_provider_arn, oidc_issuer=args.oidc_issuer, tags=args.tags),
                opts=child, k8s_provider=args.k8s_provider)
            self.endpoint = RegionalEndpoint(region=region.name, cloud="aws", hostname=hostname,
                                             dns_name=entry.dns_name, zone_id=entry.zone_id)
            self.alb_arn_suffix = entry.load_balancer_arn_suffix
            address: pulumi.Input[str] = entry.dns_name
        else:
            if args.project is None or args.network_self_link is None:
                raise ValueError(f"region {region.name}: GCP serving needs the project and the network")
            access = GcpWeightsAccess(f"{name}-weights", GcpWeightsAccessArgs(
                location=region.location, project=args.project, cluster_name=cluster.name, tags=args.tags,
                protect_data=args.protect_data), opts=child)
            staged = self._stage(name, args, WeightsStagingArgs(
                region=region.name, cloud="gcp", cluster_name=cluster.name, server=args.server,
                bucket_uri=access.bucket_uri, tags=args.tags, project=args.project, bucket_name=access.bucket_name))
            key_auth, key_ready = None, ()
            if args.api_edge is not None:
                keys = ApiKeyAuth(f"{name}-keys", ApiKeyAuthArgs(
                    edge=args.api_edge, location=region.location, cluster_name=cluster.name, tags=args.tags,
                    project=args.project, server_account_email=access.service_account_email,
                    protect_data=args.protect_data), opts=child, k8s_provider=args.k8s_provider)
                key_auth, key_ready = keys.mount, (keys,)
                gcp_lb_log_bucket(name, args.project, region.location, cluster.name,
                                  args.api_edge.log_retention_days, child)
            workload = ServingWorkload(f"{name}-servers", ServingWorkloadArgs(
                serving=plan, server=args.server, cluster_name=cluster.name,
                service_account_annotations={"iam.gke.io/gcp-service-account": access.service_account_email},
                bucket_uri=access.bucket_uri,
                load_balancer_sources=(proxy_only_range(region.addresses.network), *HEALTH_CHECK_RANGES),
                weights_ready=(*staged, *key_ready), key_auth=key_auth, alert_rules=args.alert_rules,
                alert_delivery=args.alert_delivery),
                opts=in_cluster)
            entry = GcpServingEntry(f"{name}-entry", GcpServingEntryArgs(
                serving=plan, location=region.location, project=args.project, cluster_name=cluster.name,
                network_self_link=args.network_self_link, proxy_only_cidr=proxy_only_range(region.addresses.network),
                neg_names={p.pool: neg_name(cluster.name, p) for p in plan.pools},
                certificate_id=args.certificate, ssl_policy=args.tls_policy, tags=args.tags,
                api_edge=args.api_edge), opts=child,
                neg_dependencies=list(workload.services.values()))
            self.endpoint = RegionalEndpoint(region=region.name, cloud="gcp", hostname=hostname,
                                             ip_address=entry.ip_address)
            address = entry.ip_address
        self.summary = {
            "hostname": hostname, "address": address, "capacityRps": round(plan.capacity_rps, 3),
            "pools": {p.pool: {"replicas": p.replicas, "tensorParallel": p.tensor_parallel,
                               "serversPerNode": p.servers_per_node, "maxNumSeqs": p.max_num_seqs,
                               "rpsPerReplica": p.rps_per_replica, "floor": p.floor, "ceiling": p.ceiling,
                               **({"listenerWeight": p.listener_weight} if region.cloud == "aws" else {})}
                      for p in plan.pools},
        }
        self.register_outputs({"hostname": hostname, "address": address})

    def _stage(self, name: str, args: RegionServingArgs, staging: WeightsStagingArgs) -> tuple[pulumi.Resource, ...]:
        """Bucket weights: the staging Job the servers wait for (none when they read Hugging Face)."""
        if args.server.weights_source != "bucket":
            return ()
        return (WeightsStaging(f"{name}-weights-staging", staging, args.k8s_provider,
                               opts=pulumi.ResourceOptions(parent=self)).ready,)
