"""Kubeconfig text for a cluster, with exec auth so real users and `pulumi up` connect with their
own cloud credentials (no long-lived tokens in state). Pure: called inside `apply` to build a string.
"""

from __future__ import annotations

import json

EXEC_API = "client.authentication.k8s.io/v1beta1"


def _kubeconfig(name: str, server: str, ca_data: str | None, user_exec: dict) -> str:
    cluster = {"server": server, **({"certificate-authority-data": ca_data} if ca_data else {})}
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": cluster}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": user_exec}}],
    })


def eks_kubeconfig(name: str, endpoint: str, ca_data: str, region: str, profile: str | None = None,
                   role_arn: str | None = None) -> str:
    """https://docs.aws.amazon.com/eks/latest/userguide/create-kubeconfig.html (aws eks get-token).

    `profile` / `role_arn`: the AWS provider's own (aws:profile, aws:assumeRoles), so the token is for
    the principal that holds the cluster-admin access entry, whatever the shell's default credentials are.
    """
    args = ["--region", region, *(["--profile", profile] if profile else []), "eks", "get-token",
            "--cluster-name", name, *(["--role-arn", role_arn] if role_arn else []), "--output", "json"]
    return _kubeconfig(name, endpoint, ca_data, {
        "apiVersion": EXEC_API, "command": "aws", "args": args, "interactiveMode": "Never",
    })


def gke_kubeconfig(name: str, endpoint: str, ca_data: str | None) -> str:
    """https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin

    Application default credentials, as the GCP provider uses, not gcloud's active account. `ca_data`
    None: the DNS-based endpoint, served with a publicly trusted certificate (no cluster CA to pin).
    """
    server = endpoint if endpoint.startswith("https://") else f"https://{endpoint}"
    return _kubeconfig(name, server, ca_data, {
        "apiVersion": EXEC_API, "command": "gke-gcloud-auth-plugin", "provideClusterInfo": True,
        "args": ["--use_application_default_credentials"],
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "interactiveMode": "Never",
    })
