"""Mock outputs for global traffic: Route 53 zone ids and name servers, health check ids, record
FQDNs, ACM certificates with their DNS validation records, Google Certificate Manager DNS
authorizations and certificate ids (deterministic, realistic in shape).

`infra.offline.mockcloud.mock_outputs` merges these into every resource's state.
"""

from __future__ import annotations

import hashlib
from typing import Any

ACCOUNT_ID = "123456789012"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def traffic_outputs(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(id override or None, computed outputs) for the traffic resource types; ({}, None) otherwise."""
    h = _digest(typ, name)
    if typ == "aws:route53/zone:Zone":
        zone_id = "Z" + h[:20].upper()
        return zone_id, {"zoneId": zone_id, "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
                         "nameServers": [f"ns-{int(h[i:i + 3], 16) % 2048}.awsdns-{i:02d}.{tld}"
                                         for i, tld in ((0, "com"), (3, "net"), (6, "org"), (9, "co.uk"))]}
    if typ == "aws:route53/healthCheck:HealthCheck":
        hc = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        return hc, {"arn": f"arn:aws:route53:::healthcheck/{hc}"}
    if typ == "aws:route53/record:Record":
        rid = f"{inputs.get('zoneId')}_{inputs.get('name')}_{inputs.get('type')}"
        if inputs.get("setIdentifier"):
            rid += f"_{inputs['setIdentifier']}"
        return rid, {"fqdn": inputs.get("name")}
    if typ == "aws:acm/certificate:Certificate":
        region = inputs.get("region") or "us-east-1"
        cert_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        arn = f"arn:aws:acm:{region}:{ACCOUNT_ID}:certificate/{cert_id}"
        names = [inputs.get("domainName"), *(inputs.get("subjectAlternativeNames") or [])]
        options = [{"domainName": n, "resourceRecordName": f"_{_digest('acm', n)[:32]}.{n}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": f"_{_digest('acm-v', n)[:32]}.{_digest('x', n)[:10]}.acm-validations.aws."}
                   for n in names if n]
        return arn, {"arn": arn, "domainValidationOptions": options, "status": "PENDING_VALIDATION"}
    if typ == "aws:acm/certificateValidation:CertificateValidation":
        return f"{inputs.get('certificateArn')}-validation", {}
    if typ == "gcp:certificatemanager/dnsAuthorization:DnsAuthorization":
        domain = inputs.get("domain", "example.com")
        project, location = inputs.get("project") or "rollout-mock-project", inputs.get("location") or "global"
        rid = f"projects/{project}/locations/{location}/dnsAuthorizations/{inputs.get('name') or name}"
        return rid, {"dnsResourceRecords": [{
            "name": f"_acme-challenge_{h[:16]}.{domain}.", "type": "CNAME",
            "data": f"{h[16:52]}.{int(h[:2], 16) % 16}.authorize.certificatemanager.goog."}]}
    if typ == "gcp:certificatemanager/certificate:Certificate":
        project, location = inputs.get("project") or "rollout-mock-project", inputs.get("location") or "global"
        return f"projects/{project}/locations/{location}/certificates/{inputs.get('name') or name}", {}
    return None, {}
