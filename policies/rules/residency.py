"""User data stays in its residency zone (docs/residency.md): a data-bearing MongoDB member, a backup
bucket or a log group that belongs to a zone must sit in one of the zone's regions.

How the rule knows:
- a resource's zone: the Kubernetes label `rollout.dev/residency-zone` (StatefulSets), or the tag /
  label `residency-zone` on buckets and log groups (a key valid both as an AWS tag and a GCP label,
  which allows no `/` or `.`: https://cloud.google.com/resource-manager/docs/labels-overview#requirements).
  Cloud Logging buckets take no labels, so a zone's log bucket is named `residency-<zone>-...`.
  A resource without either belongs to no zone and is not judged;
- the zone's regions: the stack output `residency.zones` (zone -> region names, infra/planning/residency.py);
- a resource's region: its provider location (AWS `region`, GCS and log bucket `location`) matched against the
  `regions` output; for Kubernetes objects the `rollout.dev/region` label, else the `Region`
  component it was declared in. A multi-region GCS location (EU, US, ASIA, dual-regions) is in no
  single region, so it is outside every zone.
A stack with a `residency` section exports the zones and labels its shard members and shard backup
buckets (components/database/sharded.py); a stack without one is not judged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .core import HIGH, MANDATORY, NotApplicable, Resource, StackFinding, get, is_unknown, stack_rule
from .stack import STACK, STATEFUL_SET, region_of, stack_outputs

K8S_ZONE_LABEL = "rollout.dev/residency-zone"
K8S_REGION_LABEL = "rollout.dev/region"
CLOUD_ZONE_TAG = "residency-zone"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
GCS_BUCKET = "gcp:storage/bucket:Bucket"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOG_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
LOG_BUCKET_PREFIX = "residency-"
JUDGED = (STATEFUL_SET, *S3_BUCKETS, GCS_BUCKET, LOG_GROUP, LOG_BUCKET)
GCP_LOCATED = (GCS_BUCKET, LOG_BUCKET)
KIND = {STATEFUL_SET: "MongoDB member", GCS_BUCKET: "backup bucket", LOG_GROUP: "log group",
        LOG_BUCKET: "log bucket", **{t: "backup bucket" for t in S3_BUCKETS}}


def zone_of(r: Resource) -> Any:
    """The residency zone a resource declares, or None."""
    if r.type == STATEFUL_SET:
        labels = get(r.props, "metadata.labels", {})
        return labels if is_unknown(labels) else (labels or {}).get(K8S_ZONE_LABEL)
    if r.type == LOG_BUCKET:
        bucket = get(r.props, "bucketId")
        if is_unknown(bucket) or not str(bucket or "").startswith(LOG_BUCKET_PREFIX):
            return None if not is_unknown(bucket) else bucket
        return str(bucket).removeprefix(LOG_BUCKET_PREFIX).split("-", 1)[0]
    tags = get(r.props, "labels" if r.type == GCS_BUCKET else "tags", {})
    return tags if is_unknown(tags) else (tags or {}).get(CLOUD_ZONE_TAG)


def region_named(r: Resource, declared: Mapping[str, Any]) -> Any:
    """The stack region a resource is in: a name, UNKNOWN, or None (in no single stack region)."""
    if r.type == STATEFUL_SET:
        labels = get(r.props, "metadata.labels", {})
        if not is_unknown(labels) and (labels or {}).get(K8S_REGION_LABEL):
            return labels[K8S_REGION_LABEL]
        return region_of(r)
    cloud = "gcp" if r.type in GCP_LOCATED else "aws"
    location = get(r.props, "location" if cloud == "gcp" else "region")
    if is_unknown(location):
        return location
    if not location:
        return region_of(r)  # AWS: the provider's region, i.e. the Region component's
    by_location = {str(v.get("location", "")).lower(): name for name, v in declared.items()
                   if isinstance(v, dict) and v.get("cloud") == cloud}
    return by_location.get(str(location).lower())


@stack_rule("residency-in-zone",
            "A MongoDB member, backup bucket or log group/bucket labelled with a residency zone sits in one of that "
            "zone's regions (the `residency.zones` output), so a zone's user data never leaves it.",
            enforcement=MANDATORY, severity=HIGH, reads=(STACK, *JUDGED))
def residency_in_zone(resources: list[Resource], config) -> Iterator[StackFinding]:
    outputs = stack_outputs(resources)
    zones = get(outputs, "residency.zones")
    labelled = [(r, zone_of(r)) for r in resources if r.type in JUDGED]
    labelled = [(r, z) for r, z in labelled if z is not None and not is_unknown(z)]
    if not isinstance(zones, dict) and not labelled:
        raise NotApplicable("no residency zones in the stack (no `residency.zones` output, no resource labelled "
                            f"{K8S_ZONE_LABEL} / {CLOUD_ZONE_TAG})")
    zones = zones if isinstance(zones, dict) else {}
    declared = outputs.get("regions") if isinstance(outputs.get("regions"), dict) else {}
    for r, zone in labelled:
        kind = f"{KIND[r.type]} {r.name}"
        if zone not in zones:
            yield (f"{kind} claims residency zone {zone!r}, which the stack does not declare "
                   f"(zones: {', '.join(sorted(zones)) or 'none'})"), r.urn
            continue
        region = region_named(r, declared)
        if is_unknown(region):
            continue  # computed at deploy time: cannot tell yet
        allowed = [str(x) for x in zones[zone] or []]
        if region is None:
            yield (f"{kind} of zone {zone!r} is in no single stack region (location "
                   f"{get(r.props, 'location') or get(r.props, 'region')!r}); zone {zone} keeps its data in "
                   f"{', '.join(allowed)}"), r.urn
        elif region not in allowed:
            yield (f"{kind} of zone {zone!r} is in region {region}, outside the zone "
                   f"({', '.join(allowed)})"), r.urn


RULES = [residency_in_zone]
