"""One region's MongoDB members on its cluster, as `infra.planning.database` planned them.

Per member: a one-pod StatefulSet pinned to the member's zone (so the zone the plan promises is the
zone the pod and its volume live in, and the internal load balancer's fixed address sits in that
same zone), a TLS Secret with its certificate from the private CA, and a `LoadBalancer` Service
selected by pod name at the member's fixed private address. Per region: an encrypting, expandable
StorageClass, the headless Service, a PodDisruptionBudget, NetworkPolicies, the address
reservations, the application user's Secret for the serving namespace, and (in the one region per
cloud that runs it) the backup (components/database/backup.py).

Rolling changes go one member at a time across the whole set: every member StatefulSet depends on the
previous one (`after`, threaded through the regions by GlobalRollout), the engine waits for each to
be ready before it touches the next, and ready means caught up (manifests.READY_JS). A renewed
certificate changes the pod template's `rollout.dev/tls-sha256` annotation, so renewal is one such
rolling restart. The wait is deliberate: `customTimeouts` from the plan's budget.

Annotations: AWS Load Balancer Controller service annotations
(https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/);
GKE internal passthrough load balancer (https://cloud.google.com/kubernetes-engine/docs/how-to/internal-load-balancing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.database.backup import BackupArgs, declare_backup
from components.database.exporter import declare_exporter
from components.database.manifests import (
    APP_LABEL,
    HEADLESS,
    SCRIPTS_CONFIG,
    SERVING_NAMESPACE,
    TLS_HASH_ANNOTATION,
    clients_policy,
    labels,
    member_pod_spec,
    members_policy,
)
from components.pki.leaf import LeafCertificate, LeafCertificateArgs
from components.tags import gcp_labels
from infra.planning.addressing import member_block
from infra.planning.database import NAMESPACE, PORT, DatabasePlan, Member
from infra.planning.regions import RegionPlan

STORAGE_CLASS = "mongodb-encrypted"
APP_SECRET = "mongodb-app"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
# Same O in every member subject: mongod treats a peer with the members' O/OU/DC as a member
# (https://www.mongodb.com/docs/manual/core/security-x.509/#member-certificate-requirements). Clients
# get another O (replica_set.CLIENT_ORG), so no client certificate is a member identity.
MEMBER_ORG = "global-ai-rollout mongodb members"
CERT_VALIDITY_DAYS = 90
CERT_RENEWAL_DAYS = 30  # the first `up` in the last 30 days re-issues, and rolls the members


def member_dns_names(plan: DatabasePlan, m: Member, headless: str = HEADLESS) -> tuple[str, ...]:
    """Every name the member answers to: its private DNS name, its pod name behind the headless
    Service, and localhost (probes and the localhost exception)."""
    return (m.host, f"{m.pod}.{headless}.{NAMESPACE}.svc.cluster.local", f"{m.pod}.{headless}.{NAMESPACE}.svc",
            "localhost")


def load_balancer_annotations(m: Member, subnet_id: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
    if m.cloud == "aws":
        return {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
            "service.beta.kubernetes.io/aws-load-balancer-subnets": subnet_id or "",
            "service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses": m.address,
        }
    return {"networking.gke.io/load-balancer-type": "Internal",
            "networking.gke.io/internal-load-balancer-allow-global-access": "true"}


def seconds(value: int) -> str:
    return f"{value}s"


@dataclass(frozen=True)
class RegionDatabaseArgs:
    plan: DatabasePlan
    region: RegionPlan
    tags: dict[str, str]
    environment: str
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]  # secret
    app_password: pulumi.Input[str]  # secret (pulumi-random): the application user, in rollout-serving
    backup_password: pulumi.Input[str] | None = None  # secret: only where the backup runs
    monitor_password: pulumi.Input[str] | None = None  # secret: the exporter's user (None: no exporter)
    reconcile_subject: str = ""  # the reconcile Job's x.509 user, created by the bootstrap member
    private_subnet_ids: Sequence[pulumi.Input[str]] = field(default=())  # AWS, in the order of the zones
    subnetwork_self_link: pulumi.Input[str] | None = None  # GCP
    oidc_provider_arn: pulumi.Input[str] | None = None  # AWS: IRSA for the backup
    oidc_issuer: pulumi.Input[str] | None = None
    gcp_project: str | None = None  # GCP: bucket and workload identity pool
    run_backup: bool = False
    after: pulumi.Resource | None = None  # the member rolled before this region's first (one at a time)


class RegionDatabase(pulumi.ComponentResource):
    """The region's members and everything they need in the region."""

    services: dict[str, k8s.core.v1.Service]  # member name -> its load balancer Service
    stateful_sets: dict[str, k8s.apps.v1.StatefulSet]
    last_member: pulumi.Resource | None  # the next region's first member waits for this one
    backup_bucket: pulumi.Output[str] | None

    def __init__(self, name: str, args: RegionDatabaseArgs, k8s_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:database:RegionDatabase", name, None, opts)
        plan, region = args.plan, args.region
        members = plan.in_region(region.name)
        protect = args.environment == "prod"
        kube = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        ns = NAMESPACE

        # Fixed addresses: reserved so nothing else in the region can take them.
        reservations, subnet_of_zone = reserve_member_addresses(
            self, name, region, members, private_subnet_ids=args.private_subnet_ids,
            environment=args.environment, gcp_project=args.gcp_project,
            subnetwork_self_link=args.subnetwork_self_link, tags=args.tags)
        storage = member_storage_class(self, name, region, k8s_provider)

        # The application's user, for its clients in the serving namespace (never the backup or a root).
        k8s.core.v1.Secret(
            f"{name}-app", metadata={"name": APP_SECRET, "namespace": SERVING_NAMESPACE,
                                     "labels": labels(region.name)},
            type="Opaque", string_data={"username": "app", "password": pulumi.Output.secret(args.app_password),
                                        "database": "rollout"}, opts=kube)

        headless = k8s.core.v1.Service(
            f"{name}-headless", metadata={"name": HEADLESS, "namespace": ns, "labels": labels(region.name)},
            spec={"clusterIP": "None", "publishNotReadyAddresses": True, "selector": labels(region.name),
                  "ports": [{"name": "mongodb", "port": PORT, "targetPort": PORT}]}, opts=kube)
        self.storage = storage  # the region's StorageClass: the sharded cluster's members use it too
        needs: list[pulumi.Resource] = [headless, storage]
        if plan.bootstrap_member in members:
            needs.append(k8s.core.v1.ConfigMap(
                f"{name}-scripts", metadata={"name": SCRIPTS_CONFIG, "namespace": ns, "labels": labels(region.name)},
                # members.txt: the planned members, read at run time (a ConfigMap change restarts nothing);
                # sorted by name, so a traffic edit that reorders the plan's members leaves it unchanged.
                data={"bootstrap.js": (SCRIPTS / "bootstrap.js").read_text(),
                      "members.txt": "".join(sorted(f"{x.host}:{PORT}\n" for x in plan.members))}, opts=kube))

        self.services, self.stateful_sets = {}, {}
        tls_secrets: list[pulumi.Resource] = []
        previous = args.after
        for m in members:
            member = declare_member(self, name, MemberArgs(
                plan=plan, member=m, region=region, ca_cert_pem=args.ca_cert_pem,
                ca_private_key_pem=args.ca_private_key_pem, reconcile_subject=args.reconcile_subject,
                subnet_id=subnet_of_zone.get(m.zone_index)),
                [*needs, *([previous] if previous else [])], reservations, k8s_provider)
            tls_secrets.append(member.tls_secret)
            self.stateful_sets[m.name] = member.stateful_set
            self.services[m.name] = member.service
            previous = member.stateful_set
        self.last_member = previous

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata={"name": "mongodb", "namespace": ns, "labels": labels(region.name)},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": labels(region.name)}}, opts=kube)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", metadata={"name": "mongodb-members", "namespace": ns, "labels": labels(region.name)},
            spec=members_policy(plan, region.name, region.cloud), opts=kube)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-clients", metadata={"name": "mongodb-clients", "namespace": ns,
                                                "labels": labels(region.name)},
            spec=clients_policy(plan), opts=kube)
        if args.monitor_password is not None and members:
            # Member health, replication lag, oplog window for the region's Prometheus
            # (components/database/exporter.py).
            declare_exporter(self, name, plan, region.name, members[0], args.monitor_password, args.ca_cert_pem,
                             k8s_provider, after=[self.stateful_sets[members[0].name]])
        self.backup_bucket = None
        if args.run_backup:
            if args.backup_password is None:
                raise ValueError(f"region {region.name}: the backup needs the backup user's password")
            self.backup_bucket = declare_backup(self, name, BackupArgs(
                plan=plan, region=region, tags=args.tags, protect=protect, backup_password=args.backup_password,
                oidc_provider_arn=args.oidc_provider_arn, oidc_issuer=args.oidc_issuer,
                gcp_project=args.gcp_project), k8s_provider, tls_secret=tls_secrets[0])
        self.register_outputs({"members": [m.name for m in members]})


@dataclass(frozen=True)
class MemberArgs:
    """One member of a replica set (the `mongodb` set, a shard or the config servers) in its region."""

    plan: DatabasePlan
    member: Member
    region: RegionPlan
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]  # secret
    reconcile_subject: str
    subnet_id: pulumi.Input[str] | None = None  # AWS: the member zone's private subnet
    role: str | None = None  # None, "shardsvr" or "configsvr" (manifests.mongod_args)
    app: str = APP_LABEL  # the pods' app.kubernetes.io/name
    extra_labels: dict[str, str] = field(default_factory=dict)  # replica set, residency zone
    headless: str = HEADLESS
    scripts_config: str = SCRIPTS_CONFIG
    source_ranges: tuple[str, ...] | None = None  # who may reach its load balancer (default: the set's ranges)


@dataclass(frozen=True)
class DeclaredMember:
    tls_secret: k8s.core.v1.Secret
    stateful_set: k8s.apps.v1.StatefulSet
    service: k8s.core.v1.Service


def declare_member(owner: pulumi.Resource, name: str, args: MemberArgs, depends_on: list[pulumi.Resource],
                   reservations: list[pulumi.Resource], k8s_provider: k8s.Provider) -> DeclaredMember:
    """A member's certificate and TLS Secret, its one-pod StatefulSet and its load balancer Service, as
    children of `owner` named `<name>-<member>-*`."""
    plan, m, region = args.plan, args.member, args.region
    ns = NAMESPACE
    member_labels = labels(region.name, m.name, args.app, args.extra_labels)
    cert = LeafCertificate(f"{name}-{m.name}-tls", LeafCertificateArgs(
        ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
        common_name=m.host, usage="peer", dns_names=member_dns_names(plan, m, args.headless),
        ip_addresses=(m.address, "127.0.0.1"), organization=MEMBER_ORG,
        validity_days=CERT_VALIDITY_DAYS, early_renewal_days=CERT_RENEWAL_DAYS),
        opts=pulumi.ResourceOptions(parent=owner))
    tls_secret = k8s.core.v1.Secret(
        f"{name}-{m.name}-tls", metadata={"name": f"{m.name}-tls", "namespace": ns, "labels": member_labels},
        type="Opaque", string_data={
            "tls.pem": pulumi.Output.secret(pulumi.Output.concat(cert.cert_pem, cert.private_key_pem)),
            "ca.pem": args.ca_cert_pem},
        opts=pulumi.ResourceOptions(parent=owner, provider=k8s_provider))
    tls_hash = pulumi.Output.all(cert.cert_pem, args.ca_cert_pem).apply(
        lambda pems: hashlib.sha256("".join(pems).encode()).hexdigest())
    wait = seconds(plan.member_wait_seconds())
    stateful_set = k8s.apps.v1.StatefulSet(
        f"{name}-{m.name}",
        metadata={"name": m.name, "namespace": ns, "labels": member_labels},
        spec={
            "serviceName": args.headless, "replicas": 1, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": member_labels},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": member_labels, "annotations": {TLS_HASH_ANNOTATION: tls_hash}},
                "spec": member_pod_spec(plan, m, args.reconcile_subject, args.role, args.app, args.scripts_config),
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": member_labels},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                         "resources": {"requests": {"storage": f"{plan.storage_gib}Gi"}}},
            }],
        },
        # Protected in every stack (policy stateful-resources-protected); its volumes are also retained
        # by the StatefulSet's PVC retention policy and the StorageClass. volumeClaimTemplates cannot
        # change on a live StatefulSet (the engine would replace it): a bigger `storageGib` applies to
        # new members, and existing claims are expanded in place (docs/database.md "Resize").
        opts=pulumi.ResourceOptions(parent=owner, provider=k8s_provider, protect=True,
                                    depends_on=[tls_secret, *depends_on],
                                    ignore_changes=["spec.volumeClaimTemplates"],
                                    custom_timeouts=pulumi.CustomTimeouts(create=wait, update=wait)))
    service = k8s.core.v1.Service(
        f"{name}-{m.name}-lb",
        metadata={"name": f"{m.name}-lb", "namespace": ns, "labels": member_labels,
                  "annotations": load_balancer_annotations(m, args.subnet_id)},
        spec={"type": "LoadBalancer", "selector": {"statefulset.kubernetes.io/pod-name": m.pod},
              # A syncing member (not ready) must stay reachable: the primary's heartbeats tell
              # it is SECONDARY, which is when the reconcile Job grants its vote.
              "publishNotReadyAddresses": True,
              "ports": [{"name": "mongodb", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
              "loadBalancerSourceRanges": list(plan.member_ranges if args.source_ranges is None
                                               else args.source_ranges),
              **({"loadBalancerIP": m.address} if m.cloud == "gcp" else {})},
        opts=pulumi.ResourceOptions(parent=owner, provider=k8s_provider, depends_on=reservations))
    return DeclaredMember(tls_secret, stateful_set, service)


def reserve_member_addresses(parent: pulumi.Resource, name: str, region: RegionPlan, members: Sequence[Member], *,
                             private_subnet_ids: Sequence[pulumi.Input[str]], environment: str,
                             gcp_project: pulumi.Input[str] | None,
                             subnetwork_self_link: pulumi.Input[str] | None, tags: dict[str, str],
                             already_reserved: frozenset[int] = frozenset(),
                             ) -> tuple[list[pulumi.Resource], dict[int, pulumi.Input[str]]]:
    """The members' fixed addresses, reserved so nothing else in the region takes them: on AWS the member
    block of each zone's private subnet (skipping zones in `already_reserved`, whose block another set
    reserved), on GCP one internal address per member. Returns the reservations and each zone's subnet."""
    reservations: list[pulumi.Resource] = []
    subnet_of_zone: dict[int, pulumi.Input[str]] = {}
    if region.cloud == "aws":
        for zone_index in sorted({m.zone_index for m in members}):
            subnet_of_zone[zone_index] = private_subnet_ids[zone_index]
            if zone_index in already_reserved:
                continue
            reservations.append(aws.ec2.SubnetCidrReservation(
                f"{name}-members-{region.zones[zone_index]}", region=region.location,
                subnet_id=private_subnet_ids[zone_index],
                cidr_block=member_block(region.addresses, zone_index), reservation_type="explicit",
                description=f"MongoDB member load balancers ({region.name})",
                opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True)))
    else:
        for m in members:
            reservations.append(gcp.compute.Address(
                f"{name}-{m.name}", name=f"rollout-{environment}-{m.name}", region=region.location,
                project=gcp_project, address_type="INTERNAL", address=m.address,
                subnetwork=subnetwork_self_link, labels=gcp_labels(tags),
                description=f"MongoDB member {m.name}",
                opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True)))
    return reservations, subnet_of_zone


def member_storage_class(parent: pulumi.Resource, name: str, region: RegionPlan,
                         k8s_provider: pulumi.ProviderResource) -> pulumi.Resource:
    """The members' volumes: encrypted gp3 (EBS CSI) or pd-balanced (always encrypted at rest,
    Google-managed keys), retained on delete, bound where the pod lands, expandable online
    (docs/database.md "Resize")."""
    if region.cloud == "aws":
        provisioner, params = "ebs.csi.aws.com", {"type": "gp3", "encrypted": "true", "fsType": "xfs"}
    else:
        provisioner, params = "pd.csi.storage.gke.io", {"type": "pd-balanced"}
    return k8s.storage.v1.StorageClass(
        f"{name}-storage", metadata={"name": STORAGE_CLASS, "labels": labels(region.name)},
        provisioner=provisioner, parameters=params, reclaim_policy="Retain",
        volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True,
        # Parameters are immutable and the name is fixed: replace by delete first (bound volumes keep
        # their PersistentVolumes; only new claims read the class).
        opts=pulumi.ResourceOptions(parent=parent, provider=k8s_provider, delete_before_replace=True))
