"""The stack's GCP project as the program uses it: one explicit `gcp` provider pinned to `gcp:project`,
and every API the program calls enabled by a `gcp.projects.Service`, with every other GCP resource
ordered after those services.

Why: on a fresh project nothing but a few default APIs is on, so the first network call fails
(`compute.googleapis.com` has not been used in project ... or it is disabled), and the KMS grant to
the GKE service agent fails because the agent exists only once `container.googleapis.com` is on.
Services are never disabled on destroy: other workloads in the project may use them.
https://cloud.google.com/service-usage/docs/enable-disable

Ordering: `after_apis` is a resource transformation on the components that hold GCP resources; the
SDK applies a parent's transformations to every descendant, so each `gcp:*` resource, including ones
added later, gets `depends_on` the services without every component threading them through.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

SERVICE_TYPE = "gcp:projects/service:Service"
# APIs the program calls, by what needs them (serviceusage.googleapis.com itself must already be on:
# it is what enables the others; README "Deploy for real").
APIS = (
    "compute.googleapis.com",  # network, subnetworks, routers, NAT, firewall, HA VPN
    "container.googleapis.com",  # GKE clusters and node pools; creates the GKE service agent
    "cloudkms.googleapis.com",  # key ring and key for Secrets encryption
    "iam.googleapis.com",  # node service accounts
    "cloudresourcemanager.googleapis.com",  # project IAM bindings
    "certificatemanager.googleapis.com",  # regional serving certificates and their DNS authorizations
    "dns.googleapis.com",  # the database's Cloud DNS private zone
    "storage.googleapis.com",  # model-weight and backup buckets
    "binaryauthorization.googleapis.com",  # GKE Binary Authorization enforcement
    "monitoring.googleapis.com",  # alert policies and notification channels (components/monitoring)
    "secretmanager.googleapis.com",  # the API key stores (components/serving/api_auth.py)
    "logging.googleapis.com",  # the load balancers' regional log buckets and sinks
)


@dataclass(frozen=True)
class GcpProjectArgs:
    project: str
    apis: tuple[str, ...] = APIS


class GcpProject(pulumi.ComponentResource):
    """The explicit provider and the enabled APIs of the stack's one GCP project."""

    provider: gcp.Provider
    services: list[gcp.projects.Service]

    def __init__(self, name: str, args: GcpProjectArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:gcp:GcpProject", name, None, opts)
        # Every GCP resource below the rollout uses this provider: project from config only, never
        # from GOOGLE_PROJECT or gcloud defaults.
        self.provider = gcp.Provider(f"{name}-provider", project=args.project,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.services = [
            gcp.projects.Service(f"{name}-{api.split('.')[0]}", project=args.project, service=api,
                                 disable_on_destroy=False, disable_dependent_services=False,
                                 opts=pulumi.ResourceOptions(parent=self, provider=self.provider))
            for api in args.apis
        ]
        self.register_outputs({"project": args.project, "apis": list(args.apis)})

    def after_apis(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """Resource transformation: a `gcp:*` resource (other than a Service) depends on every service."""
        if not args.type_.startswith("gcp:") or args.type_ == SERVICE_TYPE:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=list(self.services)))
        return pulumi.ResourceTransformationResult(args.props, opts)

    def child_options(self, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for a component below `parent` that holds GCP resources: this provider, after the APIs."""
        return pulumi.ResourceOptions(parent=parent, providers={"gcp": self.provider},
                                      transformations=[self.after_apis])
