"""One region's MongoDB members on its cluster, as `infra.planning.database` planned them.

Per member: a one-pod StatefulSet pinned to the member's zone (so the zone the plan promises is the
zone the pod and its volume live in, and the internal load balancer's fixed address sits in that
same zone), a TLS Secret with its certificate from the private CA, and a `LoadBalancer` Service
selected by pod name at the member's fixed private address. Per region: an encrypting StorageClass,
the headless Service, a PodDisruptionBudget, NetworkPolicies, the address reservations, and (in the
one region per cloud that runs it) the backup CronJob with its bucket and workload identity.

Annotations: AWS Load Balancer Controller service annotations
(https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/);
GKE internal passthrough load balancer (https://cloud.google.com/kubernetes-engine/docs/how-to/internal-load-balancing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.cluster.irsa import irsa_role
from components.pki.leaf import LeafCertificate, LeafCertificateArgs
from components.tags import aws_tags, gcp_labels
from infra.planning.addressing import member_block
from infra.planning.database import APP_LABEL, NAMESPACE, PORT, DatabasePlan, Member
from infra.planning.regions import RegionPlan

HEADLESS = "mongodb"
STORAGE_CLASS = "mongodb-encrypted"
ADMIN_SECRET = "mongodb-admin"
ADMIN_USER = "admin"
BACKUP_SA = "mongodb-backup"
TLS_DIR = "/etc/mongodb/tls"
# Same O and OU in every member subject: mongod treats a peer with these attributes as a member
# (net.tls.clusterAuthX509, https://www.mongodb.com/docs/manual/core/security-x.509/#member-certificate-requirements).
MEMBER_ORG = "global-ai-rollout mongodb members"
# Pinned tool images for the backup upload (re-check the tags before deploying): AWS CLI versions
# https://github.com/aws/aws-cli/blob/v2/CHANGELOG.rst (image https://hub.docker.com/r/amazon/aws-cli);
# Google Cloud CLI image tags <version>-slim https://cloud.google.com/sdk/docs/downloads-docker
AWS_CLI_IMAGE = "amazon/aws-cli:2.28.23"
GCLOUD_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:529.0.0-slim"
MONGO_UID = 999  # the `mongodb` user of the official image
RESOURCES = {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}


def labels(region: str, member: str | None = None) -> dict[str, str]:
    out = {"app.kubernetes.io/name": APP_LABEL, "app.kubernetes.io/part-of": "rollout",
           "rollout.dev/region": region}
    if member:
        out["app.kubernetes.io/instance"] = member
    return out


def mongod_args(plan: DatabasePlan) -> list[str]:
    return ["--replSet", plan.replica_set, "--bind_ip_all", "--port", str(PORT),
            "--tlsMode", "requireTLS", "--tlsCertificateKeyFile", f"{TLS_DIR}/tls.pem",
            "--tlsCAFile", f"{TLS_DIR}/ca.pem", "--clusterAuthMode", "x509",
            # Members always present their certificate (x.509 membership); application clients and the
            # backup authenticate with a password over TLS and need no client certificate.
            "--tlsAllowConnectionsWithoutCertificates", "--dbpath", "/data/db"]


def mongosh_ping() -> list[str]:
    return ["mongosh", "--quiet", "--tls", "--host", "localhost", "--tlsCAFile", f"{TLS_DIR}/ca.pem",
            "--tlsCertificateKeyFile", f"{TLS_DIR}/tls.pem", "--eval", "db.adminCommand({ping: 1}).ok"]


def restricted_container_security() -> dict:
    """Pod Security 'restricted' (rollout-data enforces it)."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def member_dns_names(plan: DatabasePlan, m: Member) -> tuple[str, ...]:
    """Every name the member answers to: its private DNS name, its pod name behind the headless
    Service, and localhost (probes and the localhost exception)."""
    return (m.host, f"{m.pod}.{HEADLESS}.{NAMESPACE}.svc.cluster.local", f"{m.pod}.{HEADLESS}.{NAMESPACE}.svc",
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


@dataclass(frozen=True)
class RegionDatabaseArgs:
    plan: DatabasePlan
    region: RegionPlan
    tags: dict[str, str]
    environment: str
    ca_cert_pem: pulumi.Input[str]
    ca_private_key_pem: pulumi.Input[str]  # secret
    admin_password: pulumi.Input[str]  # secret (pulumi-random)
    private_subnet_ids: Sequence[pulumi.Input[str]] = field(default=())  # AWS, in the order of the zones
    subnetwork_self_link: pulumi.Input[str] | None = None  # GCP
    oidc_provider_arn: pulumi.Input[str] | None = None  # AWS: IRSA for the backup
    oidc_issuer: pulumi.Input[str] | None = None
    gcp_project: str | None = None  # GCP: bucket and workload identity pool
    run_backup: bool = False


class RegionDatabase(pulumi.ComponentResource):
    """The region's members and everything they need in the region."""

    services: dict[str, k8s.core.v1.Service]  # member name -> its load balancer Service
    admin_secret: k8s.core.v1.Secret
    stateful_sets: dict[str, k8s.apps.v1.StatefulSet]
    backup_bucket: pulumi.Output[str] | None

    def __init__(self, name: str, args: RegionDatabaseArgs, k8s_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:database:RegionDatabase", name, None, opts)
        plan, region = args.plan, args.region
        members = plan.in_region(region.name)
        protect = args.environment == "prod"
        child = pulumi.ResourceOptions(parent=self)
        kube = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        ns = NAMESPACE

        # Fixed addresses: reserved so nothing else in the region can take them.
        reservations: list[pulumi.Resource] = []
        subnet_of_zone: dict[int, pulumi.Input[str]] = {}
        if region.cloud == "aws":
            for zone_index in sorted({m.zone_index for m in members}):
                subnet = args.private_subnet_ids[zone_index]
                subnet_of_zone[zone_index] = subnet
                reservations.append(aws.ec2.SubnetCidrReservation(
                    f"{name}-members-{region.zones[zone_index]}", region=region.location, subnet_id=subnet,
                    cidr_block=member_block(region.addresses, zone_index), reservation_type="explicit",
                    description=f"MongoDB member load balancers ({region.name})",
                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True)))
        else:
            for m in members:
                reservations.append(gcp.compute.Address(
                    f"{name}-{m.name}", name=f"rollout-{args.environment}-{m.name}", region=region.location,
                    project=args.gcp_project, address_type="INTERNAL", address=m.address,
                    subnetwork=args.subnetwork_self_link, labels=gcp_labels(args.tags),
                    description=f"MongoDB member {m.name}",
                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True)))

        if region.cloud == "aws":
            provisioner, params = "ebs.csi.aws.com", {"type": "gp3", "encrypted": "true", "fsType": "xfs"}
        else:  # Persistent disks are always encrypted at rest (Google-managed keys).
            provisioner, params = "pd.csi.storage.gke.io", {"type": "pd-balanced"}
        storage = k8s.storage.v1.StorageClass(
            f"{name}-storage", metadata={"name": STORAGE_CLASS, "labels": labels(region.name)},
            provisioner=provisioner, parameters=params, reclaim_policy="Retain",
            volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True,
            # Parameters are immutable and the name is fixed: replace by delete first (bound volumes keep
            # their PersistentVolumes; only new claims read the class).
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, delete_before_replace=True))

        self.admin_secret = k8s.core.v1.Secret(
            f"{name}-admin", metadata={"name": ADMIN_SECRET, "namespace": ns, "labels": labels(region.name)},
            type="Opaque", string_data={"username": ADMIN_USER, "password": pulumi.Output.secret(args.admin_password)},
            opts=kube)

        headless = k8s.core.v1.Service(
            f"{name}-headless", metadata={"name": HEADLESS, "namespace": ns, "labels": labels(region.name)},
            spec={"clusterIP": "None", "publishNotReadyAddresses": True, "selector": labels(region.name),
                  "ports": [{"name": "mongodb", "port": PORT, "targetPort": PORT}]}, opts=kube)

        self.services, self.stateful_sets = {}, {}
        for m in members:
            cert = LeafCertificate(f"{name}-{m.name}-tls", LeafCertificateArgs(
                ca_cert_pem=args.ca_cert_pem, ca_private_key_pem=args.ca_private_key_pem,
                common_name=m.host, usage="peer", dns_names=member_dns_names(plan, m),
                ip_addresses=(m.address, "127.0.0.1"), organization=MEMBER_ORG), opts=child)
            tls_secret = k8s.core.v1.Secret(
                f"{name}-{m.name}-tls", metadata={"name": f"{m.name}-tls", "namespace": ns,
                                                  "labels": labels(region.name, m.name)},
                type="Opaque", string_data={
                    "tls.pem": pulumi.Output.secret(pulumi.Output.concat(cert.cert_pem, cert.private_key_pem)),
                    "ca.pem": args.ca_cert_pem},
                opts=kube)
            self.stateful_sets[m.name] = self._stateful_set(name, plan, m, region, tls_secret, headless, storage,
                                                            k8s_provider)
            self.services[m.name] = k8s.core.v1.Service(
                f"{name}-{m.name}-lb",
                metadata={"name": f"{m.name}-lb", "namespace": ns, "labels": labels(region.name, m.name),
                          "annotations": load_balancer_annotations(m, subnet_of_zone.get(m.zone_index))},
                spec={"type": "LoadBalancer", "selector": {"statefulset.kubernetes.io/pod-name": m.pod},
                      "ports": [{"name": "mongodb", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
                      "loadBalancerSourceRanges": list(plan.member_ranges),
                      **({"loadBalancerIP": m.address} if m.cloud == "gcp" else {})},
                opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=reservations))

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata={"name": "mongodb", "namespace": ns, "labels": labels(region.name)},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": labels(region.name)}}, opts=kube)
        self._network_policies(name, plan, region, kube)
        self.backup_bucket = self._backup(name, args, kube, child, protect) if args.run_backup else None
        self.register_outputs({"members": [m.name for m in members]})

    def _stateful_set(self, name: str, plan: DatabasePlan, m: Member, region: RegionPlan, tls_secret,
                      headless, storage, k8s_provider) -> k8s.apps.v1.StatefulSet:
        pod_labels = labels(region.name, m.name)
        probe_exec = {"exec": {"command": mongosh_ping()}}
        return k8s.apps.v1.StatefulSet(
            f"{name}-{m.name}",
            metadata={"name": m.name, "namespace": NAMESPACE, "labels": pod_labels},
            spec={
                "serviceName": HEADLESS, "replicas": 1, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": pod_labels},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 60,
                        "securityContext": {"runAsUser": MONGO_UID, "runAsGroup": MONGO_UID, "fsGroup": MONGO_UID,
                                            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "affinity": {
                            # The member's zone is the plan's: its volume and its load balancer address are there.
                            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                                       "values": [m.zone]}]}]}},
                            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                                "weight": 100, "podAffinityTerm": {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": APP_LABEL}}}}]},
                        },
                        "containers": [{
                            "name": "mongod", "image": plan.image, "args": mongod_args(plan),
                            "ports": [{"name": "mongodb", "containerPort": PORT}],
                            "resources": RESOURCES,
                            "securityContext": restricted_container_security(),
                            # Initial sync of a large set can take hours: up to 2 h before liveness applies.
                            "startupProbe": {**probe_exec, "periodSeconds": 30, "timeoutSeconds": 10,
                                             "failureThreshold": 240},
                            "readinessProbe": {**probe_exec, "periodSeconds": 10, "timeoutSeconds": 5,
                                               "failureThreshold": 3},
                            "livenessProbe": {**probe_exec, "periodSeconds": 20, "timeoutSeconds": 10,
                                              "failureThreshold": 6},
                            "volumeMounts": [{"name": "data", "mountPath": "/data/db"},
                                             {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                                             {"name": "tmp", "mountPath": "/tmp"}],
                        }],
                        "volumes": [{"name": "tls", "secret": {"secretName": f"{m.name}-tls", "defaultMode": 0o400}},
                                    {"name": "tmp", "emptyDir": {}}],
                    },
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data", "labels": pod_labels},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                             "resources": {"requests": {"storage": f"{plan.storage_gib}Gi"}}},
                }],
            },
            # Protected in every stack (policy stateful-resources-protected); its volumes are also
            # retained by the StatefulSet's PVC retention policy and the StorageClass.
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, protect=True,
                                        depends_on=[tls_secret, headless, storage]))

    def _network_policies(self, name: str, plan: DatabasePlan, region: RegionPlan, kube) -> None:
        """Specific allows on top of the namespace's default deny: members accept 27017 from the serving
        namespace, the data namespace's own jobs and members, and the member ranges (other regions
        over the private links, the load balancers); they dial only members and DNS."""
        ip_blocks = [{"ipBlock": {"cidr": c}} for c in plan.member_ranges]
        dns = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", metadata={"name": "mongodb-members", "namespace": NAMESPACE,
                                        "labels": labels(region.name)},
            spec={"podSelector": {"matchLabels": {"app.kubernetes.io/name": APP_LABEL}},
                  "policyTypes": ["Ingress", "Egress"],
                  "ingress": [{"from": [
                      {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "rollout-serving"}}},
                      {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "rollout"}}},
                      *ip_blocks], "ports": [{"protocol": "TCP", "port": PORT}]}],
                  "egress": [{"to": ip_blocks, "ports": [{"protocol": "TCP", "port": PORT}]}, dns]},
            opts=kube)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-clients", metadata={"name": "mongodb-clients", "namespace": NAMESPACE,
                                                "labels": labels(region.name)},
            spec={"podSelector": {"matchLabels": {"rollout.dev/mongodb-client": "true"}},
                  "policyTypes": ["Egress"],
                  # Jobs (init, backup) dial the members; the backup also reaches the bucket's HTTPS API.
                  "egress": [{"to": ip_blocks, "ports": [{"protocol": "TCP", "port": PORT}]}, dns,
                             {"ports": [{"protocol": "TCP", "port": 443}]}]},
            opts=kube)

    def _backup(self, name: str, args: RegionDatabaseArgs, kube, child, protect: bool) -> pulumi.Output[str]:
        """A daily dump (from a secondary) to a versioned, encrypted bucket in this cloud; the CronJob's
        service account reaches the bucket through workload identity, never a static key."""
        plan, region = args.plan, args.region
        keep = pulumi.ResourceOptions(parent=self, protect=protect)
        sa_annotations: dict[str, pulumi.Input[str]] = {}
        if region.cloud == "aws":
            key = aws.kms.Key(f"{name}-backup-key", region=region.location, enable_key_rotation=True,
                              deletion_window_in_days=30, description=f"MongoDB backups {region.name}",
                              tags=aws_tags(args.tags, f"{region.name}-mongodb-backup"), opts=keep)
            bucket = aws.s3.Bucket(f"{name}-backup", region=region.location, force_destroy=False,
                                   tags=aws_tags(args.tags, f"{region.name}-mongodb-backup"), opts=keep)
            aws.s3.BucketPublicAccessBlock(f"{name}-backup-private", region=region.location, bucket=bucket.id,
                                           block_public_acls=True, block_public_policy=True,
                                           ignore_public_acls=True, restrict_public_buckets=True, opts=child)
            aws.s3.BucketVersioning(f"{name}-backup-versioning", region=region.location, bucket=bucket.id,
                                    versioning_configuration={"status": "Enabled"}, opts=child)
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-backup-sse", region=region.location, bucket=bucket.id,
                rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                    "kms_master_key_id": key.arn},
                        "bucket_key_enabled": True}], opts=child)
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-backup-retention", region=region.location, bucket=bucket.id,
                rules=[{"id": "retention", "status": "Enabled", "filter": {"prefix": ""},
                        "expiration": {"days": plan.backup_retention_days},
                        "noncurrent_version_expiration": {"noncurrent_days": plan.backup_retention_days}}],
                opts=child)
            role = irsa_role(f"{name}-backup-role", args.oidc_provider_arn, args.oidc_issuer,
                             f"system:serviceaccount:{NAMESPACE}:{BACKUP_SA}",
                             tags=aws_tags(args.tags, f"{region.name}-mongodb-backup"), opts=child)
            aws.iam.RolePolicy(f"{name}-backup-policy", role=role.id, policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": pulumi.Output.concat(bucket.arn, "/*")},
                    {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt"], "Resource": key.arn}]}),
                opts=child)
            sa_annotations["eks.amazonaws.com/role-arn"] = role.arn
            bucket_name = bucket.bucket
            upload = (AWS_CLI_IMAGE, ["sh", "-c", 'aws s3 cp /backup/dump.archive.gz '
                                      '"s3://$BUCKET/$(date -u +%Y/%m/%d/%H%M%S).archive.gz"'])
        else:
            project = args.gcp_project
            gcs = gcp.storage.Bucket(
                f"{name}-backup", name=f"{project}-mongodb-{region.name}"[:63], project=project,
                location=region.location.upper(), storage_class="STANDARD", uniform_bucket_level_access=True,
                public_access_prevention="enforced", versioning={"enabled": True}, force_destroy=False,
                lifecycle_rules=[
                    {"action": {"type": "Delete"}, "condition": {"age": plan.backup_retention_days}},
                    {"action": {"type": "Delete"},
                     "condition": {"days_since_noncurrent_time": plan.backup_retention_days}}],
                labels=gcp_labels(args.tags), opts=keep)
            number = gcp.organizations.get_project_output(project_id=project).number
            gcp.storage.BucketIAMMember(
                f"{name}-backup-writer", bucket=gcs.name, role="roles/storage.objectCreator",
                member=pulumi.Output.concat("principal://iam.googleapis.com/projects/", number,
                                            f"/locations/global/workloadIdentityPools/{project}.svc.id.goog"
                                            f"/subject/ns/{NAMESPACE}/sa/{BACKUP_SA}"), opts=child)
            bucket_name = gcs.name
            upload = (GCLOUD_IMAGE, ["sh", "-c", 'gcloud storage cp /backup/dump.archive.gz '
                                     '"gs://$BUCKET/$(date -u +%Y/%m/%d/%H%M%S).archive.gz"'])
        account = k8s.core.v1.ServiceAccount(
            f"{name}-backup-sa", metadata={"name": BACKUP_SA, "namespace": NAMESPACE,
                                           "labels": labels(region.name), "annotations": sa_annotations},
            automount_service_account_token=True, opts=kube)
        tls_member = plan.in_region(region.name)[0]
        admin_env = [{"name": "MONGO_USER", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "username"}}},
                     {"name": "MONGO_PASSWORD",
                      "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "password"}}}]
        hosts = ",".join(f"{m.host}:{PORT}" for m in plan.members)
        dump = ["sh", "-c", f'mongodump --uri "mongodb://$MONGO_USER:$MONGO_PASSWORD@{hosts}/?replicaSet='
                f'{plan.replica_set}&authSource=admin&readPreference=secondaryPreferred" --tls '
                f'--tlsCAFile {TLS_DIR}/ca.pem --gzip --archive=/backup/dump.archive.gz']
        job_labels = {**labels(region.name), "app.kubernetes.io/name": "mongodb-backup",
                      "rollout.dev/mongodb-client": "true"}
        k8s.batch.v1.CronJob(
            f"{name}-backup-job", metadata={"name": "mongodb-backup", "namespace": NAMESPACE, "labels": job_labels},
            spec={"schedule": plan.backup_schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                  "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                  "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                      "metadata": {"labels": job_labels},
                      "spec": {
                          "serviceAccountName": BACKUP_SA, "restartPolicy": "Never",
                          "securityContext": {"runAsUser": MONGO_UID, "runAsGroup": MONGO_UID, "fsGroup": MONGO_UID,
                                              "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                          "initContainers": [{
                              "name": "dump", "image": plan.image, "command": dump, "env": admin_env,
                              "securityContext": restricted_container_security(),
                              "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                              "volumeMounts": [{"name": "backup", "mountPath": "/backup"},
                                               {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}]}],
                          "containers": [{
                              "name": "upload", "image": upload[0], "command": upload[1],
                              "env": [{"name": "BUCKET", "value": bucket_name}, {"name": "HOME", "value": "/tmp"}],
                              "securityContext": restricted_container_security(),
                              "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                              "volumeMounts": [{"name": "backup", "mountPath": "/backup"},
                                               {"name": "tmp", "mountPath": "/tmp"}]}],
                          "volumes": [{"name": "backup", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}},
                                      {"name": "tls", "secret": {"secretName": f"{tls_member.name}-tls",
                                                                 "items": [{"key": "ca.pem", "path": "ca.pem"}],
                                                                 "defaultMode": 0o400}}],
                      }}}}},
            opts=pulumi.ResourceOptions(parent=self, provider=kube.provider, depends_on=[account, self.admin_secret]))
        return bucket_name
