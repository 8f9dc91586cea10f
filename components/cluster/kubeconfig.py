"""Kubeconfig text for a cluster, with exec auth so real users and `pulumi up` connect with their
own cloud credentials (no long-lived tokens in state). Pure: called inside `apply` to build a string.
"""

from __future__ import annotations

import json

EXEC_API = "client.authentication.k8s.io/v1beta1"


def _kubeconfig(name: str, server: str, ca_data: str, user_exec: dict) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": user_exec}}],
    })


def eks_kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """https://docs.aws.amazon.com/eks/latest/userguide/create-kubeconfig.html (aws eks get-token)."""
    return _kubeconfig(name, endpoint, ca_data, {
        "apiVersion": EXEC_API, "command": "aws",
        "args": ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"],
        "interactiveMode": "Never",
    })


def gke_kubeconfig(name: str, endpoint: str, ca_data: str) -> str:
    """https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"""
    server = endpoint if endpoint.startswith("https://") else f"https://{endpoint}"
    return _kubeconfig(name, server, ca_data, {
        "apiVersion": EXEC_API, "command": "gke-gcloud-auth-plugin", "provideClusterInfo": True,
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "interactiveMode": "Never",
    })
