"""GCP side of one region's serving stack: the weights bucket and the servers' Workload Identity, and
the region's public HTTPS endpoint: a regional external Application Load Balancer (Envoy-based) with a
backend service over the pools' standalone zonal NEGs (`LEAST_REQUEST` between endpoints,
`RATE` balancing with each endpoint's capacity so pools of different GPUs share by capacity), a
TLS 1.2+ SSL policy and a Certificate Manager certificate.

The NEGs are made by GKE's NEG controller from the Services' `cloud.google.com/neg` annotation with
fixed names (components/serving/manifests.py), one per zone the pool's pods run in, so the backend
service names them in the pool's zones.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.network.gcp_network import GKE_NODE_TAG
from components.serving.gcp_armor import armor_rules
from components.tags import gcp_labels
from infra.planning.api_edge import RegionApiEdge
from infra.planning.serving import HEALTH_PATH, PORT, SERVICE_ACCOUNT, SERVING_NAMESPACE, RegionServing

# Google's health checkers (https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges).
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
BACKEND_TIMEOUT_SECONDS = 600  # long generations stream for minutes

# Requests one client address may send per minute before Cloud Armor answers 429 (an inference request
# holds a GPU for seconds: 600/min is far above one interactive user, below one client flooding a region).
CLIENT_RATE_PER_MINUTE = 600


def _match_all() -> gcp.compute.RegionSecurityPolicyRuleMatchArgs:
    return gcp.compute.RegionSecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1", config=gcp.compute.RegionSecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]))


@dataclass(frozen=True)
class GcpServingEntryArgs:
    serving: RegionServing
    location: str
    project: str
    cluster_name: str
    network_self_link: pulumi.Input[str]
    proxy_only_cidr: str
    neg_names: dict[str, str]  # pool -> standalone NEG name (ServingWorkload.neg_names)
    certificate_id: pulumi.Input[str]
    tags: dict[str, str]
    ssl_policy: pulumi.Input[str] | None = None  # the traffic layer's RegionSslPolicy; None: one made here
    api_edge: RegionApiEdge | None = None  # keys and limits at the edge (components/serving/gcp_armor.py)


def server_account_id(cluster_name: str) -> str:
    """6-30 characters: "<env>-<region>-serve" (env <= 7, region <= 16 characters; infra/config.py)."""
    return f"{cluster_name.removeprefix('rollout-')}-serve"[:30]


def neg_url(project: str, zone: str, neg: str) -> str:
    return f"projects/{project}/zones/{zone}/networkEndpointGroups/{neg}"


@dataclass(frozen=True)
class GcpWeightsAccessArgs:
    location: str
    project: str
    cluster_name: str
    tags: dict[str, str]
    protect_data: bool = False


class GcpWeightsAccess(pulumi.ComponentResource):
    """The weights bucket of one GCP region and the Google service account the servers act as."""

    bucket_uri: pulumi.Output[str]
    service_account_email: pulumi.Output[str]

    def __init__(self, name: str, args: GcpWeightsAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:GcpWeightsAccess", name, None, opts)
        loc, project, child = args.location, args.project, pulumi.ResourceOptions(parent=self)
        # Weights: Google encrypts every object at rest; uniform access, never public, versioned.
        bucket = gcp.storage.Bucket(
            f"{name}-weights", name=f"{project}-{args.cluster_name.removeprefix('rollout-')}-weights",
            project=project, location=loc.upper(), storage_class="STANDARD", uniform_bucket_level_access=True,
            public_access_prevention="enforced", versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            force_destroy=False, labels=gcp_labels(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data, delete_before_replace=True))
        # Fixed names (bucket, account id): a replacement deletes the old one first.
        account = gcp.serviceaccount.Account(
            f"{name}-server", account_id=server_account_id(args.cluster_name), project=project,
            display_name=f"model servers of {args.cluster_name}",
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
        gcp.storage.BucketIAMMember(f"{name}-server-weights", bucket=bucket.name, role="roles/storage.objectViewer",
                                    member=account.member, opts=child)
        # Workload Identity: only the servers' Kubernetes ServiceAccount impersonates the account.
        # https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity
        gcp.serviceaccount.IAMMember(
            f"{name}-server-wi", service_account_id=account.name, role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{SERVING_NAMESPACE}/{SERVICE_ACCOUNT}]", opts=child)
        self.bucket_uri = pulumi.Output.concat("gs://", bucket.name)
        self.bucket_name = bucket.name  # the weights stager's write grant (weights_staging.py)
        self.service_account_email = account.email
        self.register_outputs({"bucket": bucket.name, "serviceAccount": account.email})


class GcpServingEntry(pulumi.ComponentResource):
    """The regional external Application Load Balancer of one GCP region."""

    ip_address: pulumi.Output[str]

    def __init__(self, name: str, args: GcpServingEntryArgs, opts: pulumi.ResourceOptions | None = None,
                 neg_dependencies: list[pulumi.Resource] | None = None):
        super().__init__("rollout:serving:GcpServingEntry", name, None, opts)
        loc, project, plan = args.location, args.project, args.serving
        child = pulumi.ResourceOptions(parent=self)
        labels = gcp_labels(args.tags)

        # Envoy proxies of the regional external Application LB live in a proxy-only subnet.
        # https://cloud.google.com/load-balancing/docs/proxy-only-subnets
        proxy_subnet = gcp.compute.Subnetwork(
            f"{name}-proxy-only", project=project, region=loc, network=args.network_self_link,
            ip_cidr_range=args.proxy_only_cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE",
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))  # its range is fixed
        gcp.compute.Firewall(
            f"{name}-lb-to-servers", project=project, network=args.network_self_link, direction="INGRESS",
            description=f"{args.cluster_name}: load balancer proxies and health checks to the model servers",
            source_ranges=[args.proxy_only_cidr, *HEALTH_CHECK_RANGES], target_tags=[GKE_NODE_TAG],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(PORT)])],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"), opts=child)
        health = gcp.compute.RegionHealthCheck(
            f"{name}-health", project=project, region=loc, check_interval_sec=10, timeout_sec=5,
            healthy_threshold=2, unhealthy_threshold=3,
            http_health_check=gcp.compute.RegionHealthCheckHttpHealthCheckArgs(
                port_specification="USE_SERVING_PORT", request_path=HEALTH_PATH),
            log_config=gcp.compute.RegionHealthCheckLogConfigArgs(enable=True), opts=child)
        # One backend per (pool, zone) NEG; RATE with the replica's capacity per endpoint weights pools
        # by capacity, LEAST_REQUEST picks the endpoint with the fewest outstanding requests.
        backends = [
            gcp.compute.RegionBackendServiceBackendArgs(
                group=neg_url(project, zone, args.neg_names[pool.pool]), balancing_mode="RATE",
                max_rate_per_endpoint=pool.rps_per_replica, capacity_scaler=1.0)
            for pool in plan.pools for zone in pool.zones
        ]
        # Cloud Armor on the public entry: one client address cannot take the region's GPUs for itself
        # (throttled with 429 past CLIENT_RATE_PER_MINUTE); the last rule is the default allow.
        # https://cloud.google.com/armor/docs/rate-limiting-overview
        armor = gcp.compute.RegionSecurityPolicy(
            f"{name}-armor", project=project, region=loc, type="CLOUD_ARMOR",
            description=f"{args.cluster_name}: per-client throttle on the model endpoint",
            # With the edge plan: public routes only, keys, per-key and per-address limits (gcp_armor.py).
            rules=armor_rules(args.api_edge) if args.api_edge is not None else [
                gcp.compute.RegionSecurityPolicyRuleArgs(
                    priority=1000, action="throttle", description="per-client request rate",
                    match=_match_all(),
                    rate_limit_options=gcp.compute.RegionSecurityPolicyRuleRateLimitOptionsArgs(
                        conform_action="allow", exceed_action="deny(429)", enforce_on_key="IP",
                        rate_limit_threshold=gcp.compute.RegionSecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                            count=CLIENT_RATE_PER_MINUTE, interval_sec=60))),
                gcp.compute.RegionSecurityPolicyRuleArgs(priority=2147483647, action="allow",
                                                         description="default rule", match=_match_all()),
            ], opts=child)
        backend = gcp.compute.RegionBackendService(
            f"{name}-backend", project=project, region=loc, load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTP", locality_lb_policy="LEAST_REQUEST", timeout_sec=BACKEND_TIMEOUT_SECONDS,
            security_policy=armor.self_link,
            health_checks=health.id, backends=backends,
            # Every request is logged: the audit trail (components/serving/access_logs.py keeps it).
            log_config=gcp.compute.RegionBackendServiceLogConfigArgs(enable=True, sample_rate=1.0),
            opts=pulumi.ResourceOptions(parent=self, depends_on=neg_dependencies or []))
        url_map = gcp.compute.RegionUrlMap(f"{name}-urls", project=project, region=loc, default_service=backend.id,
                                           opts=child)
        ssl_policy = args.ssl_policy or gcp.compute.RegionSslPolicy(
            f"{name}-tls", project=project, region=loc, min_tls_version="TLS_1_2", profile="MODERN", opts=child).id
        proxy = gcp.compute.RegionTargetHttpsProxy(
            f"{name}-https", project=project, region=loc, url_map=url_map.id, ssl_policy=ssl_policy,
            certificate_manager_certificates=[args.certificate_id], opts=child)
        address = gcp.compute.Address(f"{name}-ip", project=project, region=loc, address_type="EXTERNAL",
                                      network_tier="PREMIUM", labels=labels, opts=child)
        gcp.compute.ForwardingRule(
            f"{name}-https", project=project, region=loc, load_balancing_scheme="EXTERNAL_MANAGED",
            ip_protocol="TCP", port_range="443", ip_address=address.id, target=proxy.id,
            network=args.network_self_link, network_tier="PREMIUM", labels=labels,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[proxy_subnet]))

        self.ip_address = address.address
        self.register_outputs({"ipAddress": address.address})
