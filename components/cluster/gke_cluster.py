"""A GKE cluster for one GCP region: regional, private nodes and a private IP endpoint (plus the
DNS-based endpoint in dns-endpoint mode), Dataplane V2, Workload Identity, shielded nodes,
application-layer Secrets encryption with a rotating Cloud KMS key, a least-privilege node service
account, a system node pool and one GPU node pool per GPU pool of the plan with GKE-managed NVIDIA
driver install.

Real-path safety: the project is the stack's one `gcp:project` (components/deploy_context.py); the
cluster has no cluster-level `node_config` (the provider docs say not to combine it with
`remove_default_node_pool`: a change would force a replacement); node pools ignore
`initialNodeCount` after creation (force-new, and the plan moves it with demand); fixed names
(cluster, node service account) replace delete-first; the key ring's name carries a random suffix
because Cloud KMS key rings can never be deleted, so a re-created ring must not reuse a name. With
`cluster.apiAccess.mode: dns-endpoint` the API is served on GKE's DNS-based endpoint (IAM-authorized)
and the kubeconfig points there.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.cluster.kubeconfig import gke_kubeconfig
from components.deploy_context import gcp_project
from components.network.gcp_network import GKE_NODE_TAG, POD_RANGE, SERVICE_RANGE
from components.tags import gcp_labels
from infra.planning.cluster_plan import ClusterPlan, NodePoolPlan
from infra.planning.regions import RegionPlan

CONTROL_PLANE_TO_PODS = (6443, 9443)  # KEDA metrics apiserver, admission webhooks (kubernetes_base.py)
NODE_POOL_IGNORE = ["initialNodeCount"]  # force-new; the plan and the autoscaler move the size
KEY_ROTATION = "7776000s"  # 90 days
# https://cloud.google.com/kubernetes-engine/docs/how-to/service-accounts#default-gke-service-agent
# roles/container.defaultNodeServiceAccount bundles logging, monitoring and metadata writer
# permissions nodes need (https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster
# #use_least_privilege_sa); Artifact Registry read to pull images.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access governed by IAM roles above
# Managed driver install: https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#create-gpu-pool-auto-drivers
# DEFAULT: the driver GKE pins to the node version, so drivers change only with a (reviewed) node
# upgrade; LATEST would move under the serving stack on any node re-creation.
GPU_DRIVER_VERSION = "DEFAULT"
GKE_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
BOOT_DISK_GB = {"system": 50, "gpu": 200}


@dataclass(frozen=True)
class GkeClusterArgs:
    region: RegionPlan
    cluster: ClusterPlan
    network_self_link: pulumi.Input[str]  # GcpGlobalNetwork.self_link
    subnetwork_self_link: pulumi.Input[str]  # GcpRegionalNetwork.subnetwork_self_link
    tags: dict[str, str]


def node_account_id(cluster_name: str) -> str:
    """Service account ids are 6-30 chars, starting with a letter: "<env>-<region>-nodes" fits
    (env <= 7 chars, region names <= 16; infra/config.py)."""
    return f"{cluster_name.removeprefix('rollout-')}-nodes"


class GkeCluster(pulumi.ComponentResource):
    """GKE control plane, KMS, node service account and node pools of one region."""

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]  # secret
    node_pools: dict[str, gcp.container.NodePool]
    api_ready: list[pulumi.Resource]  # the Kubernetes provider waits for these

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:cluster:GkeCluster", name, None, opts)
        plan, loc = args.cluster, args.region.location
        child = pulumi.ResourceOptions(parent=self)
        project = gcp_project()
        labels = gcp_labels(args.tags)

        # Secrets encryption: https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets
        keep = pulumi.ResourceOptions(parent=self, protect=plan.protect_keys)
        # Key rings are never deleted (https://cloud.google.com/kms/docs/resource-hierarchy#retrieve_resource_id):
        # a new ring (re-created stack, or a replacement) gets a new suffix instead of "already exists".
        suffix = random.RandomId(f"{name}-keyring-suffix", byte_length=3,
                                 keepers={"project": project, "location": loc, "cluster": plan.name}, opts=child)
        key_ring = gcp.kms.KeyRing(f"{name}-keyring", name=pulumi.Output.concat(plan.name, "-", suffix.hex),
                                   location=loc, project=project, opts=keep)
        key = gcp.kms.CryptoKey(f"{name}-secrets", name=f"{plan.name}-secrets", key_ring=key_ring.id,
                                purpose="ENCRYPT_DECRYPT", rotation_period=KEY_ROTATION, labels=labels, opts=keep)
        # The GKE service agent exists only once the container API is on; ServiceIdentity creates it
        # (and so waits for the API) and names it, with no project-number lookup at preview time.
        # https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets#grant_permission
        agent = gcp.projects.ServiceIdentity(f"{name}-gke-agent", project=project, service="container.googleapis.com",
                                             opts=child)
        key_access = gcp.kms.CryptoKeyIAMMember(
            f"{name}-secrets-gke-agent", crypto_key_id=key.id, role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=agent.member, opts=child)

        account = gcp.serviceaccount.Account(
            f"{name}-nodes", account_id=node_account_id(plan.name), project=project,
            display_name=f"GKE nodes of {plan.name}",
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))  # account_id is fixed
        roles = [gcp.projects.IAMMember(f"{name}-nodes-{role.rsplit('/', 1)[1]}", project=project, role=role,
                                        member=account.member, opts=child)
                 for role in NODE_ROLES]

        cluster = gcp.container.Cluster(
            f"{name}-gke", name=plan.name, project=project, location=loc, node_locations=list(plan.zones),
            network=args.network_self_link, subnetwork=args.subnetwork_self_link, networking_mode="VPC_NATIVE",
            # The default pool is deleted right after creation; node pools are managed separately and
            # carry their own node config (no cluster-level node_config with remove_default_node_pool).
            remove_default_node_pool=True, initial_node_count=1,
            min_master_version=plan.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=plan.release_channel),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=True,
                master_ipv4_cidr_block=plan.master_ipv4_cidr,
                # Reachable from the other regions over the global VPC and the VPN links.
                master_global_access_config=gcp.container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=True)),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                gcp_public_cidrs_access_enabled=False,
                cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                    cidr_block=c, display_name=f"allow-{i}") for i, c in enumerate(plan.authorized_networks)]),
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=POD_RANGE, services_secondary_range_name=SERVICE_RANGE),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{project}.svc.id.goog"),
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2: eBPF, NetworkPolicy enforced
            # Only images the project's Binary Authorization policy admits run (CIS GKE 5.10.5):
            # https://cloud.google.com/binary-authorization/docs/setting-up
            binary_authorization=gcp.container.ClusterBinaryAuthorizationArgs(
                evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE"),
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name=key.id),
            # DNS-based endpoint: IAM decides who may call it, from anywhere; no IP is opened.
            # https://cloud.google.com/kubernetes-engine/docs/concepts/network-isolation#dns-based_endpoint
            control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=True)) if plan.dns_endpoint else None,
            enable_shielded_nodes=True,
            resource_labels=labels,
            # A fixed name: a replacement must delete first (deletion protection stops it until lifted).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[key_access, *roles], delete_before_replace=True,
                                        protect=plan.protect_cluster))

        # GKE opens only 443 and 10250 from the control plane to the nodes; the API server also calls
        # KEDA's metrics apiserver (6443) and admission webhooks (9443) on the pods.
        # https://cloud.google.com/kubernetes-engine/docs/how-to/private-clusters#add_firewall_rules
        gcp.compute.Firewall(
            f"{name}-control-plane-to-webhooks", project=project, network=args.network_self_link,
            description="GKE control plane -> KEDA metrics apiserver (6443) and admission webhooks (9443)",
            direction="INGRESS", priority=1000, source_ranges=[plan.master_ipv4_cidr], target_tags=[GKE_NODE_TAG],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in CONTROL_PLANE_TO_PODS])],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"), opts=child)
        self.node_pools = {pool.name: self._node_pool(name, plan, pool, cluster, account.email, labels)
                           for pool in plan.pools}
        ca = cluster.master_auth.apply(lambda m: m.cluster_ca_certificate)
        self.cluster_name = cluster.name
        if plan.dns_endpoint:
            self.endpoint = cluster.control_plane_endpoints_config.apply(
                lambda c: c.dns_endpoint_config.endpoint)  # type: ignore[union-attr]
            self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(cluster.name, self.endpoint).apply(
                lambda v: gke_kubeconfig(v[0], v[1], None)))
        else:
            self.endpoint = cluster.endpoint
            self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(cluster.name, cluster.endpoint, ca).apply(
                lambda v: gke_kubeconfig(v[0], v[1], v[2])))
        self.api_ready = []
        self.register_outputs({"clusterName": cluster.name, "endpoint": cluster.endpoint, "kmsKey": key.id,
                               "nodeServiceAccount": account.email})

    def _node_pool(self, name: str, plan: ClusterPlan, pool: NodePoolPlan, cluster: gcp.container.Cluster,
                   service_account: pulumi.Output[str], labels: dict[str, str]) -> gcp.container.NodePool:
        kind = "gpu" if pool.is_gpu else "system"
        accelerators = [gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
            type=pool.accelerator, count=pool.gpu_count,
            gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                gpu_driver_version=GPU_DRIVER_VERSION))] if pool.is_gpu else None
        return gcp.container.NodePool(
            f"{name}-{pool.name}", cluster=cluster.id, location=plan.location, node_locations=list(pool.zones),
            initial_node_count=pool.initial_per_zone,
            # Total limits over all zones, so the pool size is the plan's, not per zone.
            # https://cloud.google.com/kubernetes-engine/docs/concepts/cluster-autoscaler#minimum_and_maximum_node_pool_size
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_nodes, total_max_node_count=pool.max_nodes,
                location_policy="ANY" if pool.is_gpu else "BALANCED"),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.machine_type, image_type="COS_CONTAINERD", disk_type="pd-balanced",
                disk_size_gb=BOOT_DISK_GB[kind], service_account=service_account, oauth_scopes=OAUTH_SCOPES,
                labels=dict(pool.labels), resource_labels=labels, guest_accelerators=accelerators,
                tags=[GKE_NODE_TAG],
                taints=[gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value,
                                                                  effect=GKE_TAINT_EFFECT[t.effect])
                        for t in pool.taints],
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA")),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=NODE_POOL_IGNORE))
