"""Point-in-time dumps of the replica set, streamed to a bucket in the region (one region per cloud).

`mongodump --oplog` (a consistent snapshot as of the dump's end,
https://www.mongodb.com/docs/database-tools/mongodump/#std-option-mongodump.--oplog) writes a gzip
archive into a FIFO; the upload container streams the FIFO to the bucket (`aws s3 cp -` /
`gcloud storage cp -`), so nothing is staged on the node's disk (the FIFO's emptyDir is in memory and
holds no data). A dump is complete only when its `<key>.done` marker exists; the restore command
(`python -m infra.ops.db_restore`) ignores the others.

Identity: IRSA on EKS, Workload Identity on GKE, never a static key. On AWS the bucket is SSE-KMS with
a customer-managed key: a multipart upload (any stream over 8 MiB) needs `kms:GenerateDataKey` and
`kms:Decrypt` on that key (https://repost.aws/knowledge-center/s3-large-file-encryption-kms-key). On
GKE the pod needs the metadata server for its token (NetworkPolicy in `manifests.backup_policy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.cluster.irsa import irsa_role
from components.database.manifests import (
    CLIENT_LABEL,
    TLS_DIR,
    backup_policy,
    labels,
    pod_security,
    restricted_container_security,
    secret_volume,
)
from components.tags import aws_tags, gcp_labels
from infra.planning.database import NAMESPACE, PORT, DatabasePlan
from infra.planning.regions import RegionPlan

BACKUP_SA = "mongodb-backup"
BACKUP_USER_SECRET = "mongodb-backup-user"
BACKUP_DIR = "/etc/mongodb/backup"
# Pinned tool images for the upload (re-check the tags before deploying): AWS CLI versions
# https://github.com/aws/aws-cli/blob/v2/CHANGELOG.rst (image https://hub.docker.com/r/amazon/aws-cli);
# Google Cloud CLI image tags <version>-slim https://cloud.google.com/sdk/docs/downloads-docker
AWS_CLI_IMAGE = "amazon/aws-cli:2.28.23"
GCLOUD_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:529.0.0-slim"
FIFO = "/stream/dump"


def dump_command(plan: DatabasePlan) -> list[str]:
    """Dump from a secondary, with the oplog, into the FIFO; a failed dump still opens the FIFO once so
    the uploader sees EOF, and leaves `failed` instead of `ok` so no `.done` marker is written."""
    return ["sh", "-c",
            f"if mongodump --config {BACKUP_DIR}/mongodump.yaml --tls --tlsCAFile {TLS_DIR}/ca.pem "
            f"--oplog --gzip --archive={FIFO}; then touch /stream/ok; "
            f"else touch /stream/failed; : > {FIFO}; exit 1; fi"]


def upload_command(cloud: str, max_bytes: int) -> list[str]:
    """Stream the FIFO to `<date>/<time>.archive.gz`, then (only if the dump succeeded) the marker."""
    if cloud == "aws":
        put = f'aws s3 cp - "s3://$BUCKET/$KEY" --expected-size {max_bytes} < {FIFO}'
        mark = 'echo "$KEY" | aws s3 cp - "s3://$BUCKET/$KEY.done"'
    else:
        put = f'gcloud storage cp - "gs://$BUCKET/$KEY" < {FIFO}'
        mark = 'echo "$KEY" | gcloud storage cp - "gs://$BUCKET/$KEY.done"'
    return ["sh", "-c",
            'set -eu; KEY="$(date -u +%Y/%m/%d/%H%M%S).archive.gz"; '
            f"{put}; "
            "while [ ! -e /stream/ok ] && [ ! -e /stream/failed ]; do sleep 1; done; "
            'if [ ! -e /stream/ok ]; then echo "dump failed: $KEY is incomplete (no .done marker)"; exit 1; fi; '
            f"{mark}"]


def dump_config(plan: DatabasePlan, password: pulumi.Input[str]) -> pulumi.Output[str]:
    """mongodump's --config file: the URI with the backup user (letters and digits: no escaping)."""
    hosts = ",".join(f"{m.host}:{PORT}" for m in plan.members)
    return pulumi.Output.secret(pulumi.Output.concat(
        "uri: mongodb://backup:", password, f"@{hosts}/?replicaSet={plan.replica_set}&authSource=admin"
        "&readPreference=secondaryPreferred\n"))


@dataclass(frozen=True)
class BackupArgs:
    plan: DatabasePlan
    region: RegionPlan
    tags: dict[str, str]
    protect: bool
    backup_password: pulumi.Input[str]  # secret
    oidc_provider_arn: pulumi.Input[str] | None = None  # AWS
    oidc_issuer: pulumi.Input[str] | None = None
    gcp_project: str | None = None
    suffix: str = ""  # appended to every physical name: a shard's backup beside the replica set's
    zone: str | None = None  # a shard's residency zone: tagged on the bucket (policy residency-in-zone)


def declare_backup(owner: pulumi.Resource, name: str, args: BackupArgs, k8s_provider: k8s.Provider,
                   tls_secret: pulumi.Resource) -> pulumi.Output[str]:
    """Bucket, identity, flows and the CronJob of one backup region, as children of `owner` (the
    region's RegionDatabase) named `<name>-backup-*`, as they always were. Returns the bucket name."""
    name = f"{name}-backup"
    plan, region, sfx = args.plan, args.region, args.suffix
    backup_sa, user_secret, job = f"{BACKUP_SA}{sfx}", f"{BACKUP_USER_SECRET}{sfx}", f"mongodb-backup{sfx}"
    zone_tag = {"residency-zone": args.zone} if args.zone else {}
    bucket_tags = {**args.tags, **zone_tag}
    child = pulumi.ResourceOptions(parent=owner)
    keep = pulumi.ResourceOptions(parent=owner, protect=args.protect)
    kube = pulumi.ResourceOptions(parent=owner, provider=k8s_provider)
    sa_annotations: dict[str, pulumi.Input[str]] = {}
    if region.cloud == "aws":
        key = aws.kms.Key(f"{name}-key", region=region.location, enable_key_rotation=True,
                          deletion_window_in_days=30, description=f"MongoDB backups {region.name}",
                          tags=aws_tags(args.tags, f"{region.name}-mongodb-backup"), opts=keep)
        bucket = aws.s3.Bucket(name, region=region.location, force_destroy=False,
                               tags=aws_tags(bucket_tags, f"{region.name}-mongodb-backup{sfx}"), opts=keep)
        aws.s3.BucketPublicAccessBlock(f"{name}-private", region=region.location, bucket=bucket.id,
                                       block_public_acls=True, block_public_policy=True,
                                       ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketVersioning(f"{name}-versioning", region=region.location, bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse", region=region.location, bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                "kms_master_key_id": key.arn},
                    "bucket_key_enabled": True}], opts=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-retention", region=region.location, bucket=bucket.id,
            rules=[{"id": "retention", "status": "Enabled", "filter": {"prefix": ""},
                    "expiration": {"days": plan.backup_retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": plan.backup_retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 2}}],
            opts=child)
        role = irsa_role(f"{name}-role", args.oidc_provider_arn, args.oidc_issuer,
                         f"system:serviceaccount:{NAMESPACE}:{backup_sa}",
                         tags=aws_tags(args.tags, f"{region.name}-mongodb-backup"), opts=child)
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                 "Resource": pulumi.Output.concat(bucket.arn, "/*")},
                # Multipart uploads to an SSE-KMS bucket: data keys, and Decrypt to complete the upload.
                {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key.arn}]}),
            opts=child)
        sa_annotations["eks.amazonaws.com/role-arn"] = role.arn
        bucket_name = bucket.bucket
        image = AWS_CLI_IMAGE
    else:
        project = args.gcp_project
        gcs = gcp.storage.Bucket(
            name, name=f"{project}-mongodb-{region.name}{sfx}"[:63], project=project,
            location=region.location.upper(), storage_class="STANDARD", uniform_bucket_level_access=True,
            public_access_prevention="enforced", versioning={"enabled": True}, force_destroy=False,
            lifecycle_rules=[
                {"action": {"type": "Delete"}, "condition": {"age": plan.backup_retention_days}},
                {"action": {"type": "Delete"},
                 "condition": {"days_since_noncurrent_time": plan.backup_retention_days}}],
            labels=gcp_labels(bucket_tags), opts=keep)
        number = gcp.organizations.get_project_output(project_id=project).number
        gcp.storage.BucketIAMMember(
            f"{name}-writer", bucket=gcs.name, role="roles/storage.objectCreator",
            member=pulumi.Output.concat("principal://iam.googleapis.com/projects/", number,
                                        f"/locations/global/workloadIdentityPools/{project}.svc.id.goog"
                                        f"/subject/ns/{NAMESPACE}/sa/{backup_sa}"), opts=child)
        bucket_name = gcs.name
        image = GCLOUD_IMAGE

    account = k8s.core.v1.ServiceAccount(
        f"{name}-sa", metadata={"name": backup_sa, "namespace": NAMESPACE,
                                "labels": labels(region.name), "annotations": sa_annotations},
        automount_service_account_token=True, opts=kube)
    user = k8s.core.v1.Secret(
        f"{name}-user", metadata={"name": user_secret, "namespace": NAMESPACE,
                                  "labels": labels(region.name)},
        type="Opaque", string_data={"mongodump.yaml": dump_config(plan, args.backup_password)}, opts=kube)
    policy, annotations = backup_policy(region.cloud)
    flows = k8s.networking.v1.NetworkPolicy(
        f"{name}-netpol", metadata={"name": job, "namespace": NAMESPACE,
                                    "labels": labels(region.name), "annotations": annotations},
        spec=policy, opts=kube)
    tls_name = f"{plan.in_region(region.name)[0].name}-tls"  # `tls_secret`: the CA it mounts
    job_labels = {**labels(region.name), "app.kubernetes.io/name": "mongodb-backup", CLIENT_LABEL: "true"}
    max_bytes = plan.storage_gib * 1024 ** 3  # a gzip dump is never larger than the volume
    k8s.batch.v1.CronJob(
        f"{name}-job", metadata={"name": job, "namespace": NAMESPACE, "labels": job_labels},
        spec={"schedule": plan.backup_schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
              "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
              "jobTemplate": {"spec": {
                  "backoffLimit": 2, "activeDeadlineSeconds": 6 * 3600,
                  "template": {
                      "metadata": {"labels": job_labels},
                      "spec": {
                          "serviceAccountName": backup_sa, "restartPolicy": "Never",
                          "securityContext": pod_security(),
                          "initContainers": [{
                              "name": "fifo", "image": plan.image, "command": ["mkfifo", FIFO],
                              "securityContext": restricted_container_security(),
                              "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                            "limits": {"memory": "64Mi"}},
                              "volumeMounts": [{"name": "stream", "mountPath": "/stream"}]}],
                          "containers": [
                              {"name": "dump", "image": plan.image, "command": dump_command(plan),
                               "securityContext": restricted_container_security(),
                               "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                             "limits": {"memory": "1Gi"}},
                               "volumeMounts": [{"name": "stream", "mountPath": "/stream"},
                                                {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                                                {"name": "user", "mountPath": BACKUP_DIR, "readOnly": True}]},
                              {"name": "upload", "image": image, "command": upload_command(region.cloud, max_bytes),
                               "env": [{"name": "BUCKET", "value": bucket_name},
                                       {"name": "HOME", "value": "/tmp"}],
                               "securityContext": restricted_container_security(),
                               "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                             "limits": {"memory": "512Mi"}},
                               "volumeMounts": [{"name": "stream", "mountPath": "/stream"},
                                                {"name": "tmp", "mountPath": "/tmp"}]}],
                          "volumes": [
                              # Only the FIFO and two marker files live here: memory-backed, never the node's disk.
                              {"name": "stream", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                              {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                              secret_volume("tls", tls_name, items=["ca.pem"]),
                              secret_volume("user", user_secret)],
                      }}}}},
        opts=pulumi.ResourceOptions(parent=owner, provider=k8s_provider, depends_on=[account, user, flows, tls_secret]))
    return bucket_name
