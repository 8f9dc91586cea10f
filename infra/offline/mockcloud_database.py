"""Mock outputs for the database's cloud resources: buckets, reserved addresses, Cloud DNS zones.

Deterministic and shaped like the real providers' (S3 bucket names and ARNs, Cloud DNS and Cloud
Storage ids), so IAM policies and the backup Jobs receive real values. Route 53 zones and records
come from infra/offline/mockcloud_traffic.py.
"""

from __future__ import annotations

import hashlib
from typing import Any


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def database_outputs(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(id override or None, extra outputs) for the types components/database declares."""
    h = _digest(typ, name)
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{name}-{h[:12]}".lower()
        return bucket, {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}",
                        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
                        "bucketRegionalDomainName": f"{bucket}.s3.{inputs.get('region')}.amazonaws.com"}
    if typ == "aws:ec2/subnetCidrReservation:SubnetCidrReservation":
        return f"scr-{h[:17]}", {"ownerId": "123456789012"}
    if typ == "gcp:compute/address:Address":
        project, region = inputs.get("project"), inputs.get("region")
        rid = f"projects/{project}/regions/{region}/addresses/{inputs.get('name')}"
        return rid, {"selfLink": f"https://www.googleapis.com/compute/v1/{rid}", "users": []}
    if typ == "gcp:dns/managedZone:ManagedZone":
        return (f"projects/{inputs.get('project')}/managedZones/{inputs.get('name')}",
                {"managedZoneId": int(h[:12], 16), "nameServers": []})
    if typ == "gcp:storage/bucket:Bucket":
        bucket = inputs.get("name")
        return bucket, {"url": f"gs://{bucket}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}"}
    return None, {}
