"""Stack-wide parts of the replica set: the private DNS zones that name the members in both clouds, and
the Job that reconciles the set (in the primary region, after every member exists).

Resolution across clouds (docs/database.md): every member's address is fixed by the plan, so the
same records are written into two authoritative private zones, a Route 53 private hosted zone
associated with every AWS VPC and a Cloud DNS private zone on the GCP network. Each cloud answers
from its own zone; no query crosses the VPN, and losing a link never breaks name resolution.

The Job authenticates with an x.509 client certificate whose O differs from the members' (so it is a
user, `$external`, created by the bootstrap member over the localhost exception, never a member), valid
for one day: the copy left in its Secret after the run is useless by the next day, and the next `up`
after that issues a fresh one. It creates the per-purpose users (app, backup, restore, monitor); no root user
exists and no root password is copied anywhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.database.manifests import (
    CLIENT_LABEL,
    TLS_DIR,
    labels,
    reconcile_job_spec,
)
from components.pki.leaf import LeafCertificate, LeafCertificateArgs
from components.tags import aws_tags, gcp_labels
from infra.planning.database import MAX_LAG_SECONDS, NAMESPACE, PORT, DatabasePlan, Member

SCRIPT = Path(__file__).resolve().parent / "scripts" / "reconcile.js"
RECORD_TTL = 60
CLIENT_ORG = "global-ai-rollout mongodb clients"  # not the members' O: a client, never a member
RECONCILE_CN = "mongodb-reconcile"
# The user name MongoDB derives from the certificate subject (RFC 2253, most specific first).
RECONCILE_SUBJECT = f"CN={RECONCILE_CN},O={CLIENT_ORG}"
USERS_SECRET = "mongodb-users"
APP_DATABASE = "rollout"


def job_name(plan: DatabasePlan) -> str:
    """A new Job (a new run) whenever the planned document or the script changes."""
    digest = hashlib.sha256((json.dumps(plan.replica_set_config(), sort_keys=True) + SCRIPT.read_text()).encode())
    return f"mongodb-reconcile-{digest.hexdigest()[:10]}"


def reconcile_command(plan: DatabasePlan) -> str:
    """Retry the connection until the bootstrap member has initiated the set and created our user."""
    hosts = ",".join(f"{m.host}:{PORT}" for m in plan.members)
    auth = "authMechanism=MONGODB-X509&authSource=%24external"
    return (f'until mongosh --quiet --tls --tlsCAFile {TLS_DIR}/ca.pem --tlsCertificateKeyFile {TLS_DIR}/tls.pem '
            f'"mongodb://{hosts}/admin?replicaSet={plan.replica_set}&{auth}" --file /scripts/reconcile.js; '
            f'do echo "reconcile failed; retrying in 30 s"; sleep 30; done')


@dataclass(frozen=True)
class ReplicaSetArgs:
    plan: DatabasePlan
    environment: str
    tags: dict[str, str]
    aws_vpcs: dict[str, tuple[pulumi.Input[str], str]]  # region -> (VPC id, AWS region)
    gcp_network_self_link: pulumi.Input[str] | None
    gcp_project: str | None
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]  # secret
    passwords: dict[str, pulumi.Input[str]]  # user (app, backup, restore, monitor) -> password (secret)
    namespace: pulumi.Resource | None = None  # the primary cluster's rollout-data Namespace (created first)
    named_members: tuple[Member, ...] = ()  # more members named in the same zones (the sharded cluster's)


class ReplicaSet(pulumi.ComponentResource):
    def __init__(self, name: str, args: ReplicaSetArgs, primary_provider: k8s.Provider,
                 members: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:database:ReplicaSet", name, None, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        records: list[pulumi.Resource] = []
        if args.aws_vpcs:
            zone = aws.route53.Zone(
                f"{name}-private-zone", name=plan.dns_zone, comment="MongoDB members (private)",
                vpcs=[aws.route53.ZoneVpcArgs(vpc_id=vpc_id, vpc_region=location)
                      for vpc_id, location in args.aws_vpcs.values()],
                tags=aws_tags(args.tags, f"{args.environment}-mongodb-zone"), opts=child)
            records += [aws.route53.Record(f"{name}-r53-{m.name}", zone_id=zone.zone_id, name=m.host, type="A",
                                           ttl=RECORD_TTL, records=[m.address], opts=child)
                        for m in (*plan.members, *args.named_members)]
        if args.gcp_network_self_link is not None:
            managed = gcp.dns.ManagedZone(
                f"{name}-private-zone-gcp", name=f"rollout-{args.environment}-mongodb", dns_name=f"{plan.dns_zone}.",
                project=args.gcp_project, visibility="private", description="MongoDB members (private)",
                private_visibility_config=gcp.dns.ManagedZonePrivateVisibilityConfigArgs(
                    networks=[gcp.dns.ManagedZonePrivateVisibilityConfigNetworkArgs(
                        network_url=args.gcp_network_self_link)]),
                labels=gcp_labels(args.tags),
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))  # fixed name
            records += [gcp.dns.RecordSet(f"{name}-cdns-{m.name}", managed_zone=managed.name, project=args.gcp_project,
                                          name=f"{m.host}.", type="A", ttl=RECORD_TTL, rrdatas=[m.address], opts=child)
                        for m in (*plan.members, *args.named_members)]

        # The Secrets and the ConfigMap name their namespace by value: an explicit edge to it.
        kube = pulumi.ResourceOptions(parent=self, provider=primary_provider,
                                      depends_on=[args.namespace] if args.namespace is not None else [])
        cert = LeafCertificate(f"{name}-reconcile-tls", LeafCertificateArgs(
            ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
            common_name=RECONCILE_CN, usage="client", organization=CLIENT_ORG,
            validity_days=1, early_renewal_days=0), opts=child)
        region = plan.primary_region
        tls = k8s.core.v1.Secret(
            f"{name}-reconcile-tls", metadata={"name": "mongodb-reconcile-tls", "namespace": NAMESPACE,
                                               "labels": labels(region)},
            type="Opaque", string_data={
                "tls.pem": pulumi.Output.secret(pulumi.Output.concat(cert.cert_pem, cert.private_key_pem)),
                "ca.pem": args.ca_cert_pem}, opts=kube)
        users = k8s.core.v1.Secret(
            f"{name}-users", metadata={"name": USERS_SECRET, "namespace": NAMESPACE, "labels": labels(region)},
            type="Opaque", string_data={user: pulumi.Output.secret(pw) for user, pw in sorted(args.passwords.items())},
            opts=kube)
        config = k8s.core.v1.ConfigMap(
            f"{name}-reconcile-config", metadata={"name": "mongodb-reconcile", "namespace": NAMESPACE,
                                                  "labels": labels(region)},
            data={"desired.json": json.dumps(plan.replica_set_config(), indent=2, sort_keys=True),
                  "reconcile.js": SCRIPT.read_text()}, opts=kube)
        job_labels = {**labels(region), "app.kubernetes.io/name": "mongodb-reconcile", CLIENT_LABEL: "true"}
        budget = plan.reconcile_wait_seconds()
        env = [{"name": "DESIRED_CONFIG", "value": "/scripts/desired.json"},
               {"name": "TIMEOUT_SECONDS", "value": str(budget)},
               {"name": "MAX_LAG_SECONDS", "value": str(MAX_LAG_SECONDS)},
               {"name": "APP_DATABASE", "value": APP_DATABASE},
               *({"name": f"{user.upper()}_PASSWORD",
                  "valueFrom": {"secretKeyRef": {"name": USERS_SECRET, "key": user}}}
                 for user in sorted(args.passwords))]
        k8s.batch.v1.Job(
            f"{name}-reconcile", metadata={"name": job_name(plan), "namespace": NAMESPACE, "labels": job_labels},
            spec=reconcile_job_spec(job_labels=job_labels, image=plan.image, command=reconcile_command(plan), env=env,
                                    budget_seconds=budget, scripts_config_map="mongodb-reconcile",
                                    tls_secret="mongodb-reconcile-tls"),
            # Deliberate wait: the Job may let new members finish their initial sync (plan budget).
            opts=pulumi.ResourceOptions(
                parent=self, provider=primary_provider, depends_on=[*members, *records, tls, users, config],
                custom_timeouts=pulumi.CustomTimeouts(create=f"{budget}s", update=f"{budget}s")))
        self.records = records  # every member's name: the sharded cluster's Job waits for them too
        self.users = users
        self.register_outputs({"privateZone": plan.dns_zone})
