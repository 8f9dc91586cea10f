"""The public hosted zone that holds the service name, the regional names and the validation records."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.tags import aws_tags


@dataclass(frozen=True)
class PublicZoneArgs:
    zone_name: str  # the domain, or a parent of it
    existing_zone_id: str | None = None  # use this zone instead of creating one
    protect: bool = False  # prod: the zone's name servers are delegated from the parent; keep it
    tags: dict[str, str] | None = None


class PublicZone(pulumi.ComponentResource):
    """A Route 53 public hosted zone, created (protected in prod) or an existing one by id."""

    zone_id: pulumi.Output[str]
    name_servers: pulumi.Output[list[str]]

    def __init__(self, name: str, args: PublicZoneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:traffic:PublicZone", name, None, opts)
        if args.existing_zone_id:
            self.zone_id = pulumi.Output.from_input(args.existing_zone_id)
            self.name_servers = pulumi.Output.from_input([])
        else:
            # Replacing a zone changes its name servers (the parent's delegation breaks): in prod it is
            # protected; force_destroy stays off so a destroy never drops records it did not create.
            zone = aws.route53.Zone(f"{name}-zone", name=args.zone_name, comment="global-ai-rollout service zone",
                                    force_destroy=False, tags=aws_tags(args.tags or {}, args.zone_name),
                                    opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
            self.zone_id, self.name_servers = zone.zone_id, zone.name_servers
        self.register_outputs({"zoneId": self.zone_id, "nameServers": self.name_servers})
