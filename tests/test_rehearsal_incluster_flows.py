"""Flows: NetworkPolicy semantics (isolation per type, additive rules, egress AND ingress, selectors,
ipBlock/except, named ports, endPort, protocol) and the cloud layer, with the defects of the issue
reproduced on minimal runs: KEDA unreachable by the API server, Prometheus unable to scrape vLLM, KEDA
unable to query Prometheus, no GKE firewall for 6443/9443."""

from __future__ import annotations

import pytest

from infra.rehearsal.incluster import flow_table as ft
from infra.rehearsal.incluster.flows import check_flows
from infra.rehearsal.incluster.inventory import build
from infra.rehearsal.incluster.netpol import FULL, NONE, PARTIAL, Endpoint, Policy, evaluate
from infra.rehearsal.model import RunView
from tests.incluster_docs import (
    DENY_ALL,
    GKE_MASTER,
    RESTRICTED_CONTAINER_SC,
    VPC_CIDR,
    cluster,
    deployment,
    firewall,
    messages,
    namespace,
    netpol,
    release,
    res,
    run,
)


def pod(ns: str, labels: dict | None = None, ports=(), cluster_key: str = "k", cloud: str = "gcp",
        ns_labels: dict | None = None, addresses=("10.69.0.0/16",)) -> Endpoint:
    return Endpoint(f"{ns}/{labels}", cluster=cluster_key, namespace=ns, labels=labels or {},
                    namespace_labels={"kubernetes.io/metadata.name": ns, **(ns_labels or {})},
                    ports=tuple(ports), cloud=cloud, addresses=addresses)


def pol(ns: str, spec: dict, name: str = "p") -> Policy:
    return Policy("k", ns, name, spec)


A, B = pod("a", {"app": "a"}), pod("b", {"app": "b"}, ports=[{"name": "http", "containerPort": 8080}])
OUTSIDE = Endpoint("outside", addresses=("203.0.113.9/32",))


class TestNetworkPolicySemantics:
    def test_no_policy_means_not_isolated(self):
        assert evaluate([], A, B, 8080).coverage == FULL

    def test_policy_types_default_to_ingress_only_without_egress_rules(self):
        only_ingress_rules = pol("a", {"podSelector": {}, "ingress": []})
        assert evaluate([only_ingress_rules], A, B, 8080).coverage == FULL  # a's egress is not isolated
        assert evaluate([pol("b", {"podSelector": {}, "ingress": []})], A, B, 8080).coverage == NONE
        with_egress = pol("a", {"podSelector": {}, "egress": [{"to": [{"podSelector": {}}]}]})
        assert evaluate([with_egress], A, B, 8080).egress.coverage == NONE  # egress isolated, b is elsewhere

    def test_a_connection_needs_the_sources_egress_and_the_destinations_ingress(self):
        deny_b = pol("b", {"podSelector": {}, "policyTypes": ["Ingress"]})
        deny_a = pol("a", {"podSelector": {}, "policyTypes": ["Egress"]})
        allow_out = pol("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}, "out")
        allow_in = pol("b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}, "in")
        assert evaluate([deny_a, deny_b, allow_out], A, B, 8080).coverage == NONE
        assert evaluate([deny_a, deny_b, allow_in], A, B, 8080).coverage == NONE
        assert evaluate([deny_a, deny_b, allow_in, allow_out], A, B, 8080).coverage == FULL

    def test_rules_are_additive(self):
        narrow = pol("b", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"x": "y"}}}]}]})
        broad = pol("b", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}, "broad")
        assert evaluate([narrow], A, B, 8080).coverage == NONE
        assert evaluate([narrow, broad], A, B, 8080).coverage == FULL

    def test_namespace_and_pod_selector_in_one_peer_are_anded_separate_peers_ored(self):
        ns_a = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}}
        wrong_pod = {"podSelector": {"matchLabels": {"app": "z"}}}
        anded = pol("b", {"podSelector": {}, "ingress": [{"from": [{**ns_a, **wrong_pod}]}]})
        ored = pol("b", {"podSelector": {}, "ingress": [{"from": [ns_a, wrong_pod]}]})
        assert evaluate([anded], A, B, 8080).coverage == NONE
        assert evaluate([ored], A, B, 8080).coverage == FULL

    def test_a_pod_selector_alone_selects_only_the_policys_namespace(self):
        same_labels_elsewhere = pol("b", {"podSelector": {}, "ingress": [{"from": [
            {"podSelector": {"matchLabels": {"app": "a"}}}]}]})
        assert evaluate([same_labels_elsewhere], A, B, 8080).coverage == NONE

    def test_ip_block_with_except(self):
        block = pol("b", {"podSelector": {}, "ingress": [{"from": [
            {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.0/29"]}}]}]})
        assert evaluate([block], OUTSIDE, B, 8080).coverage == FULL
        excluded = Endpoint("excluded", addresses=("203.0.113.4/32",))
        assert evaluate([block], excluded, B, 8080).coverage == NONE
        wide = Endpoint("wide", addresses=("203.0.113.0/24",))
        assert evaluate([block], wide, B, 8080).coverage == PARTIAL

    def test_ip_block_matches_the_clusters_pods_on_aws_but_not_under_dataplane_v2(self):
        vpc = pol("b", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})
        aws_a = pod("a", {"app": "a"}, cloud="aws", addresses=(VPC_CIDR,))
        aws_b = pod("b", {"app": "b"}, cloud="aws", addresses=(VPC_CIDR,))
        assert evaluate([vpc], aws_a, aws_b, 8080).coverage == FULL
        assert evaluate([vpc], A, B, 8080).coverage == NONE

    @pytest.mark.parametrize(("entry", "port", "protocol", "allowed"), [
        ({"port": 8080}, 8080, "TCP", True),
        ({"port": 8080}, 8080, "UDP", False),  # protocol defaults to TCP
        ({"protocol": "UDP", "port": 53}, 53, "UDP", True),
        ({"port": "http"}, 8080, "TCP", True),  # named port of the destination
        ({"port": "metrics"}, 8080, "TCP", False),
        ({"port": 8000, "endPort": 9000}, 8080, "TCP", True),
        ({"port": 8000, "endPort": 8079}, 8080, "TCP", False),
        ({}, 8080, "TCP", True),
    ])
    def test_ports(self, entry, port, protocol, allowed):
        p = pol("b", {"podSelector": {}, "ingress": [{"ports": [entry]}]})
        assert (evaluate([p], A, B, port, protocol).coverage == FULL) is allowed


# ---- the rules on minimal runs ------------------------------------------------------------------------------------

KEDA_VALUES = {"podSecurityContext": {"operator": {"runAsNonRoot": True}}}
PROM_VALUES = {"alertmanager": {"enabled": False}, "prometheus-pushgateway": {"enabled": False},
               "prometheus-node-exporter": {"enabled": False}, "kube-state-metrics": {"enabled": False},
               "server": {"persistentVolume": {"enabled": False}}}
VLLM_POD = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "server", "image": "vllm/vllm-openai:v0.24.0",
                            "securityContext": RESTRICTED_CONTAINER_SC,
                            "ports": [{"name": "http", "containerPort": 8000}]}]}
DNS = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
       "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def system_stack(cloud: str, *extra):
    return (*cluster(cloud), namespace("rollout-system"), namespace("rollout-serving"),
            netpol("deny", "rollout-system", DENY_ALL),
            netpol("dns", "rollout-system", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [DNS]}),
            release("keda", "2.21.1", "rollout-system", KEDA_VALUES),
            release("prometheus", "27.52.0", "rollout-system", PROM_VALUES),
            deployment("vllm", "rollout-serving", VLLM_POD), *extra)


def flows_of(report, rule="incluster/flows-required", region: str | None = None) -> set[str]:
    return {m.split("flow ")[1].split(" ")[0] for m in messages(report, rule)
            if region is None or m.startswith(f"[{region}] ")}


def control_plane(cloud):
    return GKE_MASTER if cloud == "gcp" else VPC_CIDR


def system_allows(cloud: str):
    """What rollout-system needs: API server both ways, KEDA <-> itself and Prometheus, scraping vLLM."""
    api = {"ipBlock": {"cidr": control_plane(cloud)}}
    keda = {"matchLabels": {"app.kubernetes.io/part-of": "keda-operator"}}
    keda_operator = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}}}
    return (
        netpol("api-out", "rollout-system", {"podSelector": {}, "policyTypes": ["Egress"],
                                             "egress": [{"to": [api], "ports": [{"port": 443}]}]}),
        netpol("api-in", "rollout-system", {"podSelector": keda,
                                            "policyTypes": ["Ingress"],
                                            "ingress": [{"from": [api], "ports": [{"port": 6443}, {"port": 9443}]}]}),
        netpol("keda", "rollout-system", {"podSelector": keda,
                                          "policyTypes": ["Ingress", "Egress"],
                                          "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 9666}]}],
                                          "egress": [{"to": [{"podSelector": {}}],
                                                      "ports": [{"port": 9666}, {"port": 9090}]}]}),
        netpol("prom", "rollout-system", {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                                          "policyTypes": ["Ingress", "Egress"],
                                          "ingress": [{"from": [keda_operator], "ports": [{"port": 9090}]}],
                                          "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                                              "kubernetes.io/metadata.name": "rollout-serving"}}}],
                                              "ports": [{"port": 8000}]}]}),
    )


SYSTEM_FLOWS = {"keda-operator-api", "keda-metrics-api", "keda-webhooks-api", "api-keda-metrics",
                "api-keda-webhooks", "keda-metrics-operator", "prometheus-api", "prometheus-scrape-vllm",
                "keda-query-prometheus"}


def test_defects_a_dns_only_system_namespace_blocks_keda_and_prometheus_both_ways():
    """KEDA unreachable by the API server (6443, 9443), KEDA and Prometheus cut from the API server,
    Prometheus unable to scrape vLLM, KEDA unable to query Prometheus."""
    report = run(*system_stack("aws"))
    assert flows_of(report) >= SYSTEM_FLOWS
    scrape = [m for m in messages(report, "incluster/flows-required") if "prometheus-scrape-vllm" in m]
    assert "egress of Deployment rollout-system/prometheus-server" in scrape[0]


def test_the_allows_the_system_needs_open_every_flow_on_eks():
    report = run(*system_stack("aws", *system_allows("aws")))
    assert not SYSTEM_FLOWS & flows_of(report), messages(report, "incluster/flows-required")


def test_defect_gke_needs_a_firewall_from_the_control_plane_for_6443_and_9443():
    report = run(*system_stack("gcp", *system_allows("gcp")))
    blocked = [m for m in messages(report, "incluster/flows-required") if "api-keda" in m]
    assert len(blocked) == 2 and all("cloud layer: no GCP firewall rule" in m for m in blocked)
    report = run(*system_stack("gcp", *system_allows("gcp"), firewall("cp-webhooks", [GKE_MASTER], ["6443", "9443"])))
    assert not SYSTEM_FLOWS & flows_of(report), messages(report, "incluster/flows-required")


def test_gke_creates_only_443_and_10250_from_the_control_plane():
    assert {"api-keda-metrics", "api-keda-webhooks"} <= flows_of(run(*system_stack("gcp", *system_allows("gcp"))))
    # the API server's own egress flows (to 443) need no firewall
    assert "keda-operator-api" not in flows_of(run(*system_stack("gcp", *system_allows("gcp"))))


MONGO_POD = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{"name": "mongod", "image": "mongo:8.0.17", "ports": [{"containerPort": 27017}],
                             "securityContext": RESTRICTED_CONTAINER_SC}]}


def test_must_be_closed_flows_a_broad_ip_block_opens_mongodb_to_any_pod_on_eks():
    members = {"app.kubernetes.io/name": "mongodb"}
    broad = netpol("broad", "rollout-data", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 27017}]}]})
    narrow = netpol("narrow", "rollout-data", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"podSelector": {"matchLabels": members}}], "ports": [{"port": 27017}]}]})
    base = (*cluster("aws"), namespace("rollout-data"), deployment("mongodb", "rollout-data", MONGO_POD, members,
                                                                    kind="apps/v1:StatefulSet"))
    opened = run(*base, narrow, broad)
    assert "stranger-mongodb" in flows_of(opened, "incluster/flows-closed")
    assert "stranger-mongodb" not in flows_of(run(*base, narrow), "incluster/flows-closed")
    # the internet never reaches an EKS pod: the cluster security group admits only itself
    assert "internet-mongodb" not in flows_of(opened, "incluster/flows-closed")


def test_internet_to_a_gke_pod_is_open_only_when_a_firewall_and_the_policies_both_admit_it():
    members = {"app.kubernetes.io/name": "mongodb"}
    base = (*cluster("gcp"), namespace("rollout-data"), deployment("mongodb", "rollout-data", MONGO_POD, members))
    world = firewall("world", ["0.0.0.0/0"], ["27017"])
    assert "internet-mongodb" not in flows_of(run(*base), "incluster/flows-closed")  # implied deny ingress
    assert "internet-mongodb" in flows_of(run(*base, world), "incluster/flows-closed")  # pods not isolated
    closed = run(*base, netpol("deny", "rollout-data", DENY_ALL), world)
    assert "internet-mongodb" not in flows_of(closed, "incluster/flows-closed")


def test_load_balancer_to_servers_on_eks_needs_the_target_group_binding():
    lb_in = netpol("lb", "rollout-serving", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"ipBlock": {"cidr": VPC_CIDR}}], "ports": [{"port": 8000}]}]})
    service = res("kubernetes:core/v1:Service", "svc", metadata={"name": "vllm", "namespace": "rollout-serving"},
                  spec={"selector": {"app.kubernetes.io/name": "vllm"}, "ports": [{"port": 8000}]})
    binding = res("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "tgb",
                  metadata={"name": "vllm", "namespace": "rollout-serving"},
                  spec={"serviceRef": {"name": "vllm", "port": 8000},
                        "networking": {"ingress": [{"from": [{"securityGroup": {"groupID": "sg-1"}}],
                                                    "ports": [{"protocol": "TCP", "port": 8000}]}]}})
    base = (*cluster("aws"), namespace("rollout-serving"), deployment("vllm", "rollout-serving", VLLM_POD), lb_in)
    assert "lb-vllm" in flows_of(run(*base, service))
    assert "lb-vllm" not in flows_of(run(*base, service, binding))


def test_the_flow_table_names_why_and_both_kinds():
    assert all(f.why for f in ft.FLOWS)
    assert {f.required for f in ft.FLOWS} == {True, False}
    assert len({f.id for f in ft.FLOWS}) == len(ft.FLOWS)


def test_a_row_applies_only_where_both_ends_exist():
    inv_run = RunView.from_document({"stack": "t", "resources": list(cluster("aws")), "outputs": {}})
    assert check_flows(inv_run, build(inv_run)) == []


def test_the_docs_list_every_flow_of_the_table():
    from tests.factories import ROOT

    text = (ROOT / "docs" / "rehearsal-incluster.md").read_text()
    assert [f.id for f in ft.FLOWS if f"`{f.id}`" not in text] == []


def test_workload_identity_pods_on_gke_need_the_metadata_server():
    serving = (*cluster("gcp"), namespace("rollout-serving"), deployment("vllm", "rollout-serving", VLLM_POD),
               netpol("deny", "rollout-serving", DENY_ALL))
    assert {"vllm-metadata", "vllm-metadata-988"} <= flows_of(run(*serving))
    metadata = netpol("md", "rollout-serving", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 80}]},
        {"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"port": 988}]}]})
    assert not {"vllm-metadata", "vllm-metadata-988"} & flows_of(run(*serving, metadata))
    # EKS pods use IRSA (STS over 443), not the metadata server: the rows do not apply there
    assert "vllm-metadata" not in flows_of(run(*cluster("aws"), namespace("rollout-serving"),
                                               deployment("vllm", "rollout-serving", VLLM_POD),
                                               netpol("deny", "rollout-serving", DENY_ALL)))


def test_eks_members_admit_the_peers_through_their_nlb_addresses_only():
    """Peers arrive at an EKS member from its NLB's fixed address (client IP preservation is off for IP
    targets): admitting that /32 opens replication and keeps a stranger pod of the VPC out, a VPC-wide
    ipBlock opens both."""
    from tests.incluster_docs import peer_cluster

    members = {"app.kubernetes.io/name": "mongodb"}
    other, where = peer_cluster()
    member_lb = res("kubernetes:core/v1:Service", "lb", metadata={
        "name": "m-lb", "namespace": "rollout-data",
        "annotations": {"service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses": "10.0.31.244"}},
        spec={"type": "LoadBalancer", "selector": members, "ports": [{"port": 27017, "targetPort": 27017}]})
    peer_lb = res("kubernetes:core/v1:Service", "lb2", **where, metadata={"name": "m2-lb", "namespace": "rollout-data"},
                  spec={"type": "LoadBalancer", "selector": members, "ports": [{"port": 27017}]})
    base = (*cluster("aws"), *other, namespace("rollout-data"), member_lb, peer_lb,
            deployment("mongodb", "rollout-data", MONGO_POD, members, kind="apps/v1:StatefulSet"),
            res("kubernetes:apps/v1:StatefulSet", "peer-mongodb", **where,
                metadata={"name": "mongodb-r2", "namespace": "rollout-data"},
                spec={"template": {"metadata": {"labels": members}, "spec": MONGO_POD}}))

    def ingress(*peers):
        return netpol("members", "rollout-data", {"podSelector": {"matchLabels": members}, "policyTypes": ["Ingress"],
                                                  "ingress": [{"from": list(peers), "ports": [{"port": 27017}]}]})

    nlb_only = run(*base, ingress({"ipBlock": {"cidr": "10.0.31.244/32"}}, {"podSelector": {"matchLabels": members}}))
    assert "members-in" not in flows_of(nlb_only, region="r1")
    assert "stranger-mongodb" not in flows_of(nlb_only, "incluster/flows-closed", "r1")
    vpc_wide = run(*base, ingress({"ipBlock": {"cidr": "10.0.0.0/8"}}))
    assert "members-in" not in flows_of(vpc_wide, region="r1")
    assert "stranger-mongodb" in flows_of(vpc_wide, "incluster/flows-closed", "r1")
    no_peers = run(*base, ingress({"podSelector": {"matchLabels": members}}))
    assert "members-in" in flows_of(no_peers, region="r1")


def test_members_dial_peers_at_their_load_balancers_fixed_addresses():
    """members-out goes where a member name resolves: the peer's internal load balancer address (EKS:
    the NLB's private-ipv4-addresses; GKE: loadBalancerIP). An egress /32 to that address opens it, an
    egress /32 to any other address of the peer VPC does not; with no known address the whole peer
    network stands for the destination (so only a rule covering it opens the flow)."""
    from infra.rehearsal.incluster.flows import member_lb_addresses
    from tests.incluster_docs import peer_cluster

    members = {"app.kubernetes.io/name": "mongodb"}
    other, where = peer_cluster("10.4.0.0/16")

    def peer_lb(**extra):
        annotations = extra.pop("annotations", {})
        return res("kubernetes:core/v1:Service", "lb2", **where,
                   metadata={"name": "m2-lb", "namespace": "rollout-data", "annotations": annotations},
                   spec={"type": "LoadBalancer", "selector": members, "ports": [{"port": 27017, "targetPort": 27017}],
                         **extra})

    nlb = peer_lb(annotations={"service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses": "10.4.31.244"})
    base = (*cluster("aws"), *other, namespace("rollout-data"),
            deployment("mongodb", "rollout-data", MONGO_POD, members, kind="apps/v1:StatefulSet"),
            res("kubernetes:apps/v1:StatefulSet", "peer-mongodb", **where,
                metadata={"name": "mongodb-r2", "namespace": "rollout-data"},
                spec={"template": {"metadata": {"labels": members}, "spec": MONGO_POD}}))

    def egress(cidr):
        return netpol("members", "rollout-data", {"podSelector": {"matchLabels": members}, "policyTypes": ["Egress"],
                                                  "egress": [{"to": [{"ipBlock": {"cidr": cidr}}],
                                                              "ports": [{"port": 27017}]}]})

    assert "members-out" not in flows_of(run(*base, nlb, egress("10.4.31.244/32")), region="r1")
    assert "members-out" in flows_of(run(*base, nlb, egress("10.4.8.9/32")), region="r1")
    unknown = peer_lb()
    assert "members-out" in flows_of(run(*base, unknown, egress("10.4.31.244/32")), region="r1")
    assert "members-out" not in flows_of(run(*base, unknown, egress("10.4.0.0/16")), region="r1")
    gke_style = build(RunView.from_document({"stack": "t", "outputs": {}, "resources": [
        *base, peer_lb(loadBalancerIP="10.4.31.250")]}))
    (r2,) = [c for c in gke_style.clusters.values() if c.region == "r2"]
    assert member_lb_addresses(gke_style, r2) == ("10.4.31.250/32",)
