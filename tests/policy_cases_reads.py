"""Violating / compliant pairs for the rules that read what matters (command lines, value shapes, IAM
semantics, scoped exceptions, Helm values, protocols, peer exposure), merged into the CASES of
tests/test_policies_rules.py. The resources are shaped like the prod preview's (same args, images,
namespaces and annotations), with one defect in the violating one."""

from __future__ import annotations

import copy
import json

RESTRICTED = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}, "readOnlyRootFilesystem": True}
MONGOD_ARGS = ["--replSet", "rs0", "--bind_ip_all", "--port", "27017", "--tlsMode", "requireTLS",
               "--tlsCertificateKeyFile", "/etc/mongodb/tls/tls.pem", "--tlsCAFile", "/etc/mongodb/tls/ca.pem",
               "--clusterAuthMode", "x509", "--tlsAllowConnectionsWithoutCertificates", "--dbpath", "/data/db"]
VLLM_ARGS = ["--model", "s3://rollout-prod-use1-weights/llama-3.1-8b-instruct", "--served-model-name",
             "llama-3.1-8b-instruct", "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.9",
             "--max-model-len", "8192", "--port", "8000", "--load-format", "runai_streamer"]


def workload(kind: str, namespace: str, name: str, container: dict, **spec) -> tuple[str, dict]:
    return (f"kubernetes:apps/v1:{kind}",
            {"metadata": {"name": name, "namespace": namespace},
             "spec": {"template": {"metadata": {"labels": {"app": name}},
                                   "spec": {"containers": [{"securityContext": RESTRICTED, **container}], **spec}}}})


def mongod(args: list[str]) -> tuple[str, dict]:
    return workload("StatefulSet", "rollout-data", "mongodb-use1-0",
                    {"name": "mongod", "image": "mongo:8.0.17", "args": args})


def vllm(args: list[str], env: list | None = None) -> tuple[str, dict]:
    return workload("Deployment", "rollout-serving", "vllm-g5-xlarge",
                    {"name": "server", "image": "vllm/vllm-openai:v0.24.0", "args": args, "env": env or []})


def with_env(value: str) -> tuple[str, dict]:
    return vllm(VLLM_ARGS, [{"name": "APP_SETTINGS_URL", "value": value}])


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


NODE_TRUST = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
DEVICE_PLUGIN = workload("DaemonSet", "nvidia-device-plugin", "nvidia-device-plugin",
                         {"name": "nvidia-device-plugin-ctr", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.1",
                          "securityContext": {**RESTRICTED, "runAsNonRoot": None}},
                         volumes=[{"name": "device-plugin",
                                   "hostPath": {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"}}])


def device_plugin_with(**changes) -> tuple[str, dict]:
    typ, props = copy.deepcopy(DEVICE_PLUGIN)
    spec = props["spec"]["template"]["spec"]
    if "path" in changes:
        spec["volumes"][0]["hostPath"]["path"] = changes["path"]
    if "cap" in changes:
        spec["containers"][0]["securityContext"]["capabilities"]["add"] = [changes["cap"]]
    return typ, props


HELM = "kubernetes:helm.sh/v3:Release"
AUTOSCALER_VALUES = {"image": {"tag": "v1.36.1"}, "awsRegion": "eu-central-1", "cloudProvider": "aws",
                     "rbac": {"serviceAccount": {"create": True, "name": "cluster-autoscaler"}}}
SERVICE = "kubernetes:core/v1:Service"
PUBLIC_443 = {"metadata": {"name": "edge", "namespace": "rollout-serving",
                           "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "external",
                                           "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}},
              "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 443, "targetPort": 8000}]}}
PUBLIC_443_TLS = copy.deepcopy(PUBLIC_443)
PUBLIC_443_TLS["metadata"]["annotations"].update({
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443"})
PEER_FIREWALL = {"description": "cross-region traffic over the private links", "direction": "INGRESS",
                 "sourceRanges": ["10.0.0.0/15", "10.2.0.0/15"], "targetTags": ["rollout-gke-node"],
                 "logConfig": {"metadata": "INCLUDE_ALL_METADATA"}}

READ_CASES: dict[str, tuple] = {
    "k8s-mongod-tls-and-auth": (*mongod([a for a in MONGOD_ARGS if a not in ("--clusterAuthMode", "x509")]),
                                mongod(MONGOD_ARGS)[1]),
    "k8s-vllm-safe-flags": (*vllm([*VLLM_ARGS, "--api-key", "sk-rollout-1234"]),
                            vllm([*VLLM_ARGS, "--api-key", "$(VLLM_API_KEY)"], [
                                {"name": "VLLM_API_KEY",
                                 "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "key"}}}])[1]),
    "k8s-no-insecure-flags": (*workload("Deployment", "rollout-system", "exporter",
                                        {"name": "exporter", "image": "example/exporter:1.2.3",
                                         "args": ["--web.listen-address=:9100", "--tls=false"]}),
                              workload("Deployment", "rollout-system", "exporter",
                                       {"name": "exporter", "image": "example/exporter:1.2.3",
                                        "args": ["--web.listen-address=:9100", "--tls=true"]})[1]),
    "no-secret-shaped-literals": (*with_env("mongodb://app:Xq9v2LmPz7@mongodb-use1-0.internal.rollout.example.com"),
                                  with_env("https://config.internal.rollout.example.com/settings")[1]),
    "iam-no-broad-grants": ("aws:iam/rolePolicy:RolePolicy",
                            {"policy": doc({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                                            "Resource": "arn:aws:s3:::*"})},
                            {"policy": doc({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                                            "Resource": ["arn:aws:s3:::rollout-prod-use1-weights",
                                                         "arn:aws:s3:::rollout-prod-use1-weights/*"]})}),
    "iam-policy-no-open-principal": ("aws:iam/role:Role",
                                     {"assumeRolePolicy": doc({**NODE_TRUST, "Principal": {"AWS": "*"}, "Condition": {
                                         "Bool": {"aws:SecureTransport": "true"}}})},
                                     {"assumeRolePolicy": doc({**NODE_TRUST, "Principal": {"AWS": "*"}, "Condition": {
                                         "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}})}),
    "helm-values-pod-security": (HELM, {"chart": "cluster-autoscaler", "namespace": "kube-system",
                                        "values": {**AUTOSCALER_VALUES,
                                                   "securityContext": {"privileged": True}}},
                                 {"chart": "cluster-autoscaler", "namespace": "kube-system",
                                  "values": AUTOSCALER_VALUES}),
    "helm-values-image-pinned": (HELM, {"chart": "cluster-autoscaler", "values": {**AUTOSCALER_VALUES,
                                                                                  "image": {"tag": "latest"}}},
                                 {"chart": "cluster-autoscaler", "values": AUTOSCALER_VALUES}),
    "peer-ingress-ports-listed": ("gcp:compute/firewall:Firewall",
                                  {**PEER_FIREWALL, "allows": [{"protocol": "tcp"}]},
                                  {**PEER_FIREWALL, "allows": [{"protocol": "tcp", "ports": ["443", "27017"]},
                                                               {"protocol": "icmp"}]}),
}
