"""Route 53 as the engine and the DNS will see it: alias targets exist first, and a new public zone's
certificates are validated only once the parent delegates to it (docs/deploy.md, "A new zone")."""

from __future__ import annotations

from collections.abc import Iterator

from infra.rehearsal.model import Resource
from infra.rehearsal.order import engine_order
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

RECORD = "aws:route53/record:Record"
ZONE = "aws:route53/zone:Zone"
# The resource whose creation waits for ACM to see the validation records (Google's certificates are
# created at once and provisioned later: no `up` waits on them).
VALIDATIONS = ("aws:acm/certificateValidation:CertificateValidation",)
AWAIT_DELEGATION_HOOK = "await-zone-delegation"  # components/traffic/certificates.py

ALIAS_SOURCE = ("https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html (an alias to a "
                "record of the same hosted zone: that record must exist, else InvalidChangeBatch)")


def _fqdn(name: object) -> str:
    return str(name or "").lower().rstrip(".")


def _is_public_zone(r: Resource) -> bool:
    return r.type == ZONE and not r.inputs.get("vpcs")


@rule("deploy/alias-order", stage="deploy", source=ALIAS_SOURCE)
def aliases_after_targets(ctx: Context) -> Iterator[Violation]:
    """An alias naming a record of its own zone is created after every record of that name and type.
    The name is a plain string to the engine: only dependsOn (or an input from the target) orders it."""
    records = ctx.run.of_type(RECORD)
    by_name: dict[tuple[str, str, str], list[str]] = {}
    for r in records:
        key = (str(r.inputs.get("zoneId")), _fqdn(r.inputs.get("name")), str(r.inputs.get("type")))
        by_name.setdefault(key, []).append(r.urn)
    order = engine_order(ctx.run)
    for r in records:
        zone = str(r.inputs.get("zoneId"))
        for alias in r.inputs.get("aliases") or ():
            if str(alias.get("zoneId")) != zone:
                continue  # a load balancer's or another zone's name: not created by this record's zone
            target = _fqdn(alias.get("name"))
            targets = by_name.get((zone, target, str(r.inputs.get("type"))), [])
            if not targets:
                yield Violation("deploy/alias-order", r.urn,
                                f"alias to {target!r} in the same zone, and no record of that name is declared")
                continue
            before = order.before(r.urn)
            missing = [t for t in targets if t not in before]
            if missing:
                yield Violation("deploy/alias-order", r.urn,
                                f"alias to {target!r} may be created before its target "
                                f"{missing[0].rsplit('::', 1)[-1]} ({len(missing)} of {len(targets)} unordered): "
                                "add the target records to depends_on")


@rule("deploy/zone-delegation", stage="deploy",
      source="https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html (ACM must resolve the "
             "validation CNAME publicly: the parent must delegate to the new zone; the provider waits up to 75 "
             "min, terraform-provider-aws internal/service/acm/certificate_validation.go)")
def new_zone_is_delegated_first(ctx: Context) -> Iterator[Violation]:
    """A certificate validated in a public zone this run creates needs the parent's delegation first:
    the stack says it was made (`traffic.zoneDelegated: true`), or the validation carries the hook that
    stops the `up` there with what to do (never the provider's silent 75-minute wait)."""
    traffic = getattr(ctx.plan, "traffic", None)
    if traffic is not None and getattr(traffic, "zone_delegated", False):
        return
    order = engine_order(ctx.run)
    zones = {r.urn for r in ctx.run.of_type(ZONE) if _is_public_zone(r)}
    if not zones:
        return
    for r in ctx.run.of_type(*VALIDATIONS):
        if AWAIT_DELEGATION_HOOK in ((r.options.get("hooks") or {}).get("beforeCreate") or ()):
            continue
        zone = next((z for z in sorted(zones) if z in order.before(r.urn)), None)
        if zone is not None:
            yield Violation("deploy/zone-delegation", r.urn,
                            f"validated in {zone.rsplit('::', 1)[-1]}, a zone this run creates, with no "
                            "confirmed delegation (traffic.zoneDelegated) and no stop before it (the "
                            f"{AWAIT_DELEGATION_HOOK} hook): the provider would wait up to 75 min")


@rule("deploy/zone-first", stage="deploy",
      source="https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/ (--target: a targeted resource's "
             "dependencies must already exist)")
def new_zone_stands_alone(ctx: Context) -> Iterator[Violation]:
    """A public zone this run creates waits for nothing, so phase 1 can create it alone with --target."""
    order = engine_order(ctx.run)
    for r in ctx.run.of_type(ZONE):
        if _is_public_zone(r) and order.before(r.urn):
            first = sorted(order.before(r.urn))[0].rsplit("::", 1)[-1]
            yield Violation("deploy/zone-first", r.urn,
                            f"the public zone waits for {len(order.before(r.urn))} resource(s) (e.g. {first}): "
                            "`pulumi up --target` could not create it alone")
