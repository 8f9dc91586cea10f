"""Every pod the program causes to exist, per cluster: its own workloads and the pods of each Helm
release (rendered from `infra.planning.chart_pods`), with the cluster's namespaces and network facts.

A cluster is identified by the Kubernetes provider its objects name (`options.provider`); its region
(the `rollout:region:Region` above the provider) gives the cloud and address ranges.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.planning.chart_pods import ChartDescription, describe, merge_values
from infra.rehearsal.model import Resource, RunView

WORKLOAD_TYPES = {
    "kubernetes:apps/v1:Deployment": "Deployment", "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet", "kubernetes:apps/v1:ReplicaSet": "ReplicaSet",
    "kubernetes:batch/v1:Job": "Job", "kubernetes:batch/v1:CronJob": "CronJob", "kubernetes:core/v1:Pod": "Pod",
}
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
NETPOL_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
STS_POD_NAME = "statefulset.kubernetes.io/pod-name"


@dataclass(frozen=True)
class Pod:
    cluster: str  # Kubernetes provider URN ("" for the default provider)
    namespace: str
    name: str  # the controller's object name (chart pods: release-component)
    urn: str  # the resource that makes it exist (workload or Helm release)
    kind: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    origin: str = "workload"  # or "chart NAME@VERSION"
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def containers(self) -> list[Mapping[str, Any]]:
        return [*(self.spec.get("initContainers") or ()), *(self.spec.get("containers") or ()),
                *(self.spec.get("ephemeralContainers") or ())]

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" + ("" if self.origin == "workload" else f" ({self.origin})")


@dataclass(frozen=True)
class Cluster:
    key: str
    region: str | None
    cloud: str | None  # "aws" | "gcp" | None (unknown)
    network: tuple[str, ...] = ()  # the VPC / subnetwork primary ranges (nodes, ALB/NLB addresses)
    pod_ranges: tuple[str, ...] = ()  # where pod IPs come from (EKS VPC CNI: the VPC; GKE: the pods range)
    control_plane: tuple[str, ...] = ()  # where the API server's connections come from / go to
    proxy_ranges: tuple[str, ...] = ()  # GCP proxy-only subnets of the region
    lb_ranges: tuple[str, ...] = ()  # AWS: the public subnets an internet-facing ALB lives in


@dataclass(frozen=True)
class Release:
    resource: Resource
    cluster: str
    chart: str
    version: str
    namespace: str
    values: Mapping[str, Any]
    description: ChartDescription | None


@dataclass
class Inventory:
    pods: list[Pod] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    namespaces: dict[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)  # (cluster, ns) -> labels
    namespace_urns: dict[tuple[str, str], str] = field(default_factory=dict)
    policies: dict[str, list[Resource]] = field(default_factory=dict)  # cluster -> NetworkPolicies
    services: dict[str, list[Resource]] = field(default_factory=dict)  # cluster -> Services
    by_type: dict[str, list[Resource]] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)  # values derived once per run by the rules

    def of_type(self, typ: str) -> list[Resource]:
        return self.by_type.get(typ, [])

    def namespace_labels(self, cluster: str, namespace: str) -> Mapping[str, str]:
        return self.namespaces.get((cluster, namespace), {NAME_LABEL: namespace})

    def cluster(self, key: str) -> Cluster:
        return self.clusters.get(key) or Cluster(key=key, region=None, cloud=None)


def cluster_of(resource: Resource) -> str:
    return str(resource.options.get("provider") or "").split("::")[-2] if resource.options.get("provider") else ""


def pod_template(resource: Resource) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(template metadata, pod spec) of a workload in wire form."""
    spec = resource.inputs.get("spec") or {}
    kind = WORKLOAD_TYPES[resource.type]
    if kind == "Pod":
        return resource.inputs.get("metadata") or {}, spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    return template.get("metadata") or {}, template.get("spec") or {}


def _ranges(values: Any) -> tuple[str, ...]:
    out = []
    for v in values or ():
        try:
            ipaddress.ip_network(v, strict=False)
            out.append(v)
        except (TypeError, ValueError):
            continue
    return tuple(out)


_REGIONS: dict[int, tuple[RunView, dict[str, str | None]]] = {}


def region_of(run: RunView, resource: Resource) -> str | None:
    """`RunView.region_of`, memoised per run (every parent chain is walked once)."""
    hit = _REGIONS.get(id(run))
    if hit is None or hit[0] is not run:
        _REGIONS.clear()
        hit = (run, {})
        _REGIONS[id(run)] = hit
    memo = hit[1]

    def walk(urn: str) -> str | None:
        if urn in memo:
            return memo[urn]
        node = run.by_urn.get(urn)
        if node is None:
            memo[urn] = None
        elif node.type == "rollout:region:Region":
            memo[urn] = node.name
        else:
            memo[urn] = walk(node.parent) if node.parent else None
        return memo[urn]

    return walk(resource.parent) if resource.parent else None


def _clusters(run: RunView) -> dict[str, Cluster]:
    """Cloud and address ranges of each Kubernetes provider's cluster, from the resources of its region."""
    by_region: dict[str | None, list[Resource]] = {}
    for r in run:
        by_region.setdefault(region_of(run, r), []).append(r)
    clusters: dict[str, Cluster] = {}
    for provider in run.of_type("pulumi:providers:kubernetes"):
        region = region_of(run, provider)
        here = by_region.get(region, []) if region else []
        eks = [r for r in here if r.type == "aws:eks/cluster:Cluster"]
        gke = [r for r in here if r.type == "gcp:container/cluster:Cluster"]
        vpcs = _ranges(r.inputs.get("cidrBlock") for r in here if r.type == "aws:ec2/vpc:Vpc")
        subnets = [r for r in here if r.type == "gcp:compute/subnetwork:Subnetwork"]
        if gke:
            primary = _ranges(s.inputs.get("ipCidrRange") for s in subnets if not s.inputs.get("purpose"))
            pods = _ranges(rng.get("ipCidrRange") for s in subnets
                           for rng in (s.inputs.get("secondaryIpRanges") or ()) if rng.get("rangeName") == "pods")
            master = (gke[0].inputs.get("privateClusterConfig") or {}).get("masterIpv4CidrBlock")
            proxies = _ranges(s.inputs.get("ipCidrRange") for s in subnets
                              if s.inputs.get("purpose") in ("REGIONAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER"))
            clusters[provider.name] = Cluster(provider.name, region, "gcp", primary, pods, _ranges([master]), proxies)
        elif eks:
            # EKS: pods take addresses of their nodes' subnets (VPC CNI); the control plane reaches the
            # cluster through ENIs in the cluster's subnets
            # (https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html). Both are the private
            # subnets here (tagged kubernetes.io/role/internal-elb); an internet-facing ALB sits in the public
            # ones (kubernetes.io/role/elb). Without tagged subnets: the whole VPC.
            aws_subnets = [r for r in here if r.type == "aws:ec2/subnet:Subnet"]
            private = _ranges(s.inputs.get("cidrBlock") for s in aws_subnets
                              if "kubernetes.io/role/internal-elb" in (s.inputs.get("tags") or {})) or vpcs
            public = _ranges(s.inputs.get("cidrBlock") for s in aws_subnets
                             if "kubernetes.io/role/elb" in (s.inputs.get("tags") or {})) or vpcs
            clusters[provider.name] = Cluster(provider.name, region, "aws", vpcs, private, private, lb_ranges=public)
        else:
            clusters[provider.name] = Cluster(provider.name, region, None)
    return clusters


def build(run: RunView) -> Inventory:
    inv = Inventory(clusters=_clusters(run))
    for r in run:
        inv.by_type.setdefault(r.type, []).append(r)
        cluster = cluster_of(r)
        if r.type == NAMESPACE_TYPE:
            name = (r.inputs.get("metadata") or {}).get("name") or r.name
            inv.namespaces[(cluster, name)] = {**((r.inputs.get("metadata") or {}).get("labels") or {}),
                                               NAME_LABEL: name}
            inv.namespace_urns[(cluster, name)] = r.urn
        elif r.type == NETPOL_TYPE:
            inv.policies.setdefault(cluster, []).append(r)
        elif r.type == "kubernetes:core/v1:Service":
            inv.services.setdefault(cluster, []).append(r)
        elif r.type in WORKLOAD_TYPES:
            meta = r.inputs.get("metadata") or {}
            template_meta, spec = pod_template(r) or ({}, {})
            name, labels = meta.get("name") or r.name, dict(template_meta.get("labels") or {})
            ordinals: list[int | None] = [None]
            if r.type == "kubernetes:apps/v1:StatefulSet":
                # The StatefulSet controller labels each pod with its name (member Services select it).
                ordinals = list(range(min(int((r.inputs.get("spec") or {}).get("replicas", 1) or 1), 16)))
            for ordinal in ordinals:
                pod_labels = labels if ordinal is None else {**labels, STS_POD_NAME: f"{name}-{ordinal}"}
                inv.pods.append(Pod(cluster=cluster, namespace=meta.get("namespace") or "default",
                                    name=name if ordinal is None else f"{name}-{ordinal}", urn=r.urn,
                                    kind=WORKLOAD_TYPES[r.type], labels=pod_labels, spec=spec,
                                    annotations=template_meta.get("annotations") or {}))
        elif r.type == RELEASE_TYPE:
            chart, version = str(r.inputs.get("chart") or ""), str(r.inputs.get("version") or "")
            namespace = r.inputs.get("namespace") or "default"
            release_name = r.inputs.get("name") or r.name
            description = describe(chart, version)
            values = merge_values(description.defaults, r.inputs.get("values")) if description else \
                dict(r.inputs.get("values") or {})
            inv.releases.append(Release(r, cluster, chart, version, namespace, values, description))
            if description is None:
                continue
            for p in description.render(release_name, values):
                inv.pods.append(Pod(cluster=cluster, namespace=namespace, name=f"{release_name}-{p.component}",
                                    urn=r.urn, kind=p.kind, labels=p.labels, spec=p.spec,
                                    origin=f"chart {chart}@{version}"))
    return inv


_CACHE: dict[int, tuple[RunView, Inventory]] = {}


def inventory(run: RunView) -> Inventory:
    """Built once per captured run (every in-cluster rule reads it)."""
    hit = _CACHE.get(id(run))
    if hit is None or hit[0] is not run:
        _CACHE.clear()
        hit = (run, build(run))
        _CACHE[id(run)] = hit
    return hit[1]
