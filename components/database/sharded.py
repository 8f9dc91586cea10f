"""The zone-sharded cluster of user data (infra/planning/residency.py, docs/residency.md), beside the
`mongodb` replica set, which keeps the global data (model registry, client keys) unsharded.

`RegionShards`, per region: the members of the shards whose zone includes the region and of the config
servers that run there (one StatefulSet per member, declared by region_database.declare_member exactly
as the replica set's: pinned zone, fixed load balancer address, TLS from the private CA, x.509 members),
per set a headless Service, a PodDisruptionBudget and a NetworkPolicy (sharded_manifests: only the flows
each needs), the `mongos` routers (a Deployment of two over two zones, PSA restricted, its Service and
PDB), and the backup of every shard whose backup region it is (a bucket in the shard's own region,
tagged with its zone).

`ShardedCluster`, once, in the primary region's cluster: the Job that reconciles each shard and the
config servers toward the plan (scripts/reconcile.js, one set after the other) and then, through the
region's `mongos`, adds the shards, ties them to their zones and shards the user-data collection
(scripts/sharding.js). It reuses the replica set's users Secret (the same per-purpose users exist in
every set) and runs after the private DNS records of every member.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.database.backup import BackupArgs, declare_backup
from components.database.manifests import (
    CLIENT_LABEL,
    TLS_DIR,
    labels,
    reconcile_job_spec,
)
from components.database.region_database import (
    CERT_RENEWAL_DAYS,
    CERT_VALIDITY_DAYS,
    MEMBER_ORG,
    MemberArgs,
    declare_member,
    member_storage_class,
    reserve_member_addresses,
)
from components.database.replica_set import APP_DATABASE, CLIENT_ORG, RECONCILE_CN, USERS_SECRET
from components.database.sharded_manifests import (
    ROUTER_APP,
    ROUTER_SERVICE,
    ROUTER_TLS,
    ROUTER_WAIT_SECONDS,
    clients_policy,
    config_policy,
    router_deployment_spec,
    router_policy,
    set_app,
    set_labels,
    set_role,
    shard_policy,
    sharding_setup,
)
from components.pki.leaf import LeafCertificate, LeafCertificateArgs
from infra.planning.database import MAX_LAG_SECONDS, NAMESPACE, PORT, DatabasePlan
from infra.planning.regions import RegionPlan
from infra.planning.residency import CONFIG_SET, ResidencyPlan

SCRIPTS = Path(__file__).resolve().parent / "scripts"
USER_DATA_COLLECTION = "userdata"  # in APP_DATABASE: the one sharded collection; every other stays unsharded
USER_DATA_NAMESPACE = f"{APP_DATABASE}.{USER_DATA_COLLECTION}"


def headless_name(set_name: str) -> str:
    return f"mongodb-{set_name}"


def scripts_name(set_name: str) -> str:
    return f"mongodb-scripts-{set_name}"


@dataclass(frozen=True)
class RegionShardsArgs:
    plan: ResidencyPlan
    region: RegionPlan
    ranges: dict[str, tuple[str, ...]]  # every region -> its member ranges (database.member_ranges)
    tags: dict[str, str]
    environment: str
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]  # secret
    reconcile_subject: str
    backup_password: pulumi.Input[str] | None = None  # secret: where a shard's backup runs
    private_subnet_ids: Sequence[pulumi.Input[str]] = field(default=())  # AWS, in the order of the zones
    subnetwork_self_link: pulumi.Input[str] | None = None  # GCP
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer: pulumi.Input[str] | None = None
    gcp_project: str | None = None
    storage: pulumi.Resource | None = None  # the replica set's StorageClass in this region, if it has one
    reserved_zone_indexes: tuple[int, ...] = ()  # AWS: member blocks the replica set already reserved
    after: pulumi.Resource | None = None  # the member rolled before this region's first (one at a time)


class RegionShards(pulumi.ComponentResource):
    """The region's shard and config server members, its routers and its shards' backups."""

    stateful_sets: dict[str, k8s.apps.v1.StatefulSet]
    last_member: pulumi.Resource | None
    backup_buckets: dict[str, pulumi.Output[str]]  # shard -> its bucket in this region

    def __init__(self, name: str, args: RegionShardsArgs, k8s_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:database:RegionShards", name, None, opts)
        plan, region = args.plan, args.region
        kube = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        sets = [rs for rs in plan.sets() if rs.in_region(region.name)]
        members = [m for rs in sets for m in rs.in_region(region.name)]

        # The replica set's reservation, where it has one, covers the whole member block of its zones.
        reservations, subnet_of_zone = reserve_member_addresses(
            self, name, region, members, private_subnet_ids=args.private_subnet_ids,
            environment=args.environment, gcp_project=args.gcp_project,
            subnetwork_self_link=args.subnetwork_self_link, tags=args.tags,
            already_reserved=frozenset(args.reserved_zone_indexes))
        storage = args.storage
        if storage is None and members:
            storage = member_storage_class(self, name, region, k8s_provider)

        self.stateful_sets = {}
        tls_of: dict[str, pulumi.Resource] = {}
        previous = args.after
        for rs in sets:
            set_name = rs.replica_set
            app, extra = set_app(set_name), set_labels(plan, set_name)
            selector = labels(region.name, app=app, extra=extra)
            headless = k8s.core.v1.Service(
                f"{name}-{set_name}-headless",
                metadata={"name": headless_name(set_name), "namespace": NAMESPACE, "labels": selector},
                spec={"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector,
                      "ports": [{"name": "mongodb", "port": PORT, "targetPort": PORT}]}, opts=kube)
            needs: list[pulumi.Resource] = [headless, *([storage] if storage is not None else [])]
            if rs.bootstrap_member.region == region.name:
                needs.append(k8s.core.v1.ConfigMap(
                    f"{name}-{set_name}-scripts",
                    metadata={"name": scripts_name(set_name), "namespace": NAMESPACE, "labels": selector},
                    data={"bootstrap.js": (SCRIPTS / "bootstrap.js").read_text(),
                          "members.txt": "".join(sorted(f"{x.host}:{PORT}\n" for x in rs.members))}, opts=kube))
            for m in rs.in_region(region.name):
                member = declare_member(self, name, MemberArgs(
                    plan=rs, member=m, region=region, ca_cert_pem=args.ca_cert_pem,
                    ca_private_key_pem=args.ca_private_key_pem, reconcile_subject=args.reconcile_subject,
                    subnet_id=subnet_of_zone.get(m.zone_index), role=set_role(set_name), app=app,
                    extra_labels=extra, headless=headless_name(set_name), scripts_config=scripts_name(set_name),
                    # Routers in every region dial every shard and config server through its load balancer.
                    source_ranges=tuple(dict.fromkeys(c for cidrs in args.ranges.values() for c in cidrs))),
                    [*needs, *([previous] if previous else [])], reservations, k8s_provider)
                tls_of.setdefault(set_name, member.tls_secret)
                self.stateful_sets[m.name] = member.stateful_set
                previous = member.stateful_set
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{set_name}-pdb", metadata={"name": headless_name(set_name), "namespace": NAMESPACE,
                                                    "labels": selector},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}}, opts=kube)
            spec = (config_policy(plan, region.name, region.cloud, args.ranges) if set_name == CONFIG_SET
                    else shard_policy(plan, set_name, region.name, region.cloud, args.ranges))
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{set_name}-netpol", metadata={"name": headless_name(set_name), "namespace": NAMESPACE,
                                                       "labels": selector}, spec=spec, opts=kube)
        self.last_member = previous

        # mongos: every region, two replicas over two zones.
        router = next(r for r in plan.routers if r.region == region.name)
        image = plan.config_servers.image
        router_labels = labels(region.name, app=ROUTER_APP)
        host = f"{ROUTER_SERVICE}.{NAMESPACE}.svc"
        cert = LeafCertificate(f"{name}-mongos-tls", LeafCertificateArgs(
            ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem, common_name=host,
            usage="peer", dns_names=(host, f"{host}.cluster.local", "localhost"), ip_addresses=("127.0.0.1",),
            organization=MEMBER_ORG, validity_days=CERT_VALIDITY_DAYS, early_renewal_days=CERT_RENEWAL_DAYS),
            opts=pulumi.ResourceOptions(parent=self))
        router_tls = k8s.core.v1.Secret(
            f"{name}-mongos-tls", metadata={"name": ROUTER_TLS, "namespace": NAMESPACE, "labels": router_labels},
            type="Opaque", string_data={
                "tls.pem": pulumi.Output.secret(pulumi.Output.concat(cert.cert_pem, cert.private_key_pem)),
                "ca.pem": args.ca_cert_pem}, opts=kube)
        flows = k8s.networking.v1.NetworkPolicy(
            f"{name}-mongos-netpol", metadata={"name": ROUTER_APP, "namespace": NAMESPACE, "labels": router_labels},
            spec=router_policy(plan), opts=kube)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-sharded-clients", metadata={"name": "mongodb-sharded-clients", "namespace": NAMESPACE,
                                                 "labels": labels(region.name)},
            spec=clients_policy(plan), opts=kube)
        self.router = k8s.apps.v1.Deployment(
            f"{name}-mongos", metadata={"name": ROUTER_APP, "namespace": NAMESPACE, "labels": router_labels},
            spec=router_deployment_spec(plan, router, image),
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[router_tls, flows],
                                        custom_timeouts=pulumi.CustomTimeouts(
                                            create=f"{ROUTER_WAIT_SECONDS}s",
                                            update=f"{2 * ROUTER_WAIT_SECONDS}s")))
        k8s.core.v1.Service(
            f"{name}-mongos-svc", metadata={"name": ROUTER_SERVICE, "namespace": NAMESPACE, "labels": router_labels},
            spec={"selector": router_labels, "ports": [{"name": "mongodb", "port": PORT, "targetPort": PORT}]},
            opts=kube)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-mongos-pdb", metadata={"name": ROUTER_APP, "namespace": NAMESPACE, "labels": router_labels},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": router_labels}}, opts=kube)

        # Backups: each shard to a bucket in one of its own regions (the planner's backup_regions).
        self.backup_buckets = {}
        for shard in plan.shards:
            if region.name not in shard.backup_regions():
                continue
            if args.backup_password is None:
                raise ValueError(f"region {region.name}: the backup of {shard.name} needs the backup user's password")
            self.backup_buckets[shard.name] = declare_backup(self, f"{name}-{shard.name}", BackupArgs(
                plan=shard.replica_set, region=region, tags=args.tags, protect=args.environment == "prod",
                backup_password=args.backup_password, oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer, gcp_project=args.gcp_project, suffix=f"-{shard.name}",
                zone=shard.zone), k8s_provider, tls_secret=tls_of[shard.name])
        self.register_outputs({"members": [m.name for m in members], "router": ROUTER_APP})


def job_name(plan: ResidencyPlan) -> str:
    """A new Job (a new run) whenever a planned set, the sharding setup or a script changes."""
    text = json.dumps([rs.replica_set_config() for rs in plan.sets()] + [sharding_setup(plan, USER_DATA_NAMESPACE)],
                      sort_keys=True)
    text += (SCRIPTS / "reconcile.js").read_text() + (SCRIPTS / "sharding.js").read_text()
    return f"mongodb-sharded-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def desired_config(rs: DatabasePlan) -> dict:
    """The document reconcile.js converges a set toward; the config servers' says `configsvr`."""
    return {**rs.replica_set_config(), **({"configsvr": True} if rs.replica_set == CONFIG_SET else {})}


def reconcile_command(plan: ResidencyPlan) -> str:
    """Each set in turn (retried until its bootstrap member has initiated it), then the sharding setup
    through this region's mongos."""
    tls = f"--tls --tlsCAFile {TLS_DIR}/ca.pem --tlsCertificateKeyFile {TLS_DIR}/tls.pem"
    auth = "authMechanism=MONGODB-X509&authSource=%24external"
    steps = []
    for rs in plan.sets():
        hosts = ",".join(f"{m.host}:{PORT}" for m in rs.members)
        steps.append(f'until DESIRED_CONFIG=/scripts/desired-{rs.replica_set}.json mongosh --quiet {tls} '
                     f'"mongodb://{hosts}/admin?replicaSet={rs.replica_set}&{auth}" --file /scripts/reconcile.js; '
                     f'do echo "reconcile {rs.replica_set} failed; retrying in 30 s"; sleep 30; done')
    steps.append(f'until SHARDING_SETUP=/scripts/sharding.json mongosh --quiet {tls} '
                 f'"mongodb://{ROUTER_SERVICE}.{NAMESPACE}.svc:{PORT}/admin?{auth}" --file /scripts/sharding.js; '
                 f'do echo "sharding setup failed; retrying in 30 s"; sleep 30; done')
    return "; ".join(steps)


@dataclass(frozen=True)
class ShardedClusterArgs:
    plan: ResidencyPlan
    region: str  # where the Job runs (the replica set's primary region: its users Secret is there)
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]  # secret
    users: tuple[str, ...]  # the per-purpose users whose passwords USERS_SECRET holds


class ShardedCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ShardedClusterArgs, provider: k8s.Provider, after: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:database:ShardedCluster", name, None, opts)
        plan = args.plan
        kube = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=after)
        cert = LeafCertificate(f"{name}-reconcile-tls", LeafCertificateArgs(
            ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
            common_name=RECONCILE_CN, usage="client", organization=CLIENT_ORG,
            validity_days=1, early_renewal_days=0), opts=pulumi.ResourceOptions(parent=self))
        tls = k8s.core.v1.Secret(
            f"{name}-reconcile-tls", metadata={"name": "mongodb-sharded-reconcile-tls", "namespace": NAMESPACE,
                                               "labels": labels(args.region)},
            type="Opaque", string_data={
                "tls.pem": pulumi.Output.secret(pulumi.Output.concat(cert.cert_pem, cert.private_key_pem)),
                "ca.pem": args.ca_cert_pem}, opts=kube)
        data = {f"desired-{rs.replica_set}.json": json.dumps(desired_config(rs), indent=2, sort_keys=True)
                for rs in plan.sets()}
        data.update({"sharding.json": json.dumps(sharding_setup(plan, USER_DATA_NAMESPACE), indent=2, sort_keys=True),
                     "reconcile.js": (SCRIPTS / "reconcile.js").read_text(),
                     "sharding.js": (SCRIPTS / "sharding.js").read_text()})
        config = k8s.core.v1.ConfigMap(
            f"{name}-reconcile-config", metadata={"name": "mongodb-sharded-reconcile", "namespace": NAMESPACE,
                                                  "labels": labels(args.region)}, data=data, opts=kube)
        job_labels = {**labels(args.region), "app.kubernetes.io/name": "mongodb-sharded-reconcile",
                      CLIENT_LABEL: "true"}
        budget = sum(rs.reconcile_wait_seconds() for rs in plan.sets())
        env = [{"name": "TIMEOUT_SECONDS", "value": str(budget)},
               {"name": "MAX_LAG_SECONDS", "value": str(MAX_LAG_SECONDS)},
               {"name": "APP_DATABASE", "value": APP_DATABASE},
               *({"name": f"{user.upper()}_PASSWORD",
                  "valueFrom": {"secretKeyRef": {"name": USERS_SECRET, "key": user}}}
                 for user in sorted(args.users))]
        k8s.batch.v1.Job(
            f"{name}-reconcile", metadata={"name": job_name(plan), "namespace": NAMESPACE, "labels": job_labels},
            spec=reconcile_job_spec(job_labels=job_labels, image=plan.config_servers.image,
                                    command=reconcile_command(plan), env=env, budget_seconds=budget,
                                    scripts_config_map="mongodb-sharded-reconcile",
                                    tls_secret="mongodb-sharded-reconcile-tls"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[*after, tls, config],
                custom_timeouts=pulumi.CustomTimeouts(create=f"{budget}s", update=f"{budget}s")))
        self.register_outputs({"namespace": USER_DATA_NAMESPACE})
