"""The servers' key check in one region: the region's key store (an AWS Secrets Manager secret or a
GCP Secret Manager secret, holding the hashed key document; `python -m infra.ops.keys` writes its
versions, the program never does, so no key material is in state), read access for the servers'
identity (IRSA role / Workload Identity account), and the middleware code as a ConfigMap that vLLM
loads with `--middleware` (components/serving/key_auth.py).

`KeyAuthMount.apply(deployment)` is the one change to the servers' Deployment: a volume, its mount,
three environment variables and one server argument.
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

from components.serving import key_auth
from components.tags import aws_tags, gcp_labels
from infra.planning.api_edge import RegionApiEdge
from infra.planning.serving import SERVING_NAMESPACE

CONFIG_MAP = "rollout-key-auth"
MOUNT = "/opt/rollout-auth"
MODULE, SHARED_MODULE = "rollout_key_auth", "rollout_client_keys"
MIDDLEWARE = f"{MODULE}.KeyAuth"
_ROOT = Path(__file__).resolve().parents[2]


def middleware_files() -> dict[str, str]:
    """The two modules the server imports, as they are in this repository."""
    return {f"{MODULE}.py": (_ROOT / "components/serving/key_auth.py").read_text(),
            f"{SHARED_MODULE}.py": (_ROOT / "infra/planning/api_keys.py").read_text()}


def store_uri(edge: RegionApiEdge, location: str, project: str | None) -> str:
    """Where the middleware reads the document (key_auth.fetcher)."""
    if edge.cloud == "aws":
        return f"aws-secretsmanager:{location}:{edge.key_store}"
    return f"gcp-secretmanager:projects/{project}/secrets/{edge.key_store}"


@dataclass(frozen=True)
class KeyAuthMount:
    """What the servers' container gains: plain data, so the manifest tests can read it."""

    store: str
    refresh_seconds: int
    max_stale_seconds: int

    @property
    def args(self) -> list[str]:
        return ["--middleware", MIDDLEWARE]

    def apply(self, deployment: dict[str, Any]) -> dict[str, Any]:
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        container.setdefault("env", []).extend([
            {"name": "PYTHONPATH", "value": MOUNT},
            {"name": key_auth.STORE_ENV, "value": self.store},
            {"name": key_auth.REFRESH_ENV, "value": str(self.refresh_seconds)},
            {"name": key_auth.STALE_ENV, "value": str(self.max_stale_seconds)},
        ])
        container.setdefault("volumeMounts", []).append({"name": "key-auth", "mountPath": MOUNT, "readOnly": True})
        pod.setdefault("volumes", []).append({"name": "key-auth", "configMap": {"name": CONFIG_MAP}})
        return deployment


def read_policy(secret_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secret_arn}]})


@dataclass(frozen=True)
class ApiKeyAuthArgs:
    edge: RegionApiEdge
    location: str
    cluster_name: str
    tags: dict[str, str]
    server_role_arn: pulumi.Input[str] | None = None  # AWS: the servers' IRSA role
    project: str | None = None  # GCP
    server_account_email: pulumi.Input[str] | None = None  # GCP: the servers' Workload Identity account
    protect_data: bool = False


class ApiKeyAuth(pulumi.ComponentResource):
    """Key store, read access and the middleware ConfigMap of one region."""

    mount: KeyAuthMount

    def __init__(self, name: str, args: ApiKeyAuthArgs, opts: pulumi.ResourceOptions | None = None,
                 k8s_provider: k8s.Provider | None = None):
        super().__init__("rollout:serving:ApiKeyAuth", name, None, opts)
        edge, child = args.edge, pulumi.ResourceOptions(parent=self)
        # Fixed names (the keys command finds them by name): a replacement deletes the old one first; in
        # prod they are protected, since deleting one locks every client out of the region until re-issued.
        keep = pulumi.ResourceOptions(parent=self, protect=args.protect_data, delete_before_replace=True)
        if edge.cloud == "aws":
            if args.server_role_arn is None:
                raise ValueError(f"region {edge.region}: the key store needs the servers' role")
            secret = aws.secretsmanager.Secret(
                f"{name}-store", region=args.location, name=edge.key_store,
                description=f"{args.cluster_name}: API key hashes (written by python -m infra.ops.keys)",
                recovery_window_in_days=7, tags=aws_tags(args.tags, edge.key_store), opts=keep)
            role_name = pulumi.Output.from_input(args.server_role_arn).apply(lambda arn: arn.split("/")[-1])
            aws.iam.RolePolicy(f"{name}-read", role=role_name, policy=secret.arn.apply(read_policy), opts=child)
            self.store_id = secret.arn
        else:
            if args.project is None or args.server_account_email is None:
                raise ValueError(f"region {edge.region}: the key store needs the project and the servers' account")
            secret = gcp.secretmanager.Secret(
                f"{name}-store", project=args.project, secret_id=edge.key_store,
                replication=gcp.secretmanager.SecretReplicationArgs(
                    user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(replicas=[
                        gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=args.location)])),
                labels=gcp_labels(args.tags), deletion_protection=args.protect_data, opts=keep)
            gcp.secretmanager.SecretIamMember(
                f"{name}-read", project=args.project, secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=pulumi.Output.concat("serviceAccount:", args.server_account_email), opts=child)
            self.store_id = secret.name
        k8s.core.v1.ConfigMap(
            f"{name}-middleware", metadata={"name": CONFIG_MAP, "namespace": SERVING_NAMESPACE,
                                            "labels": {"app.kubernetes.io/name": "vllm",
                                                       "app.kubernetes.io/component": "key-auth"}},
            data=middleware_files(),
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, delete_before_replace=True))
        self.mount = KeyAuthMount(store=store_uri(edge, args.location, args.project),
                                  refresh_seconds=edge.refresh_seconds, max_stale_seconds=edge.max_stale_seconds)
        self.register_outputs({"store": self.store_id})
