"""Weights staging: the first `up` creates the weights buckets empty, so before any server waits for
them a Job per region copies the weights in (components/serving/stage_weights.py: idempotent, every
file verified by checksum) and the Deployments depend on it.

Source: Hugging Face (`serving.weights.huggingFaceModel` at `revision`; a gated model's token is the
Pulumi secret `huggingface:token`, which becomes the Kubernetes Secret `huggingFaceTokenSecret`), or a
bucket holding a staged copy (`serving.weights.stageFromBuckets`, one per cloud).

The Job writes with its own identity (`weights-stager`), allowed to write only the weights bucket;
the servers keep their read-only one. The engine waits for the Job (pulumi-kubernetes awaits a Job's
completion) up to the staging budget (ServerSettings.staging_seconds), not the provider's 10 minutes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.cluster.irsa import irsa_role
from components.serving.manifests import METADATA_EGRESS_ANNOTATION, METADATA_SERVER, RUN_AS
from components.tags import aws_tags
from infra.planning.serving import SERVING_NAMESPACE, ServerSettings
from infra.rehearsal.waits import PRODUCES

STAGER = "weights-stager"  # ServiceAccount, labels
JOB = "stage-weights"
SCRIPT = Path(__file__).with_name("stage_weights.py")
# Official image, pinned by tag (https://hub.docker.com/_/python); the clients are pinned pip installs.
IMAGE = "python:3.12.12-slim"
CLIENTS = {"huggingface": "huggingface-hub==2.4.0", "aws": "boto3==1.44.5", "gcp": "google-cloud-storage==3.17.1"}
WORKDIR = "/work"
SCRIPTS = "/scripts"
# One file at a time is on disk: the largest safetensors shard of an 8B model is ~5 GB.
WORKDIR_SIZE = "40Gi"
STAGER_SECURITY = {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                   "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                   "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}


def _meta(name: str, annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": SERVING_NAMESPACE,
                           "labels": {"app.kubernetes.io/name": STAGER, "app.kubernetes.io/managed-by": "pulumi"}}
    if annotations:
        out["annotations"] = annotations
    return out


def job(server: ServerSettings, cloud: str, bucket_uri: str) -> dict[str, Any]:
    """The staging Job: install the pinned clients, then copy what the bucket lacks, verified."""
    source = server.staging_source(cloud)
    clients = [CLIENTS[cloud]] + ([CLIENTS["huggingface"]] if source.startswith("hf://") else [])
    dest = f"{bucket_uri.rstrip('/')}/{server.weights_path}"
    env = [{"name": "WEIGHTS_SOURCE", "value": source},
           {"name": "WEIGHTS_DEST", "value": dest},
           {"name": "HOME", "value": WORKDIR}, {"name": "WORKDIR", "value": WORKDIR},
           {"name": "PYTHONUSERBASE", "value": f"{WORKDIR}/.local"}, {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
           # Optional: public models need none; a gated model fails with 401 and says so in the Job's log.
           {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": server.hugging_face_token_secret,
                                                                "key": "token", "optional": True}}}]
    command = (f"pip install --no-cache-dir --user --quiet {' '.join(clients)} && "
               f"python {SCRIPTS}/{SCRIPT.name}")
    return {
        # What it writes, for the deploy rehearsal's data-producer rule (the servers read the same URI).
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(JOB, {PRODUCES: dest}),
        "spec": {
            "backoffLimit": 4, "activeDeadlineSeconds": server.staging_seconds,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": STAGER}},
                "spec": {
                    "serviceAccountName": STAGER, "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                        "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "stage", "image": IMAGE, "command": ["sh", "-c", command], "env": env,
                        "resources": {"requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
                                      "limits": {"memory": "2Gi"}},
                        "securityContext": STAGER_SECURITY,
                        "volumeMounts": [{"name": "work", "mountPath": WORKDIR},
                                         {"name": "scripts", "mountPath": SCRIPTS, "readOnly": True}],
                    }],
                    # World-readable script (0444): readable by the non-root user whatever its group.
                    "volumes": [{"name": "work", "emptyDir": {"sizeLimit": WORKDIR_SIZE}},
                                {"name": "scripts", "configMap": {"name": JOB, "defaultMode": 0o444}}],
                },
            },
        },
    }


def network_policy() -> dict[str, Any]:
    """GKE: the stager's Workload Identity tokens come from the metadata server (the namespace's other
    policies already give it DNS and HTTPS to the internet)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta(STAGER, {METADATA_EGRESS_ANNOTATION:
                                       "GKE metadata server (GKE_METADATA mode): Workload Identity tokens "
                                       "for writing the weights bucket"}),
            "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": STAGER}}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": m["cidr"]}}],
                                 "ports": [{"protocol": "TCP", "port": m["port"]}]} for m in METADATA_SERVER]}}


def stager_write_policy(bucket_arn: str) -> str:
    """Read and write the weights objects (no delete: versioning keeps what a rewrite replaces)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket_arn},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": f"{bucket_arn}/*"},
    ]})


def stager_account_id(cluster_name: str) -> str:
    """6-30 characters, like the servers' account (gcp_entry.server_account_id)."""
    return f"{cluster_name.removeprefix('rollout-')}-stage"[:30]


@dataclass(frozen=True)
class WeightsStagingArgs:
    region: str
    cloud: str
    cluster_name: str
    server: ServerSettings
    bucket_uri: pulumi.Input[str]
    tags: dict[str, str]
    # AWS
    bucket_arn: pulumi.Input[str] | None = None
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer: pulumi.Input[str] | None = None
    # GCP
    project: str | None = None
    bucket_name: pulumi.Input[str] | None = None


class WeightsStaging(pulumi.ComponentResource):
    """The stager's identity (cloud side) and, through `k8s_provider`, its Job in the region's cluster.
    `ready` is what the servers depend on."""

    ready: k8s.batch.v1.Job

    def __init__(self, name: str, args: WeightsStagingArgs, k8s_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:WeightsStaging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        if args.cloud == "aws":
            if args.bucket_arn is None or args.oidc_provider_arn is None or args.oidc_issuer is None:
                raise ValueError(f"region {args.region}: AWS staging needs the bucket ARN and the OIDC provider")
            role = irsa_role(f"{name}-role", args.oidc_provider_arn, args.oidc_issuer,
                             f"system:serviceaccount:{SERVING_NAMESPACE}:{STAGER}",
                             tags=aws_tags(args.tags, f"{args.cluster_name}-weights-stager"), opts=child)
            grant: pulumi.Resource = aws.iam.RolePolicy(
                f"{name}-write", role=role.name, policy=pulumi.Output.from_input(args.bucket_arn).apply(
                    stager_write_policy), opts=child)
            annotations: dict[str, pulumi.Input[str]] = {"eks.amazonaws.com/role-arn": role.arn}
        else:
            if args.project is None or args.bucket_name is None:
                raise ValueError(f"region {args.region}: GCP staging needs the project and the bucket")
            account = gcp.serviceaccount.Account(
                f"{name}-stager", account_id=stager_account_id(args.cluster_name), project=args.project,
                display_name=f"weights stager of {args.cluster_name}",
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
            grant = gcp.storage.BucketIAMMember(f"{name}-write", bucket=args.bucket_name,
                                                role="roles/storage.objectUser", member=account.member, opts=child)
            gcp.serviceaccount.IAMMember(
                f"{name}-wi", service_account_id=account.name, role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{args.project}.svc.id.goog[{SERVING_NAMESPACE}/{STAGER}]", opts=child)
            annotations = {"iam.gke.io/gcp-service-account": account.email}
            body = network_policy()
            k8s.networking.v1.NetworkPolicy(f"{name}-netpol", metadata=body["metadata"], spec=body["spec"],
                                            opts=in_cluster)
        fixed = pulumi.ResourceOptions(parent=self, provider=k8s_provider, delete_before_replace=True)
        sa = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata={**_meta(STAGER), "annotations": annotations},
                                        automount_service_account_token=True, opts=fixed)
        needs: list[pulumi.Resource] = [sa, grant]
        token = pulumi.Config("huggingface").get_secret("token")
        if token is not None:
            needs.append(k8s.core.v1.Secret(
                f"{name}-hf-token", metadata=_meta(args.server.hugging_face_token_secret), type="Opaque",
                string_data={"token": token}, opts=fixed))
        needs.append(k8s.core.v1.ConfigMap(f"{name}-script", metadata=_meta(JOB),
                                           data={SCRIPT.name: SCRIPT.read_text()}, opts=fixed))
        seconds = args.server.staging_seconds
        body = pulumi.Output.from_input(args.bucket_uri).apply(lambda uri: job(args.server, args.cloud, uri))
        # A Job's template is immutable: a new model or source replaces the Job (fixed name: delete first).
        self.ready = k8s.batch.v1.Job(
            f"{name}-job", spec=body.apply(lambda b: b["spec"]),
            metadata={**_meta(JOB),
                      "annotations": {PRODUCES: body.apply(lambda b: b["metadata"]["annotations"][PRODUCES])}},
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=needs,
                                        delete_before_replace=True,
                                        custom_timeouts=pulumi.CustomTimeouts(create=f"{seconds}s",
                                                                              update=f"{seconds}s")))
        self.register_outputs({"job": JOB, "source": args.server.staging_source(args.cloud)})
