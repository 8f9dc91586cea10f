"""Mock outputs of the serving stack's resource types (buckets, load balancers, addresses), the
values the real providers compute, derived deterministically from the resource's type and name."""

from __future__ import annotations

import hashlib
from typing import Any

ACCOUNT_ID = "123456789012"
# Canonical hosted zone ids of ALBs per region: https://docs.aws.amazon.com/general/latest/gr/elb.html
ALB_ZONE_IDS = {"us-east-1": "Z35SXDOTRQ7X7K", "us-west-2": "Z1H1FL5HABSF5", "eu-central-1": "Z215JYRZR1TBD5",
                "eu-west-1": "Z32O12XQLNTSW2", "ap-northeast-1": "Z14GRHDCWA56QT"}


def _h(typ: str, name: str) -> str:
    return hashlib.sha256(f"{typ}/{name}".encode()).hexdigest()


def serving_outputs(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(id override or None, computed outputs) for the serving stack's types; ({}) for others."""
    h = _h(typ, name)
    region = inputs.get("region") or "us-east-1"
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}{h[:12]}"
        return bucket, {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}",
                        "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com"}
    # The physical name is auto-named (logical + "-" + 7 hex) unless given; names beyond 32 characters
    # were refused before this point (mockcloud.refuse_bad_name), as the provider refuses them.
    if typ == "aws:lb/loadBalancer:LoadBalancer":
        physical = inputs.get("name") or f"{name}-{h[:7]}"
        short = f"{physical[:20]}-{int(h[:8], 16) % 10**9}"
        arn = f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT_ID}:loadbalancer/app/{physical}/{h[:16]}"
        return arn, {"arn": arn, "name": physical, "dnsName": f"{short}.{region}.elb.amazonaws.com",
                     "zoneId": ALB_ZONE_IDS.get(region, "Z35SXDOTRQ7X7K"), "arnSuffix": f"app/{physical}/{h[:16]}"}
    if typ == "aws:lb/targetGroup:TargetGroup":
        physical = inputs.get("name") or f"{name}-{h[:7]}"
        arn = f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT_ID}:targetgroup/{physical}/{h[:16]}"
        return arn, {"arn": arn, "name": physical, "arnSuffix": f"targetgroup/{physical}/{h[:16]}"}
    if typ == "aws:lb/listener:Listener":
        arn = f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT_ID}:listener/app/{name[:32]}/{h[:16]}/{h[16:32]}"
        return arn, {"arn": arn}
    if typ == "gcp:compute/address:Address":
        return None, {"address": f"34.{int(h[:2], 16)}.{int(h[2:4], 16)}.{int(h[4:6], 16) % 254 + 1}"}
    if typ == "gcp:storage/bucket:Bucket":
        bucket = inputs.get("name") or f"{name}-{h[:8]}"
        return bucket, {"name": bucket, "url": f"gs://{bucket}",
                        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}"}
    return None, {}
