"""Minimal captured runs for the in-cluster rehearsal tests: one cluster (EKS or GKE) with its region,
provider and address ranges, and helpers for namespaces, workloads, releases and NetworkPolicies."""

from __future__ import annotations

from typing import Any

from infra.rehearsal import rehearse

P = "urn:pulumi:t::p::"
REGION = f"{P}rollout:region:Region::r1"
PROVIDER = f"{P}rollout:region:Region$pulumi:providers:kubernetes::k8s"
VPC_CIDR = "10.0.0.0/16"
GKE_NODES, GKE_PODS, GKE_PROXY, GKE_MASTER = "10.68.0.0/19", "10.69.0.0/16", "10.68.64.0/23", "10.68.255.240/28"
NODE_TAG = "rollout-gke-node"


def res(typ_: str, name_: str, parent_: str = REGION, provider_: bool | str = True, **inputs: Any) -> dict[str, Any]:
    """A resource of the run; `provider_` True: the first cluster's provider, a string: that provider's URN."""
    options: dict[str, Any] = {"dependsOn": [], "propertyDependencies": {}}
    if provider_:
        options["provider"] = f"{PROVIDER if provider_ is True else provider_}::id-1"
    return {"urn": f"{P}{typ_}::{name_}", "type": typ_, "name": name_, "parent": parent_, "inputs": inputs,
            "options": options}


def cluster(cloud: str = "aws") -> list[dict[str, Any]]:
    region = {"urn": REGION, "type": "rollout:region:Region", "name": "r1", "parent": "", "inputs": {}, "options": {}}
    provider = {"urn": PROVIDER, "type": "pulumi:providers:kubernetes", "name": "k8s", "parent": REGION,
                "inputs": {}, "options": {}}
    if cloud == "aws":
        return [region, provider, res("aws:eks/cluster:Cluster", "eks", provider_=False, name="c"),
                res("aws:ec2/vpc:Vpc", "vpc", provider_=False, cidrBlock=VPC_CIDR)]
    return [region, provider,
            res("gcp:container/cluster:Cluster", "gke", provider_=False,
                privateClusterConfig={"enablePrivateNodes": True, "masterIpv4CidrBlock": GKE_MASTER}),
            res("gcp:compute/subnetwork:Subnetwork", "subnet", provider_=False, ipCidrRange=GKE_NODES,
                secondaryIpRanges=[{"rangeName": "pods", "ipCidrRange": GKE_PODS}]),
            res("gcp:compute/subnetwork:Subnetwork", "proxy", provider_=False, ipCidrRange=GKE_PROXY,
                purpose="REGIONAL_MANAGED_PROXY"),
            res("gcp:container/nodePool:NodePool", "pool", provider_=False, nodeConfig={"tags": [NODE_TAG]})]


def peer_cluster(vpc: str = "10.4.0.0/16") -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A second EKS region (r2); returns its resources and the keyword arguments that place one in it."""
    region = f"{P}rollout:region:Region::r2"
    provider = f"{P}rollout:region:Region$pulumi:providers:kubernetes::k8s2"
    docs = [{"urn": region, "type": "rollout:region:Region", "name": "r2", "parent": "", "inputs": {}, "options": {}},
            {"urn": provider, "type": "pulumi:providers:kubernetes", "name": "k8s2", "parent": region,
             "inputs": {}, "options": {}},
            res("aws:eks/cluster:Cluster", "eks2", region, False, name="c2"),
            res("aws:ec2/vpc:Vpc", "vpc2", region, False, cidrBlock=vpc)]
    return docs, {"parent_": region, "provider_": provider}


def namespace(name: str, level: str | None = "restricted") -> dict[str, Any]:
    labels = {"pod-security.kubernetes.io/enforce": level} if level else {}
    return res("kubernetes:core/v1:Namespace", f"ns-{name}", metadata={"name": name, "labels": labels})


def deployment(name: str, namespace: str, spec: dict[str, Any], labels: dict[str, str] | None = None,
               kind: str = "apps/v1:Deployment") -> dict[str, Any]:
    labels = labels or {"app.kubernetes.io/name": name}
    if kind == "batch/v1:CronJob":
        body = {"jobTemplate": {"spec": {"template": {"metadata": {"labels": labels}, "spec": spec}}}}
    else:
        body = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}}
    return res(f"kubernetes:{kind}", f"{namespace}-{name}", metadata={"name": name, "namespace": namespace},
               spec=body)


def release(chart: str, version: str, namespace: str, values: dict[str, Any], name: str | None = None
            ) -> dict[str, Any]:
    return res("kubernetes:helm.sh/v3:Release", f"rel-{chart}", chart=chart, version=version,
               namespace=namespace, name=name or chart, values=values)


def netpol(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return res("kubernetes:networking.k8s.io/v1:NetworkPolicy", f"np-{namespace}-{name}",
               metadata={"name": name, "namespace": namespace}, spec=spec)


def firewall(name: str, sources: list[str], ports: list[str]) -> dict[str, Any]:
    return res("gcp:compute/firewall:Firewall", name, provider_=False, direction="INGRESS", sourceRanges=sources,
               allows=[{"protocol": "tcp", "ports": ports}], targetTags=[NODE_TAG])


def run(*resources: dict[str, Any], plan: Any = None):
    return rehearse({"stack": "t", "resources": list(resources), "outputs": {}}, plan, stages=["incluster"])


def messages(report, rule: str) -> list[str]:
    return [v.message for v in report.violations if v.rule == rule]


RESTRICTED_CONTAINER_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                           "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
