"""Traffic components under mocks: the records Route 53 would receive realise the plan (read back
from the captured registrations and resolved by the simulator), health checks probe real endpoints of
the stack, certificates are DNS-validated in the zone for the service name and the region's name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from components.endpoint import RegionalEndpoint
from components.traffic import (
    GlobalRecords,
    GlobalRecordsArgs,
    PublicZone,
    PublicZoneArgs,
    RegionalCertificates,
    RegionalCertificatesArgs,
)
from infra.config import config_from_stack_file
from infra.offline.mock_runtime import run_mocked
from infra.offline.mockcloud import mock_outputs
from infra.planning.geolocations import Location
from infra.planning.plan import build_plan
from infra.planning.regions import regional_hostname
from infra.planning.resolver import check_traffic
from infra.planning.traffic import DnsRecord
from tests.factories import ROOT
from tests.previews import stack_preview

RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ALB_ZONE = "Z35SXDOTRQ7X7K"  # us-east-1 ALB canonical zone (fake endpoints below)


def fake_endpoints(plan) -> dict[str, RegionalEndpoint]:
    out = {}
    for i, r in enumerate(plan.regions):
        host = regional_hostname(r.name, plan.domain)
        if r.cloud == "aws":
            out[r.name] = RegionalEndpoint(region=r.name, cloud="aws", hostname=host,
                                           dns_name=f"{r.name}-alb-{i}.{r.location}.elb.amazonaws.com",
                                           zone_id=ALB_ZONE)
        else:
            out[r.name] = RegionalEndpoint(region=r.name, cloud="gcp", hostname=host, ip_address=f"203.0.113.{10 + i}")
    return out


def traffic_program(plan, endpoints):
    def program():
        zone = PublicZone("t-zone", PublicZoneArgs(zone_name=plan.traffic.zone_name, tags=plan.tags))
        certs = RegionalCertificates("t-certs", RegionalCertificatesArgs(
            domain=plan.domain, regions=plan.regions, zone_id=zone.zone_id, tags=plan.tags))
        GlobalRecords("t-dns", GlobalRecordsArgs(plan=plan.traffic, zone_id=zone.zone_id, endpoints=endpoints,
                                                 tags=plan.tags), opts=None)
        return certs
    return program


@pytest.fixture(scope="module")
def prod():
    plan = build_plan(config_from_stack_file(ROOT / "Pulumi.prod.yaml"))
    endpoints = fake_endpoints(plan)
    return plan, endpoints, run_mocked(traffic_program(plan, endpoints), stack="prod")


def records_from_capture(run, endpoints, zone_id: str | None = None) -> list[DnsRecord]:
    """Read the captured Route 53 registrations back into the simulator's form, the way Route 53
    would see them (health checks by id, endpoints by alias target or address); with `zone_id`, only that
    zone's records (the stack also has private zones)."""
    hc_region = {}
    for hc in run.of_type(HEALTH_CHECK):
        region = next(r for r, e in endpoints.items() if e.hostname == hc.inputs["fqdn"])
        hc_region[mock_outputs(hc.type, hc.name, {})[0]] = region
    by_target = {e.dns_name: r for r, e in endpoints.items() if e.dns_name} | \
        {e.ip_address: r for r, e in endpoints.items() if e.ip_address}
    out = []
    for rec in run.of_type(RECORD):
        p = rec.inputs
        if zone_id is not None and p.get("zoneId") != zone_id:
            continue
        if p["type"] != "A":
            continue  # validation CNAMEs
        alias = (p.get("aliases") or [None])[0]
        common = {"name": p["name"], "set_identifier": p.get("setIdentifier"),
                  "health_check": hc_region.get(p.get("healthCheckId")) if p.get("healthCheckId") else None}
        if p.get("healthCheckId"):
            assert common["health_check"], f"{p['name']}: health check id matches no health check"
        if p.get("geolocationRoutingPolicies"):
            g = p["geolocationRoutingPolicies"][0]
            out.append(DnsRecord(kind="geolocation", target=alias["name"], location=Location(
                continent=g.get("continent"), country=g.get("country"), subdivision=g.get("subdivision")), **common))
        elif p.get("weightedRoutingPolicies"):
            out.append(DnsRecord(kind="weighted", target=alias["name"],
                                 weight=p["weightedRoutingPolicies"][0]["weight"], **common))
        elif p.get("failoverRoutingPolicies"):
            out.append(DnsRecord(kind="failover", target=alias["name"],
                                 failover=p["failoverRoutingPolicies"][0]["type"], **common))
        else:
            region = by_target[alias["name"]] if alias else by_target[p["records"][0]]
            out.append(DnsRecord(kind="endpoint", region=region, **common))
    return out


def test_the_captured_records_realise_the_plan_for_every_single_loss(prod):
    plan, endpoints, run = prod
    captured = records_from_capture(run, endpoints)
    assert len(captured) == len(plan.traffic.records)
    assert check_traffic(plan.traffic, captured) == []


def test_every_alias_in_the_tree_evaluates_target_health_and_stays_in_the_zone(prod):
    _, _, run = prod
    (zone,) = run.of_type("aws:route53/zone:Zone")
    zone_id = mock_outputs(zone.type, zone.name, zone.inputs)[0]
    for rec in run.of_type(RECORD):
        for alias in rec.inputs.get("aliases") or []:
            assert alias["evaluateTargetHealth"] is True
            assert alias["zoneId"] in (zone_id, ALB_ZONE)
        assert rec.inputs["zoneId"] == zone_id
        policies = [k for k in rec.inputs if k.endswith("RoutingPolicies")]
        assert len(policies) <= 1 and (not policies or rec.inputs.get("setIdentifier"))


def test_every_health_check_probes_an_endpoint_of_the_stack_over_https(prod):
    _, endpoints, run = prod
    checks = run.of_type(HEALTH_CHECK)
    assert sorted(c.inputs["fqdn"] for c in checks) == sorted(e.hostname for e in endpoints.values())
    names = {r.inputs["name"] for r in run.of_type(RECORD)}
    for c in checks:
        assert c.inputs["type"] == "HTTPS" and c.inputs["enableSni"] is True and c.inputs["port"] == 443
        assert c.inputs["resourcePath"] == "/health"
        assert c.inputs["requestInterval"] in (10, 30) and 1 <= c.inputs["failureThreshold"] <= 10
        assert c.inputs["fqdn"] in names  # the probed name is a record of the zone, pointing at the endpoint


def test_regional_names_point_at_the_endpoints(prod):
    plan, endpoints, run = prod
    by_name = {r.inputs["name"]: r.inputs for r in run.of_type(RECORD) if not r.inputs.get("setIdentifier")
               and r.inputs["type"] == "A"}
    for e in endpoints.values():
        rec = by_name[e.hostname]
        if e.cloud == "aws":
            assert rec["aliases"] == [{"name": e.dns_name, "zoneId": ALB_ZONE, "evaluateTargetHealth": True}]
        else:
            assert rec["records"] == [e.ip_address] and rec["ttl"] == plan.traffic.endpoint_ttl


def test_acm_certificates_cover_both_names_and_wait_for_dns_validation(prod):
    plan, _, run = prod
    certs = run.of_type("aws:acm/certificate:Certificate")
    assert len(certs) == len(plan.aws_regions)
    validations = run.of_type("aws:acm/certificateValidation:CertificateValidation")
    assert len(validations) == len(certs)
    for cert in certs:
        region = next(r for r in plan.aws_regions if r.location == cert.inputs["region"])
        assert cert.inputs["validationMethod"] == "DNS"
        assert cert.inputs["domainName"] == plan.domain
        assert cert.inputs["subjectAlternativeNames"] == [regional_hostname(region.name, plan.domain)]
    cnames = [r for r in run.of_type(RECORD) if r.inputs["type"] == "CNAME"]
    acm = [r for r in cnames if "acm-validations.aws" in r.inputs["records"][0]]
    assert len(acm) == 2 * len(certs)
    for v in validations:
        assert len(v.inputs["validationRecordFqdns"]) == 2


def test_google_certificates_are_dns_authorized_in_the_zone(prod):
    plan, _, run = prod
    certs = run.of_type("gcp:certificatemanager/certificate:Certificate")
    auths = run.of_type("gcp:certificatemanager/dnsAuthorization:DnsAuthorization")
    assert len(certs) == len(plan.gcp_regions) and len(auths) == 2 * len(certs)
    for cert in certs:
        region = next(r for r in plan.gcp_regions if r.location == cert.inputs["location"])
        managed = cert.inputs["managed"]
        assert managed["domains"] == [plan.domain, regional_hostname(region.name, plan.domain)]
        assert len(managed["dnsAuthorizations"]) == 2
    cnames = [r for r in run.of_type(RECORD) if r.inputs["type"] == "CNAME"
              and "authorize.certificatemanager.goog" in r.inputs["records"][0]]
    assert len(cnames) == len(auths)
    for policy in run.of_type("gcp:compute/regionSslPolicy:RegionSslPolicy"):
        assert policy.inputs["minTlsVersion"] == "TLS_1_2" and policy.inputs["profile"] == "MODERN"


def test_records_refuse_a_region_without_endpoint(prod):
    plan, endpoints, _ = prod
    partial = {k: v for k, v in endpoints.items() if k != "ane1"}
    with pytest.raises(Exception, match="no endpoint for region"):
        run_mocked(traffic_program(plan, partial), stack="prod")


def test_global_rollout_adds_records_once_every_region_has_an_endpoint():
    from components.rollout import GlobalRollout, GlobalRolloutArgs

    plan = build_plan(config_from_stack_file(ROOT / "Pulumi.dev.yaml"))
    # The regions' serving stacks supply every endpoint (components/serving), so records follow by themselves.
    served = run_mocked(lambda: GlobalRollout("r", GlobalRolloutArgs(plan)), stack="dev")
    assert len(served.of_type(HEALTH_CHECK)) == len(plan.regions) and served.of_type("aws:route53/zone:Zone")
    without = run_mocked(lambda: GlobalRollout("r", GlobalRolloutArgs(replace(plan, serving={}))), stack="dev")
    assert without.of_type(HEALTH_CHECK) == [] and without.of_type("aws:route53/zone:Zone")
    with_endpoints = run_mocked(lambda: GlobalRollout("r", GlobalRolloutArgs(plan, endpoints=fake_endpoints(plan))),
                                stack="dev")
    assert len(with_endpoints.of_type(HEALTH_CHECK)) == len(plan.regions)
    zone = with_endpoints.of_type("aws:route53/zone:Zone")[0]
    assert zone.protect is False  # dev; prod protects the zone


def test_the_served_policy_pack_passes_the_traffic_resources_and_judges_them(prod):
    from infra.offline.policy_check import check_policies

    _, _, run = prod
    report = check_policies(run, ROOT / "policies")
    assert report.mandatory == [], [v.to_json() for v in report.mandatory]
    assert report.resources == len(run.resources)  # every record, health check and certificate was analyzed


def test_the_program_exports_the_service_url_zone_and_certificates():
    run, plan = stack_preview("dev")
    assert run.outputs["serviceUrl"] == f"https://{plan.domain}/"
    traffic = run.outputs["traffic"]
    assert traffic["zoneId"].startswith("Z") and len(traffic["nameServers"]) == 4
    assert set(traffic["certificates"]) == {r.name for r in plan.regions}
    assert traffic["weights"] == {g: dict(w) for g, w in plan.traffic.normal_weights.items()}
    assert "US-NY" in traffic["geolocations"]["us-east"]
    assert traffic["records"] > 0  # every region's serving stack has its endpoint: records and health checks


def test_the_full_prod_preview_routes_as_planned_to_the_serving_load_balancers():
    """Global traffic's promise on the whole program: the records the prod preview registers, read back and
    resolved, realise the plan in normal state and for every single region lost, and every endpoint record
    and health check names the load balancer that region's serving stack declares."""
    run, plan = stack_preview("prod")
    by_urn = {r.urn: r for r in run.resources}

    def region_of(resource):
        node = resource
        while node is not None and node.type != "rollout:region:Region":
            node = by_urn.get(node.parent)
        return node.name if node is not None else None

    def in_serving(resource):
        node = by_urn.get(resource.parent)
        while node is not None and not node.type.startswith("rollout:serving:"):
            node = by_urn.get(node.parent)
        return node is not None

    endpoints = {}
    for r in run.resources:
        if not in_serving(r):
            continue
        region = region_of(r)
        state = mock_outputs(r.type, r.name, r.inputs)[1]
        host = regional_hostname(region, plan.domain) if region else None
        if r.type == "aws:lb/loadBalancer:LoadBalancer":
            endpoints[region] = RegionalEndpoint(region=region, cloud="aws", hostname=host, dns_name=state["dnsName"])
        elif r.type == "gcp:compute/address:Address" and r.inputs.get("addressType") == "EXTERNAL":
            endpoints[region] = RegionalEndpoint(region=region, cloud="gcp", hostname=host,
                                                 ip_address=state["address"])
    assert set(endpoints) == {r.name for r in plan.regions}
    (public,) = [z for z in run.of_type("aws:route53/zone:Zone") if not z.inputs.get("vpcs")]
    zone_id = mock_outputs(public.type, public.name, public.inputs)[0]
    captured = records_from_capture(run, endpoints, zone_id)  # fails on a target or health check of no region
    assert len(captured) == len(plan.traffic.records)
    assert check_traffic(plan.traffic, captured) == []
    assert {hc.inputs["fqdn"] for hc in run.of_type(HEALTH_CHECK)} == {e.hostname for e in endpoints.values()}
