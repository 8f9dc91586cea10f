"""The residency rule on small resource graphs: a zone's members, backups and logs stay in its regions."""

from __future__ import annotations

import pytest

from policies.rules import ALL_RULES
from policies.rules.core import UNKNOWN, NotApplicable, Resource
from policies.rules.residency import residency_in_zone

REGIONS = {"euc1": {"cloud": "aws", "location": "eu-central-1"},
           "use1": {"cloud": "aws", "location": "us-east-1"},
           "euw4": {"cloud": "gcp", "location": "europe-west4"},
           "ane1": {"cloud": "gcp", "location": "asia-northeast1"}}
ZONES = {"eu": ["euc1", "euw4"], "us": ["use1"], "apac": ["ane1"]}


def res(typ: str, name: str, props=None, parent=None) -> Resource:
    return Resource(type=typ, props=props or {}, urn=f"urn:pulumi:prod::p::{typ}::{name}", name=name, parent=parent)


def stack(**outputs) -> Resource:
    return res("pulumi:pulumi:Stack", "p-prod", {"regions": REGIONS, **outputs})


def member(name: str, zone: str | None, region: str | None = None, parent=None) -> Resource:
    labels = {"app.kubernetes.io/name": "mongodb"}
    if zone:
        labels["rollout.dev/residency-zone"] = zone
    if region:
        labels["rollout.dev/region"] = region
    return res("kubernetes:apps/v1:StatefulSet", name, {"metadata": {"labels": labels}}, parent=parent)


def s3(name: str, zone: str, location: str) -> Resource:
    return res("aws:s3/bucket:Bucket", name, {"region": location, "tags": {"residency-zone": zone}})


def gcs(name: str, zone: str, location: str) -> Resource:
    return res("gcp:storage/bucket:Bucket", name, {"location": location, "labels": {"residency-zone": zone}})


def log_group(name: str, zone: str, location: str) -> Resource:
    return res("aws:cloudwatch/logGroup:LogGroup", name, {"region": location, "tags": {"residency-zone": zone}})


def urns(resources) -> list[str]:
    return [u for _, u in residency_in_zone.evaluate(resources)]


def test_the_rule_is_in_the_pack():
    assert residency_in_zone in ALL_RULES


def test_today_s_stacks_without_zones_or_labels_are_not_judged():
    unlabelled = [stack(), member("mongodb-euc1-0", None, "euc1"), res("aws:s3/bucket:Bucket", "backup",
                                                                       {"region": "us-east-1", "tags": {}})]
    with pytest.raises(NotApplicable):
        residency_in_zone.evaluate(unlabelled)


def test_a_member_in_its_zone_passes_and_one_outside_fails():
    inside, outside = member("mongodb-shard-eu-euc1-0", "eu", "euc1"), member("mongodb-shard-eu-use1-0", "eu", "use1")
    assert urns([stack(residency={"zones": ZONES}), inside]) == []
    findings = residency_in_zone.evaluate([stack(residency={"zones": ZONES}), inside, outside])
    assert [u for _, u in findings] == [outside.urn]
    assert "region use1, outside the zone (euc1, euw4)" in findings[0][0]


def test_a_member_without_a_region_label_takes_the_region_it_was_declared_in():
    tokyo = res("rollout:region:Region", "ane1")
    assert urns([stack(residency={"zones": ZONES}), member("m", "apac", parent=tokyo)]) == []
    wrong = member("m2", "eu", parent=tokyo)
    assert urns([stack(residency={"zones": ZONES}), wrong]) == [wrong.urn]


def test_backup_buckets_stay_in_their_zone_on_both_clouds():
    good = [s3("backup-eu-aws", "eu", "eu-central-1"), gcs("backup-eu-gcp", "eu", "EUROPE-WEST4")]
    bad = [s3("backup-eu-virginia", "eu", "us-east-1"), gcs("backup-eu-tokyo", "eu", "ASIA-NORTHEAST1")]
    assert urns([stack(residency={"zones": ZONES}), *good]) == []
    assert urns([stack(residency={"zones": ZONES}), *good, *bad]) == [b.urn for b in bad]


def test_a_multi_region_bucket_is_in_no_single_region_and_so_outside_every_zone():
    eu_multi = gcs("backup-eu", "eu", "EU")
    findings = residency_in_zone.evaluate([stack(residency={"zones": ZONES}), eu_multi])
    assert [u for _, u in findings] == [eu_multi.urn] and "no single stack region" in findings[0][0]


def test_log_groups_stay_in_their_zone():
    assert urns([stack(residency={"zones": ZONES}), log_group("logs-apac", "apac", "ap-northeast-1")]) != []
    assert urns([stack(residency={"zones": {**ZONES, "us": ["use1"]}}), log_group("logs-us", "us", "us-east-1")]) == []


def test_gcp_log_buckets_named_for_a_zone_stay_in_it_and_a_global_one_fails():
    def log_bucket(bucket_id, location):
        return res("gcp:logging/projectBucketConfig:ProjectBucketConfig", bucket_id,
                   {"bucketId": bucket_id, "location": location})

    good, tokyo, everywhere = (log_bucket("residency-eu-logs", "europe-west4"),
                               log_bucket("residency-eu-logs-2", "asia-northeast1"),
                               log_bucket("residency-apac-logs", "global"))
    assert urns([stack(residency={"zones": ZONES}), good, log_bucket("default-logs", "global")]) == []
    assert urns([stack(residency={"zones": ZONES}), good, tokyo, everywhere]) == [tokyo.urn, everywhere.urn]


def test_a_resource_claiming_an_undeclared_zone_fails_even_before_the_stack_declares_zones():
    stray = member("mongodb-shard-mars-euc1-0", "mars", "euc1")
    findings = residency_in_zone.evaluate([stack(), stray])
    assert [u for _, u in findings] == [stray.urn] and "does not declare" in findings[0][0]


def test_a_location_known_only_at_deploy_time_is_not_judged_yet():
    pending = res("aws:s3/bucket:Bucket", "b", {"region": UNKNOWN, "tags": {"residency-zone": "eu"}})
    assert urns([stack(residency={"zones": ZONES}), pending]) == []


def test_the_planner_s_output_is_what_the_rule_reads():
    from tests.test_residency_plan import prod_like

    out = prod_like().output()
    assert out["zones"] == {"us": ["use1", "usw2"], "eu": ["euc1", "euw4"], "apac": ["ane1"]}
    members = [member(m["name"], s["zone"], m["region"]) for s in out["shards"] for m in s["members"]]
    assert urns([stack(residency=out), *members]) == []
    moved = member("mongodb-shard-eu-ane1-0", "eu", "ane1")
    assert urns([stack(residency=out), *members, moved]) == [moved.urn]
