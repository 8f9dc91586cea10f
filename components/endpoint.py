"""The seam between a region's serving stack and the global traffic layer.

The serving component (components/serving/) builds each region's public HTTPS entry point with the
certificate the traffic layer issued for it, and hands back a `RegionalEndpoint`; the traffic component
(components/traffic/) points DNS records and health checks at those endpoints. Neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class RegionalEndpoint:
    """Where one region's public HTTPS endpoint answers.

    AWS: an Application Load Balancer (alias target: `dns_name` + `zone_id`).
    GCP: a regional external Application Load Balancer (`ip_address`).
    """

    region: str
    cloud: str
    hostname: str  # the region's own public name (infra.planning.regions.regional_hostname)
    dns_name: pulumi.Input[str] | None = None  # AWS
    zone_id: pulumi.Input[str] | None = None  # AWS: the load balancer's canonical hosted zone id
    ip_address: pulumi.Input[str] | None = None  # GCP
    health_path: str = "/health"
    port: int = 443
