"""Publicly trusted certificates for each region's public endpoint, DNS-validated in the public zone.

AWS: one ACM certificate per region (ECDSA P-256) for `<domain>` and `<region>.<domain>`, its DNS
validation records, and a `CertificateValidation` that waits until ACM has issued it; listeners use
`certificate_arn` (the validation's output, so nothing attaches an unissued certificate) and the TLS
policy `AWS_TLS_POLICY`. GCP: a Certificate Manager `DnsAuthorization` per name (per-project records,
location = the region), its CNAME, a regional Google-managed `Certificate`, and a `RegionSslPolicy`
(TLS 1.2+, MODERN profile) for the region's HTTPS proxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.tags import aws_tags, gcp_labels
from infra.planning.regions import RegionPlan, regional_hostname

# TLS 1.3 + 1.2 only (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
AWS_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
VALIDATION_TTL = 300


@dataclass(frozen=True)
class ServingTls:
    """What one region's HTTPS listener needs (the serving stack's input)."""

    region: str
    cloud: str
    hostname: str
    certificate: pulumi.Output[str]  # AWS: the validated ACM certificate ARN; GCP: the certificate id
    tls_policy: pulumi.Input[str]  # AWS: the listener's ssl_policy; GCP: the RegionSslPolicy self link


@dataclass(frozen=True)
class RegionalCertificatesArgs:
    domain: str
    regions: Sequence[RegionPlan]
    zone_id: pulumi.Input[str]
    tags: dict[str, str]
    # The zone resolves publicly (an existing zone, or a new one its parent now delegates to). Until then
    # ACM cannot see the validation records: creating a validation stops the `up` with what to do.
    zone_delegated: bool = False


AWAIT_DELEGATION_HOOK = "await-zone-delegation"  # the deploy rehearsal looks for this hook (deploy/zone-delegation)


def await_delegation_hook(domain: str) -> pulumi.ResourceHook:
    """A before-create hook that stops the `up` at the first certificate validation of a zone nobody
    has delegated yet, instead of the provider's silent 75-minute wait (docs/deploy.md, "A new public zone")."""
    def stop(args: pulumi.ResourceHookArgs) -> None:
        raise RuntimeError(
            f"the public zone for {domain} was created by this stack and is not delegated yet: ACM cannot "
            f"validate {args.name}. Delegate it now: put the zone's name servers (`aws route53 "
            f"list-hosted-zones-by-name --dns-name {domain}`, then `aws route53 get-hosted-zone --id <id>`) in "
            f"the parent zone's NS record, wait for `dig +short NS {domain}` to show them, set "
            "global-ai-rollout:traffic.zoneDelegated: true and run `pulumi up` again; it continues from here")
    return pulumi.ResourceHook(AWAIT_DELEGATION_HOOK, stop)


class RegionalCertificates(pulumi.ComponentResource):
    """Per region: a certificate covering the service name and the region's own name, DNS-validated."""

    by_region: dict[str, ServingTls]

    def __init__(self, name: str, args: RegionalCertificatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:traffic:RegionalCertificates", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._validation_opts = child if args.zone_delegated else pulumi.ResourceOptions(
            parent=self, hooks=pulumi.ResourceHookBinding(before_create=[await_delegation_hook(args.domain)]))
        self.by_region = {}
        for region in args.regions:
            names = [args.domain, regional_hostname(region.name, args.domain)]
            if region.cloud == "aws":
                self.by_region[region.name] = self._acm(f"{name}-{region.name}", region, names, args, child)
            else:
                self.by_region[region.name] = self._google(f"{name}-{region.name}", region, names, args, child)
        self.register_outputs({r: t.certificate for r, t in self.by_region.items()})

    def _acm(self, name: str, region: RegionPlan, names: list[str], args: RegionalCertificatesArgs,
             child: pulumi.ResourceOptions) -> ServingTls:
        # Replacement creates the new certificate first (Pulumi's default), so a listener never points
        # at a deleted one; the names are in the inputs, so a new name means a new certificate.
        cert = aws.acm.Certificate(f"{name}-cert", domain_name=names[0], subject_alternative_names=names[1:],
                                   validation_method="DNS", key_algorithm="EC_prime256v1", region=region.location,
                                   tags=aws_tags(args.tags, names[1]), opts=child)
        fqdns = []
        for i, domain in enumerate(names):
            option = cert.domain_validation_options.apply(
                lambda opts, d=domain: next(o for o in opts if o.domain_name == d))
            # The same validation CNAME serves every certificate of this account for the name (one per
            # region here): allow_overwrite lets each region's stack declare it.
            record = aws.route53.Record(f"{name}-validation-{i}", zone_id=args.zone_id,
                                        name=option.resource_record_name, type=option.resource_record_type,
                                        records=[option.resource_record_value], ttl=VALIDATION_TTL,
                                        allow_overwrite=True, opts=child)
            fqdns.append(record.fqdn)
        validation = aws.acm.CertificateValidation(f"{name}-validated", certificate_arn=cert.arn,
                                                   validation_record_fqdns=fqdns, region=region.location,
                                                   opts=self._validation_opts)
        return ServingTls(region=region.name, cloud="aws", hostname=names[1],
                          certificate=validation.certificate_arn, tls_policy=AWS_TLS_POLICY)

    def _google(self, name: str, region: RegionPlan, names: list[str], args: RegionalCertificatesArgs,
                child: pulumi.ResourceOptions) -> ServingTls:
        # No fixed physical names: Pulumi auto-names these, so a replacement (new domains, another
        # location: both force a new resource) creates the new one before deleting the old.
        labels = gcp_labels(args.tags)
        auths, records = [], []
        for i, domain in enumerate(names):
            auth = gcp.certificatemanager.DnsAuthorization(
                f"{name}-dns-auth-{i}", domain=domain, location=region.location,
                type="PER_PROJECT_RECORD", labels=labels, opts=child)
            rr = auth.dns_resource_records.apply(lambda rrs: rrs[0])
            records.append(aws.route53.Record(f"{name}-dns-auth-{i}", zone_id=args.zone_id, name=rr.name,
                                              type=rr.type, records=[rr.data], ttl=VALIDATION_TTL, opts=child))
            auths.append(auth.id)
        cert = gcp.certificatemanager.Certificate(
            f"{name}-cert", location=region.location, labels=labels,
            description=f"{names[0]} and {names[1]}",
            managed=gcp.certificatemanager.CertificateManagedArgs(domains=names, dns_authorizations=auths),
            opts=pulumi.ResourceOptions(parent=self, depends_on=records))
        policy = gcp.compute.RegionSslPolicy(f"{name}-tls", region=region.location,
                                             min_tls_version="TLS_1_2", profile="MODERN",
                                             description=f"TLS 1.2+ for {names[1]}", opts=child)
        return ServingTls(region=region.name, cloud="gcp", hostname=names[1], certificate=cert.id,
                          tls_policy=policy.self_link)
