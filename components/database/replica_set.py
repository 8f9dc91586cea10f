"""Stack-wide parts of the replica set: the private DNS zones that name the members in both clouds, and
the Job that initiates or reconciles the set (in the highest-priority region, after every member exists).

Resolution across clouds (docs/database.md): every member's address is fixed by the plan, so the
same records are written into two authoritative private zones, a Route 53 private hosted zone
associated with every AWS VPC and a Cloud DNS private zone on the GCP network. Each cloud answers
from its own zone; no query crosses the VPN, and losing a link never breaks name resolution.
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

from components.database.region_database import MEMBER_ORG, TLS_DIR, labels, restricted_container_security
from components.pki.leaf import LeafCertificate, LeafCertificateArgs
from components.tags import aws_tags, gcp_labels
from infra.planning.database import NAMESPACE, PORT, DatabasePlan

SCRIPT = Path(__file__).resolve().parent / "scripts" / "reconcile.js"
RECORD_TTL = 60


def job_name(plan: DatabasePlan) -> str:
    """A new Job (a new run) whenever the planned document or the script changes."""
    digest = hashlib.sha256((json.dumps(plan.replica_set_config(), sort_keys=True) + SCRIPT.read_text()).encode())
    return f"mongodb-reconcile-{digest.hexdigest()[:10]}"


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
    admin_password_secret: str  # name of the Secret holding the admin user (every region has it)


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
                        for m in plan.members]
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
                        for m in plan.members]

        kube = pulumi.ResourceOptions(parent=self, provider=primary_provider)
        # The Job authenticates as a cluster member (x.509, same O as the members) so it can initiate
        # the set and create the admin user before any user exists.
        cert = LeafCertificate(f"{name}-reconcile-tls", LeafCertificateArgs(
            ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
            common_name="mongodb-reconcile", usage="client", organization=MEMBER_ORG), opts=child)
        tls = k8s.core.v1.Secret(
            f"{name}-reconcile-tls", metadata={"name": "mongodb-reconcile-tls", "namespace": NAMESPACE,
                                               "labels": labels(plan.primary_region)},
            type="Opaque", string_data={
                "tls.pem": pulumi.Output.secret(pulumi.Output.concat(cert.cert_pem, cert.private_key_pem)),
                "ca.pem": args.ca_cert_pem}, opts=kube)
        config = k8s.core.v1.ConfigMap(
            f"{name}-reconcile-config", metadata={"name": "mongodb-reconcile", "namespace": NAMESPACE,
                                                  "labels": labels(plan.primary_region)},
            data={"desired.json": json.dumps(plan.replica_set_config(), indent=2, sort_keys=True),
                  "reconcile.js": SCRIPT.read_text()}, opts=kube)
        first = plan.in_region(plan.primary_region)[0]
        hosts = ",".join(f"{m.host}:{PORT}" for m in plan.members)
        auth = "authMechanism=MONGODB-X509&authSource=%24external"
        tls_flags = f"--quiet --tls --tlsCAFile {TLS_DIR}/ca.pem --tlsCertificateKeyFile {TLS_DIR}/tls.pem"
        script = (f'mongosh {tls_flags} "mongodb://{hosts}/admin?replicaSet={plan.replica_set}&{auth}" '
                  f'--file /scripts/reconcile.js || '
                  f'mongosh {tls_flags} "mongodb://{first.host}:{PORT}/admin?directConnection=true&{auth}" '
                  f'--file /scripts/reconcile.js')
        job_labels = {**labels(plan.primary_region), "app.kubernetes.io/name": "mongodb-reconcile",
                      "rollout.dev/mongodb-client": "true"}
        k8s.batch.v1.Job(
            f"{name}-reconcile", metadata={"name": job_name(plan), "namespace": NAMESPACE, "labels": job_labels},
            spec={"backoffLimit": 6, "template": {
                "metadata": {"labels": job_labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "reconcile", "image": plan.image, "command": ["sh", "-c", script],
                        "env": [{"name": "DESIRED_CONFIG", "value": "/scripts/desired.json"},
                                {"name": "ADMIN_USER", "valueFrom": {"secretKeyRef": {
                                    "name": args.admin_password_secret, "key": "username"}}},
                                {"name": "ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {
                                    "name": args.admin_password_secret, "key": "password"}}}],
                        "securityContext": restricted_container_security(),
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                        "volumeMounts": [{"name": "scripts", "mountPath": "/scripts", "readOnly": True},
                                         {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}]}],
                    "volumes": [{"name": "scripts", "configMap": {"name": "mongodb-reconcile"}},
                                {"name": "tls", "secret": {"secretName": "mongodb-reconcile-tls",
                                                           "defaultMode": 0o400}}],
                }}},
            opts=pulumi.ResourceOptions(parent=self, provider=primary_provider,
                                        depends_on=[*members, *records, tls, config]))
        self.register_outputs({"privateZone": plan.dns_zone})
