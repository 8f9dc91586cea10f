"""Cluster components under mocks: what the engine would receive matches the cluster plan and the
security posture (private API, Secrets encryption, IMDSv2, tainted GPU pools, pinned add-ons)."""

from __future__ import annotations

import json
from functools import cache

import kubernetes_validate
import pulumi
import pytest

from components.cluster.region_cluster import RegionCluster, RegionClusterArgs
from infra.config import parse_config
from infra.offline.mock_runtime import SECRET, run_mocked
from infra.planning.cluster_plan import GPU_MODEL_LABEL, plan_clusters
from infra.planning.cluster_versions import DEVICE_PLUGIN_VERSION, SUPPORTED
from infra.planning.plan import build_plan
from tests.factories import raw_config

ALLOW = "203.0.113.0/24"
RUNNER = "10.1.2.0/24"  # inside the test stack's supernet
ADMIN = "arn:aws:iam::123456789012:role/platform-admin"


@cache
def plan():
    return build_plan(parse_config(raw_config()))


@cache
def run(mode: str = "private", cidrs: tuple[str, ...] = (RUNNER,), admins: tuple[str, ...] = (ADMIN,),
        config: tuple[tuple[str, str], ...] = ()):
    """Both regions of the test plan (one EKS, one GKE), as Region would wire them, with the API access
    `mode` (dns-endpoint: `cidrs` are the deployer's; private: the runner's) and engine `config`."""
    rollout = plan()
    access = {"deployer_cidrs": cidrs} if mode == "dns-endpoint" else {"runner_cidrs": cidrs}
    clusters = plan_clusters(rollout, rollout.sizing.replicas, 2, api_access=mode, admin_role_arns=admins,
                             **access)
    summaries = {}

    def program():
        for region in rollout.regions:
            if region.cloud == "aws":
                args = RegionClusterArgs(region, clusters[region.name], rollout.tags,
                                         private_subnet_ids=[f"subnet-{z.zone}" for z in region.addresses.zones],
                                         vpc_id="vpc-0123456789abcdef0")
            else:
                args = RegionClusterArgs(region, clusters[region.name], rollout.tags,
                                         network_self_link="projects/p/global/networks/vpc",
                                         subnetwork_self_link=f"projects/p/regions/{region.location}/subnetworks/s")
            component = RegionCluster(region.name, args)
            summaries[region.name] = component.summary
            pulumi.export(f"{region.name}-cluster", component.summary)

    captured = run_mocked(program, stack="test", config=dict(config))
    assert captured.resources, "nothing was registered"
    return captured, clusters


def of(captured, typ):
    found = captured.of_type(typ)
    assert found, f"no {typ} captured"
    return found


def test_gpu_pools_equal_the_plan_with_burst_taint_and_labels_on_both_clouds():
    captured, clusters = run()
    planned = plan().sizing.replicas
    eks_groups = {g.inputs["instanceTypes"][0]: g.inputs for g in of(captured, "aws:eks/nodeGroup:NodeGroup")}
    for itype, nodes in planned["use1"].items():
        group = eks_groups[itype]
        # EKS: the ceiling is the plan's; the floor is held by the servers (min 0, created with one node)
        # so that every later update sends a desired size EKS accepts (infra/planning/cluster_plan.py).
        assert group["scalingConfig"] == {"minSize": 0, "desiredSize": 1, "maxSize": nodes + 2}
        assert group["amiType"] == "AL2023_x86_64_NVIDIA"
        assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
        assert group["labels"][GPU_MODEL_LABEL] == "A10G"
        pool = next(p for p in clusters["use1"].gpu_pools if p.machine_type == itype)
        assert group["subnetIds"] == [f"subnet-{z}" for z in pool.zones]
    assert eks_groups["m6i.large"]["amiType"] == "AL2023_x86_64_STANDARD"
    assert not eks_groups["m6i.large"].get("taints"), "the system pool takes untolerating pods"

    gke_pools = {p.inputs["nodeConfig"]["machineType"]: p.inputs
                 for p in of(captured, "gcp:container/nodePool:NodePool")}
    gpu_checked = 0
    for itype, nodes in planned["euw4"].items():
        pool = gke_pools[itype]
        assert pool["autoscaling"]["totalMinNodeCount"] == nodes
        assert pool["autoscaling"]["totalMaxNodeCount"] == nodes + 2
        config = pool["nodeConfig"]
        assert config["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
        assert config["labels"][GPU_MODEL_LABEL] == "L4"
        (accelerator,) = config["guestAccelerators"]
        assert accelerator["type"] == "nvidia-l4" and accelerator["count"] == 1
        assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("LATEST", "DEFAULT")
        assert config["shieldedInstanceConfig"]["enableSecureBoot"] is True
        assert config["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
        assert pool["nodeLocations"] == list(clusters["euw4"].gpu_pools[0].zones)
        gpu_checked += 1
    assert gpu_checked > 0 and len(eks_groups) == 1 + len(planned["use1"])


def test_summary_reports_cluster_and_pool_sizes():
    captured, clusters = run()
    summary = captured.outputs["use1-cluster"]
    assert summary["clusterName"] == "rollout-dev-use1" and summary["endpoint"].startswith("https://")
    assert summary["pools"]["gpu-g5-xlarge"]["desired"] == plan().sizing.replicas["use1"]["g5.xlarge"]
    assert set(captured.outputs["euw4-cluster"]["pools"]) == {p.name for p in clusters["euw4"].pools}


def test_private_mode_has_no_public_endpoint_and_lets_the_runner_in():
    captured, _ = run()
    (eks,) = of(captured, "aws:eks/cluster:Cluster")
    vpc = eks.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    # The EKS-made cluster security group admits only itself: the runner gets 443 explicitly.
    (rule,) = of(captured, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert (rule.inputs["cidrIpv4"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (RUNNER, 443, 443)
    assert rule.inputs["securityGroupId"].startswith("sg-")
    (gke,) = of(captured, "gcp:container/cluster:Cluster")
    private = gke.inputs["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True and private["enablePrivateEndpoint"] is True
    assert private["masterIpv4CidrBlock"] == "10.68.255.240/28"
    # the region's own range only: a peer region (or anything else in the supernet) cannot reach the API
    assert gke.inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": "10.68.0.0/16", "displayName": "allow-0"}, {"cidrBlock": RUNNER, "displayName": "allow-1"}]
    assert "controlPlaneEndpointsConfig" not in gke.inputs


def test_dns_endpoint_mode_opens_eks_only_to_the_deployer_and_gke_only_through_iam():
    captured, _ = run("dns-endpoint", (ALLOW,))
    (eks,) = of(captured, "aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == [ALLOW]
    assert not captured.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    (gke,) = of(captured, "gcp:container/cluster:Cluster")
    assert gke.inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True  # no public IP endpoint
    assert gke.inputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True
    blocks = [b["cidrBlock"] for b in gke.inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]]
    assert blocks == ["10.68.0.0/16"]
    assert gke.inputs["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


def test_secrets_are_encrypted_with_rotating_keys():
    captured, _ = run()
    (eks,) = of(captured, "aws:eks/cluster:Cluster")
    assert len([k for k in of(captured, "aws:kms/key:Key") if k.name.endswith("-secrets")]) == 1
    assert all(k.inputs["enableKeyRotation"] is True for k in of(captured, "aws:kms/key:Key"))
    encryption = eks.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"].startswith("arn:aws:kms:us-east-1:") and encryption["provider"]["keyArn"]
    (gke,) = of(captured, "gcp:container/cluster:Cluster")
    (crypto_key,) = of(captured, "gcp:kms/cryptoKey:CryptoKey")
    assert crypto_key.inputs["rotationPeriod"]
    assert gke.inputs["databaseEncryption"]["state"] == "ENCRYPTED"
    assert gke.inputs["databaseEncryption"]["keyName"].endswith("/cryptoKeys/" + crypto_key.inputs["name"])
    (grant,) = of(captured, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    agent = "serviceAccount:service-123456789012@container-engine-robot.iam.gserviceaccount.com"
    assert grant.inputs["member"] == agent


def test_eks_control_plane_posture_iam_and_irsa():
    captured, _ = run()
    (eks,) = of(captured, "aws:eks/cluster:Cluster")
    assert eks.inputs["accessConfig"]["authenticationMode"] == "API"
    assert eks.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert eks.inputs["version"] == "1.36"
    policies = sorted(a.inputs["policyArn"].rsplit("/", 1)[1]
                      for a in of(captured, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"))
    assert policies == ["AmazonEBSCSIDriverPolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKSClusterPolicy",
                        "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"]
    # ... but the CNI policy is on the vpc-cni's own IRSA role, not on the node role
    roles_by_urn = {r.urn: r for r in of(captured, "aws:iam/role:Role")}
    (cni,) = [a for a in of(captured, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
              if a.inputs["policyArn"].endswith("/AmazonEKS_CNI_Policy")]
    (cni_role,) = [roles_by_urn[d] for d in cni.dependencies if d in roles_by_urn]
    cni_trust = json.loads(cni_role.inputs["assumeRolePolicy"])["Statement"][0]
    assert cni_trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:kube-system:aws-node" in cni_trust["Condition"]["StringEquals"].values()
    (oidc,) = of(captured, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    ebs_role = next(r for r in of(captured, "aws:iam/role:Role") if "ebs-csi" in r.name)
    trust = json.loads(ebs_role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in trust["Condition"]["StringEquals"].values()


def test_core_addons_are_pinned_to_versions_of_the_cluster_version():
    captured, _ = run()
    addons = {a.inputs["addonName"]: a.inputs for a in of(captured, "aws:eks/addon:Addon")}
    assert {n: a["addonVersion"] for n, a in addons.items()} == SUPPORTED["1.36"].by_name()
    assert addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"].startswith("arn:aws:iam::")
    assert addons["vpc-cni"]["serviceAccountRoleArn"].startswith("arn:aws:iam::")
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_every_launch_template_requires_imdsv2():
    captured, _ = run()
    templates = of(captured, "aws:ec2/launchTemplate:LaunchTemplate")
    groups = of(captured, "aws:eks/nodeGroup:NodeGroup")
    assert len(templates) == len(groups) >= 2
    for template in templates:
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1  # pods cannot reach IMDS
    assert all(g.inputs["launchTemplate"]["id"].startswith("lt-") for g in groups)


def test_gke_has_no_default_pool_and_the_hardened_defaults():
    captured, _ = run()
    (gke,) = of(captured, "gcp:container/cluster:Cluster")
    inputs = gke.inputs
    assert inputs["removeDefaultNodePool"] is True and inputs["initialNodeCount"] == 1
    assert inputs["location"] == "europe-west4"
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH" and inputs["enableShieldedNodes"] is True
    assert inputs["workloadIdentityConfig"]["workloadPool"].endswith(".svc.id.goog")
    assert inputs["releaseChannel"]["channel"] in ("REGULAR", "STABLE")
    assert inputs["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods",
                                            "servicesSecondaryRangeName": "services"}
    # No cluster-level nodeConfig next to removeDefaultNodePool (a change would force a replacement):
    # the pools carry the node service account.
    assert "nodeConfig" not in inputs
    assert all(p.inputs["nodeConfig"]["serviceAccount"].startswith("dev-euw4-nodes@")
               for p in of(captured, "gcp:container/nodePool:NodePool"))
    roles = {m.inputs["role"] for m in of(captured, "gcp:projects/iAMMember:IAMMember")}
    assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}


def test_one_kubernetes_provider_per_cluster_with_a_secret_exec_kubeconfig():
    captured, _ = run()
    providers = of(captured, "pulumi:providers:kubernetes")
    assert len(providers) == 2
    assert all(p.inputs["kubeconfig"] == SECRET for p in providers)
    namespaces = of(captured, "kubernetes:core/v1:Namespace")
    provider_urns = {p.urn for p in providers}
    assert namespaces and all(n.provider.rsplit("::", 1)[0] in provider_urns for n in namespaces)


def test_device_plugin_is_pinned_tolerates_the_taint_and_only_runs_on_eks():
    captured, _ = run()
    (plugin,) = [d for d in of(captured, "kubernetes:apps/v1:DaemonSet")
                 if d.inputs["metadata"]["name"] == "nvidia-device-plugin"]
    assert "use1" in plugin.urn  # EKS only: GKE's managed driver install brings its own plugin
    assert plugin.inputs["metadata"]["namespace"] == "nvidia-device-plugin"
    pod = plugin.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"nvcr.io/nvidia/k8s-device-plugin:v{DEVICE_PLUGIN_VERSION}"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == GPU_MODEL_LABEL
    # the exception is the hostPath only: no privilege, no capabilities
    assert [v["hostPath"]["path"] for v in pod["volumes"]] == ["/var/lib/kubelet/device-plugins"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                            "readOnlyRootFilesystem": True}
    # no chart for the plugin (its repository publishes no provenance); the only chart is the LB controller
    assert [r.inputs["chart"] for r in captured.of_type("kubernetes:helm.sh/v3:Release")] == [
        "aws-load-balancer-controller"]


def test_namespaces_are_restricted_except_the_device_plugins():
    captured, _ = run()
    by_name: dict[str, list] = {}
    for ns in of(captured, "kubernetes:core/v1:Namespace"):
        by_name.setdefault(ns.inputs["metadata"]["name"], []).append(ns.inputs["metadata"])
    assert set(by_name) == {"rollout-system", "rollout-data", "rollout-serving", "nvidia-device-plugin"}
    assert len(by_name["nvidia-device-plugin"]) == 1  # EKS only
    for name, metas in by_name.items():
        if name != "nvidia-device-plugin":
            assert len(metas) == 2  # one per cluster
        for meta in metas:
            expected = "privileged" if name == "nvidia-device-plugin" else "restricted"
            assert meta["labels"]["pod-security.kubernetes.io/enforce"] == expected
            assert meta["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.36"
    (plugin_ns,) = by_name["nvidia-device-plugin"]
    assert "hostPath" in plugin_ns["annotations"]["global-ai-rollout/pod-security-exception"]


def test_every_workload_namespace_is_default_deny_with_only_the_needed_allows():
    captured, _ = run()
    policies = {(next(r for r in ("use1", "euw4") if f"::{r}-" in p.urn), p.inputs["metadata"]["namespace"],
                 p.inputs["metadata"]["name"]): p.inputs["spec"]
                for p in of(captured, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    for region in ("use1", "euw4"):
        for ns in ("rollout-system", "rollout-data", "rollout-serving"):
            assert policies[(region, ns, "default-deny")] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
            assert policies[(region, ns, "allow-dns")]["egress"][0]["ports"][0] == {"protocol": "UDP", "port": 53}
    serving = policies[("use1", "rollout-serving", "allow-model-traffic")]
    # EKS: only the public subnets, where the ALB's nodes are (the VPC CNI gives every pod a VPC address,
    # so the VPC range would admit every pod of the cluster)
    public = [z.public for z in plan().region("use1").addresses.zones]
    assert serving["ingress"] == [{"from": [{"ipBlock": {"cidr": c}} for c in public],
                                   "ports": [{"protocol": "TCP", "port": 8000}]}]
    assert "10.0.0.0/16" not in {b["ipBlock"]["cidr"] for b in serving["ingress"][0]["from"]}
    assert [e["ports"] for e in serving["egress"]] == [[{"protocol": "TCP", "port": 27017}],
                                                       [{"protocol": "TCP", "port": 443}]]
    assert "169.254.0.0/16" in serving["egress"][1]["to"][0]["ipBlock"]["except"]  # never the metadata service
    gke_sources = policies[("euw4", "rollout-serving", "allow-model-traffic")]["ingress"][0]["from"]
    assert {"ipBlock": {"cidr": "35.191.0.0/16"}} in gke_sources  # Google's load balancer ranges
    # no namespace-wide 27017 allow in rollout-data: the database declares its own narrow policies
    assert not any(ns == "rollout-data" and name not in ("default-deny", "allow-dns") for _, ns, name in policies)


@pytest.mark.parametrize("mode, cidrs", [("private", (RUNNER,)), ("dns-endpoint", (ALLOW,))])
def test_every_kubernetes_object_validates_against_the_cluster_versions_schema(mode, cidrs):
    captured, clusters = run(mode, cidrs)
    version = next(iter(clusters.values())).kubernetes_version
    objects = [r for r in captured.resources
               if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh/")]
    assert len(objects) >= 6
    for obj in objects:
        assert kubernetes_validate.validate(obj.inputs, version, strict=True) == version, obj.name


def test_rollout_system_allows_exactly_the_flows_keda_and_prometheus_need():
    """KEDA -> API server, API server -> KEDA 6443/9443, metrics apiserver -> operator 9666, operator ->
    Prometheus 9090, Prometheus -> API server and -> the servers' 8000; the API server's address is the
    control plane's (GKE: its /28; EKS: its interfaces in the VPC)."""
    captured, clusters = run()
    policies = {(next(r for r in ("use1", "euw4") if f"::{r}-" in p.urn), p.inputs["metadata"]["name"]): p.inputs
                for p in of(captured, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.inputs["metadata"]["namespace"] == "rollout-system"}
    for region, control_plane in (("use1", "10.0.0.0/16"), ("euw4", clusters["euw4"].master_ipv4_cidr)):
        api = [{"ipBlock": {"cidr": control_plane}}]
        egress = policies[(region, "allow-api-server-egress")]["spec"]
        assert egress["egress"] == [{"to": api, "ports": [{"protocol": "TCP", "port": 443}]}]
        assert egress["podSelector"]["matchExpressions"][0]["values"] == [
            "keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks"]
        metrics = policies[(region, "allow-keda-metrics-apiserver")]["spec"]
        assert metrics["ingress"] == [{"from": api, "ports": [{"protocol": "TCP", "port": 6443}]}]
        assert metrics["egress"][0]["ports"] == [{"protocol": "TCP", "port": 9666}]
        webhooks = policies[(region, "allow-keda-webhooks")]["spec"]
        assert webhooks["ingress"] == [{"from": api, "ports": [{"protocol": "TCP", "port": 9443}]}]
        operator = policies[(region, "allow-keda-operator")]["spec"]
        assert operator["egress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]
        prometheus = policies[(region, "allow-prometheus")]["spec"]
        assert prometheus["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "keda-operator"}}}]
        (scrape,) = [e for e in prometheus["egress"] if e["ports"] == [{"protocol": "TCP", "port": 8000}]]
        assert scrape["to"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "rollout-serving"}
        # Nothing broad: no policy of rollout-system admits or reaches a whole private range on every port.
        for (r, _), policy in policies.items():
            for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
                assert r != region or rule.get("ports"), policy["metadata"]["name"]


def test_gke_opens_the_control_plane_to_the_nodes_on_the_keda_ports_only():
    captured, clusters = run()
    (rule,) = [f for f in of(captured, "gcp:compute/firewall:Firewall") if "control-plane" in f.name]
    assert rule.inputs["sourceRanges"] == [clusters["euw4"].master_ipv4_cidr]
    assert rule.inputs["direction"] == "INGRESS" and rule.inputs["targetTags"]
    assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["6443", "9443"]}]


def test_the_dcgm_exporter_runs_restricted_on_eks_gpu_nodes_and_prometheus_scrapes_it():
    """GPU health, XID errors, utilisation and memory without privilege: non-root, no capability, no hostPath
    (NVIDIA's basic metrics need neither); on the GPU nodes only; EKS only (GKE exposes GPUs only to pods that
    request them)."""
    from components.cluster.kubernetes_base import DCGM_EXPORTER_IMAGE
    from policies.rules.k8s_security import restricted_findings

    captured, _ = run()
    (exporter,) = [d for d in of(captured, "kubernetes:apps/v1:DaemonSet")
                   if d.inputs["metadata"]["name"] == "dcgm-exporter"]
    assert "use1" in exporter.urn and exporter.inputs["metadata"]["namespace"] == "rollout-system"
    template = exporter.inputs["spec"]["template"]
    pod = template["spec"]
    assert list(restricted_findings(pod)) == []
    assert not any("hostPath" in v for v in pod["volumes"])
    assert pod["containers"][0]["image"] == DCGM_EXPORTER_IMAGE
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "9400"
    policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in
                of(captured, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.inputs["metadata"]["namespace"] == "rollout-system"}
    assert policies["allow-dcgm-exporter"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9400}]

