"""The pack reads what matters: a battery of weaknesses, each made by changing one thing in a resource the
prod preview really renders (the mongod StatefulSet, the vLLM Deployment, the backup CronJob, the reconcile
Job, the device-plugin DaemonSet, IAM roles and policies, key and bucket policies, Helm releases, Services,
NetworkPolicies, SSL policies, peer firewalls and security groups). Every one must be caught by the named
mandatory rule, and the unchanged prod stack draws no mandatory finding from any of them.

Classes: command lines read as the program parses them; secrets by value shape; IAM evaluated as IAM does;
exemptions that name exactly what is exempt, Helm values; TLS by protocol and cipher list; NetworkPolicy
peers by effective scope; peer exposure.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.offline.mock_runtime import SECRET
from infra.offline.run import run_stack
from policies.rules import ALL_RULES, cmdline, edge, iam, k8s_security, network, secret_values
from policies.rules.cmdline import invocations, options
from policies.rules.core import MANDATORY, Resource, Rule, StackRule
from policies.rules.iam import allows_action, on_resource, restricting_keys, wildcard_match
from policies.rules.secret_values import secret_shapes
from tests.mutations import set_path

ROOT = Path(__file__).resolve().parent.parent
NEW_RULES = [*cmdline.RULES, *secret_values.RULES, *iam.RULES, *k8s_security.RULES, *edge.RULES, *network.RULES]


@pytest.fixture(scope="module")
def prod() -> list[Resource]:
    resources = []
    by_urn = {}
    run = run_stack(ROOT / "Pulumi.prod.yaml", "prod")
    for r in run.resources:
        text = json.dumps(r.inputs, default=str).replace(json.dumps(SECRET), json.dumps("k" * 48))
        resource = Resource(type=r.type, props=json.loads(text), urn=r.urn, name=r.name, protect=r.protect)
        resources.append(resource)
        by_urn[r.urn] = resource
    for r, captured in zip(resources, run.resources, strict=True):
        r.dependencies = [by_urn[u] for u in getattr(captured, "dependencies", ()) if u in by_urn]
    return resources


@pytest.fixture(scope="module")
def named(prod) -> dict[str, Resource]:
    return {r.name: r for r in prod}


# ---- mutations -------------------------------------------------------------------------------------------

def container(props: dict, index: int = 0) -> dict:
    spec = props["spec"]["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in props["spec"] else \
        props["spec"]["template"]["spec"]
    return spec["containers"][index]


def pod(props: dict) -> dict:
    return props["spec"]["template"]["spec"]


def args_replace(old: str, new: str | None) -> Callable[[dict], None]:
    def mutate(p: dict) -> None:
        args = container(p)["args"]
        i = args.index(old)
        if new is None:
            del args[i:i + 2]
        else:
            args[i + 1] = new
    return mutate


def args_add(*extra: str) -> Callable[[dict], None]:
    def mutate(p: dict) -> None:
        container(p).setdefault("args", []).extend(extra)
    return mutate


def command(argv: list[str], keep_args: bool = True) -> Callable[[dict], None]:
    def mutate(p: dict) -> None:
        container(p)["command"] = argv
        if not keep_args:
            container(p).pop("args", None)
    return mutate


def script_replace(old: str, new: str, index: int = 0) -> Callable[[dict], None]:
    def mutate(p: dict) -> None:
        c = container(p, index)
        assert old in c["command"][2], old
        c["command"][2] = c["command"][2].replace(old, new, 1)
    return mutate


def env(name: str, value: str) -> Callable[[dict], None]:
    def mutate(p: dict) -> None:
        container(p).setdefault("env", []).append({"name": name, "value": value})
    return mutate


def policy(*statements: dict, key: str = "policy") -> Callable[[dict], None]:
    return set_path(key, json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def trust(**statement) -> Callable[[dict], None]:
    return policy({"Effect": "Allow", "Action": "sts:AssumeRole", **statement}, key="assumeRolePolicy")


def ingress_peer(peer: dict) -> Callable[[dict], None]:
    def mutate(p: dict) -> None:
        p["spec"]["ingress"][0]["from"].append(peer)
    return mutate


MONGOD, VLLM = "use1-mongodb-mongodb-use1-0", "use1-serving-servers-vllm-p4d-24xlarge"
BACKUP, RECONCILE, PLUGIN = "use1-mongodb-backup-job", "rollout-mongodb-reconcile", "use1-k8s-nvidia-device-plugin"
UPLOAD = 1  # the backup's second container streams the dump's FIFO to the bucket (`aws s3 cp - ...`)
LBC_RELEASE, CONFIG = "use1-k8s-lb-controller-chart", "rollout-mongodb-reconcile-config"
NODE_ROLE, WEIGHTS_POLICY, WEIGHTS_BUCKET = ("use1-k8s-node-role", "use1-serving-entry-server-weights",
                                             "use1-serving-entry-weights")
KEY, PEERS_FW, PEERS_SG = "use1-flow-logs-key", "rollout-links-gcp-peers-ingress", "rollout-links-use1-peers-sg"
SERVING_POLICY, MONGO_LB = "use1-k8s-rollout-serving-allow-model-traffic", "use1-mongodb-mongodb-use1-0-lb"
HF = "hf_" + "Qw3rTy7uIoP9aSdFgH1jKlZxCvBnM5q2W"
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyb2xsb3V0LWFwaSIsImlhdCI6MTcwMDAwMDAwMH0."
       "7m3Jc0V4kZrD2f5pQy1sXbN9tHwLgA6eUoRiKv8MzTs")
PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBsVfHhZc2V0dGluZ3M=\n-----END EC PRIVATE KEY-----\n"
ENTROPIC = "Zk8pQ2vX7mN4rT9wL3sB6yH1cJ5dF0gA"  # 32 random base64 characters
OWN = "123456789012"

# (resource name, mutation, what, the rule that must catch it)
WEAKNESSES: list[tuple[str, Callable[[dict], None], str, str]] = [
    # command lines, read as mongod / vLLM / any program parses them
    (MONGOD, args_replace("--tlsMode", "disabled"), "mongod --tlsMode disabled", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_replace("--tlsMode", "allowTLS"), "mongod --tlsMode allowTLS", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_replace("--tlsMode", "preferTLS"), "mongod --tlsMode preferTLS", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_replace("--tlsMode", None), "mongod without --tlsMode", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_replace("--clusterAuthMode", None), "mongod without authorization", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_add("--noauth"), "mongod --noauth", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_add("--transitionToAuth"), "mongod --transitionToAuth", "k8s-mongod-tls-and-auth"),
    (MONGOD, args_add("--tlsAllowInvalidCertificates"), "mongod skips certificate checks",
     "k8s-mongod-tls-and-auth"),
    (MONGOD, lambda p: (args_replace("--tlsMode", None)(p), args_add("--tlsMode=preferTLS")(p)),
     "mongod --tlsMode=preferTLS", "k8s-mongod-tls-and-auth"),
    (MONGOD, command(["sh", "-c", "exec mongod --replSet rs0 --bind_ip_all --tlsMode disabled --auth"],
                     keep_args=False), "mongod in a shell script without TLS", "k8s-mongod-tls-and-auth"),
    (MONGOD, command(["/usr/bin/mongod", "--replSet", "rs0", "--sslMode", "preferSSL", "--keyFile", "/k"],
                     keep_args=False), "mongod by path with the legacy --sslMode", "k8s-mongod-tls-and-auth"),
    (VLLM, args_add("--api-key", "sk-rollout-prod-0001"), "vLLM --api-key literal", "k8s-vllm-safe-flags"),
    (VLLM, args_add("--api-key=sk-rollout-prod-0001"), "vLLM --api-key=literal", "k8s-vllm-safe-flags"),
    (VLLM, args_add("--api_key", "sk-rollout-prod-0001"), "vLLM --api_key (underscore spelling)",
     "k8s-vllm-safe-flags"),
    (VLLM, args_add("--api-key", "$(VLLM_API_KEY)"), "vLLM --api-key from a plain env var, not a Secret",
     "k8s-vllm-safe-flags"),
    (VLLM, args_add("--trust-remote-code"), "vLLM --trust-remote-code", "k8s-vllm-safe-flags"),
    (VLLM, args_add("--trust_remote_code"), "vLLM --trust_remote_code", "k8s-vllm-safe-flags"),
    (VLLM, args_add("--trust-remote"), "vLLM --trust-remote (argparse prefix)", "k8s-vllm-safe-flags"),
    (VLLM, command(["python3", "-m", "vllm.entrypoints.openai.api_server", "--trust-remote-code"]),
     "vLLM as a Python module with remote code", "k8s-vllm-safe-flags"),
    (VLLM, command(["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--api-key", "sk-1"], keep_args=False),
     "vllm serve with a literal key", "k8s-vllm-safe-flags"),
    (BACKUP, script_replace("aws s3 cp - ", "aws s3 cp --no-verify-ssl - ", UPLOAD), "backup upload without TLS checks",
     "k8s-no-insecure-flags"),
    (RECONCILE, script_replace("mongosh --quiet --tls", "mongosh --quiet --tls --tlsAllowInvalidCertificates"),
     "reconcile trusts any certificate", "k8s-no-insecure-flags"),
    (RECONCILE, script_replace("mongosh --quiet", "curl -k https://x && mongosh --quiet"), "curl -k in a script",
     "k8s-no-insecure-flags"),
    (VLLM, args_add("--insecure-skip-tls-verify"), "any program --insecure-skip-tls-verify",
     "k8s-no-insecure-flags"),
    (PLUGIN, args_add("--tls=false"), "a container with --tls=false", "k8s-no-insecure-flags"),
    (PLUGIN, args_add("--anonymous-auth=true"), "a container with --anonymous-auth=true", "k8s-no-insecure-flags"),
    (PLUGIN, args_add("--insecure"), "a container with --insecure", "k8s-no-insecure-flags"),
    # secrets by value shape, whatever the name
    (VLLM, env("APP_SETTINGS_URL", "mongodb://app:Xq9v2LmPz7@mongodb-use1-0.internal.rollout.example.com:27017"),
     "connection string with a password in an innocent env var", "no-secret-shaped-literals"),
    (VLLM, env("REGION_HINT", "AKIAIOSFODNN7EXAMPLE"), "AWS access key id in env", "no-secret-shaped-literals"),
    (VLLM, env("HUB_SETTINGS", HF), "Hugging Face token in env", "no-secret-shaped-literals"),
    (VLLM, args_add("--hf-overrides", HF), "Hugging Face token on the command line", "no-secret-shaped-literals"),
    (VLLM, env("BUILD_INFO", GH), "GitHub token in env", "no-secret-shaped-literals"),
    (VLLM, env("SESSION", JWT), "JWT in env", "no-secret-shaped-literals"),
    (VLLM, env("OPAQUE", ENTROPIC), "high-entropy literal in env", "no-secret-shaped-literals"),
    (VLLM, set_path("spec.template.metadata.annotations", {"example.com/seed": ENTROPIC}),
     "high-entropy pod annotation", "no-secret-shaped-literals"),
    (BACKUP, script_replace("aws s3 cp - ", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE aws s3 cp - ", UPLOAD),
     "access key inside a backup script", "no-secret-shaped-literals"),
    (CONFIG, set_path("data.notes", PEM), "PEM private key under an innocent ConfigMap key",
     "no-secret-shaped-literals"),
    (CONFIG, set_path("data.settings.json", json.dumps({"db": "mongodb://root:hunter2@db:27017"})),
     "credentials inside a JSON ConfigMap value", "no-secret-shaped-literals"),
    (LBC_RELEASE, set_path("values.extraEnv", {"NOTES": GH}), "GitHub token in Helm values",
     "no-secret-shaped-literals"),
    (MONGO_LB, set_path("metadata.annotations.example.com/dsn", "postgres://svc:pa55w0rd@db/x"),
     "credentials in a Service annotation", "no-secret-shaped-literals"),
    # IAM evaluated as IAM does
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}),
     "s3:* on arn:aws:s3:::*", "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::*/*"}),
     "s3:Get* on every object", "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
     "kms:Decrypt on *", "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "*:*", "Resource": "*"}), "*:* on *",
     "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "secretsmanager:Get?ecretValue",
                             "Resource": "arn:aws:secretsmanager:*:*:secret:*"}),
     "secrets of every account (? wildcard)", "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::mine/*"}),
     "NotAction with NotResource", "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "KMS:decrypt", "Resource": "arn:aws:kms:*:*:key/*"}),
     "action names compare case-insensitively", "iam-no-broad-grants"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "iam:Pass*", "Resource": "arn:aws:iam::*:role/*"}),
     "iam:Pass* on every role of every account", "iam-no-privilege-escalation"),
    (WEIGHTS_POLICY, policy({"Effect": "Allow", "Action": "i?m:*", "Resource": f"arn:aws:iam::{OWN}:role/x"}),
     "every iam action through a ? wildcard", "iam-no-privilege-escalation"),
    (NODE_ROLE, trust(Principal="*", Condition={"Bool": {"aws:SecureTransport": "true"}}),
     "anyone assumes, condition on TLS only", "iam-policy-no-open-principal"),
    (NODE_ROLE, trust(Principal={"AWS": "*"}, Condition={"StringEqualsIfExists": {"aws:SourceAccount": OWN}}),
     "IfExists restricts nothing", "iam-policy-no-open-principal"),
    (NODE_ROLE, trust(Principal={"AWS": "*"}, Condition={"StringLike": {"aws:PrincipalOrgID": "*"}}),
     "a '*' org restricts nothing", "iam-policy-no-open-principal"),
    (NODE_ROLE, trust(Principal={"AWS": "*"}, Condition={"StringNotEquals": {"aws:PrincipalAccount": "1"}}),
     "a negative operator restricts nothing", "iam-policy-no-open-principal"),
    (NODE_ROLE, trust(Principal={"AWS": "*"}, Condition={"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-1"}}),
     "ForAllValues on an absent key restricts nothing", "iam-policy-no-open-principal"),
    (NODE_ROLE, trust(Principal={"AWS": "*"}, Condition={"StringEquals": {"aws:SourceAccount": "all"}}),
     "an account key with a non-account value", "iam-policy-no-open-principal"),
    (NODE_ROLE, trust(Principal={"Service": "vpc-flow-logs.amazonaws.com"},
                      Condition={"StringLike": {"aws:SourceAccount": "*"}}),
     "service trust with a wildcard source account", "iam-service-trust-source-account"),
    (KEY, policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
                  "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}),
     "key usable by anyone through S3", "iam-policy-no-open-principal"),
    (WEIGHTS_BUCKET, policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
     "bucket readable by anyone over TLS", "iam-policy-no-open-principal"),
    ("use1-k8s-cluster-AmazonEKSClusterPolicy", set_path("policyArn",
                                                          "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"),
     "administrator policy in another partition", "iam-no-admin-managed-policies"),
    ("use1-k8s-node-AmazonEKSWorkerNodePolicy",
     set_path("policyArn", "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"),
     "a FullAccess managed policy on the node role", "iam-no-admin-managed-policies"),
    (NODE_ROLE, set_path("managedPolicyArns", ["arn:aws:iam::aws:policy/PowerUserAccess"]),
     "PowerUserAccess listed on the role", "iam-no-admin-managed-policies"),
    # exemptions name exactly what is exempt; Helm values are read
    (PLUGIN, set_path("spec.template.spec.volumes.0.hostPath.path", "/"), "device plugin mounts /",
     "k8s-pod-security-restricted"),
    (PLUGIN, set_path("spec.template.spec.containers.0.securityContext.capabilities.add", ["SYS_ADMIN"]),
     "device plugin adds SYS_ADMIN", "k8s-pod-security-restricted"),
    (PLUGIN, set_path("spec.template.spec.containers.0.securityContext.privileged", True),
     "device plugin privileged", "k8s-pod-security-restricted"),
    (PLUGIN, set_path("spec.template.spec.hostPID", True), "device plugin in the host PID namespace",
     "k8s-pod-security-restricted"),
    (PLUGIN, set_path("metadata.namespace", "kube-system"), "the plugin's exception does not travel to kube-system",
     "k8s-pod-security-restricted"),
    (PLUGIN, set_path("metadata.name", "other-daemon"), "another workload in the exempt namespace",
     "k8s-pod-security-restricted"),
    (LBC_RELEASE, set_path("values.hostNetwork", True), "Helm values: host network", "helm-values-pod-security"),
    (LBC_RELEASE, set_path("values.securityContext", {"privileged": True}), "Helm values: privileged",
     "helm-values-pod-security"),
    (LBC_RELEASE, set_path("values.extraVolumes", [{"name": "root", "hostPath": {"path": "/"}}]),
     "Helm values: hostPath /", "helm-values-pod-security"),
    (LBC_RELEASE, set_path("values.podSecurityContext", {"runAsUser": 0}), "Helm values: root",
     "helm-values-pod-security"),
    (LBC_RELEASE, set_path("values.containerSecurityContext", {"capabilities": {"add": ["SYS_ADMIN"]}}),
     "Helm values: SYS_ADMIN", "helm-values-pod-security"),
    # TLS by protocol, SSL policies by cipher list
    (MONGO_LB, lambda p: (set_path("metadata.annotations", {})(p), set_path("spec.ports", [
        {"name": "http", "port": 443, "targetPort": 8000}])(p)), "public Service on 443 speaking HTTP",
     "k8s-service-exposure"),
    (MONGO_LB, lambda p: (set_path("metadata.annotations", {
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:aws:acm:us-east-1:1:certificate/x",
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "8443"})(p),
        set_path("spec.ports", [{"name": "web", "port": 443, "targetPort": 8000}])(p)),
     "certificate on another port than 443", "k8s-service-exposure"),
    ("rollout-certs-euw4-tls", lambda p: p.update(profile="CUSTOM", customFeatures=[
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"]), "CUSTOM policy with RSA/CBC",
     "gcp-ssl-policy-modern"),
    ("rollout-certs-euw4-tls", lambda p: p.update(profile="CUSTOM", customFeatures=[
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]), "CUSTOM policy with 3DES", "gcp-ssl-policy-modern"),
    # NetworkPolicy peers by effective scope
    (SERVING_POLICY, ingress_peer({"namespaceSelector": {}, "podSelector": {}}),
     "both selectors empty: every pod everywhere", "k8s-network-policy-narrow"),
    (SERVING_POLICY, ingress_peer({"namespaceSelector": {"matchLabels": {}}}), "empty matchLabels",
     "k8s-network-policy-narrow"),
    (SERVING_POLICY, ingress_peer({"namespaceSelector": {"matchExpressions": []}, "podSelector": {
        "matchLabels": {"app": "x"}}}), "labelled pods of every namespace", "k8s-network-policy-narrow"),
    (SERVING_POLICY, ingress_peer({"ipBlock": {"cidr": "0.0.0.0/0"}}), "ipBlock 0.0.0.0/0",
     "k8s-network-policy-narrow"),
    (SERVING_POLICY, lambda p: p["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}),
     "egress on every port to the internet", "k8s-network-policy-narrow"),
    # peer exposure
    (PEERS_FW, set_path("allows", [{"protocol": "tcp"}]), "peer firewall: all TCP", "peer-ingress-ports-listed"),
    (PEERS_FW, set_path("allows", [{"protocol": "all"}]), "peer firewall: every protocol",
     "peer-ingress-ports-listed"),
    (PEERS_FW, set_path("allows", [{"protocol": "tcp", "ports": ["1-65535"]}]), "peer firewall: 1-65535",
     "peer-ingress-ports-listed"),
    (PEERS_SG, set_path("ingress.0.protocol", "-1"), "peer security group: every protocol",
     "peer-ingress-ports-listed"),
    (PEERS_SG, lambda p: p["ingress"][0].update(fromPort=0, toPort=65535), "peer security group: all TCP",
     "peer-ingress-ports-listed"),
]


def mandatory_findings(resource: Resource) -> dict[str, list[str]]:
    return {r.name: found for r in ALL_RULES if isinstance(r, Rule) and r.enforcement == MANDATORY
            for found in [r.evaluate(resource)] if found}


def test_the_battery_is_wide():
    assert len(WEAKNESSES) >= 80
    assert len({w[2] for w in WEAKNESSES}) == len(WEAKNESSES)


@pytest.mark.parametrize("name, mutate, what, rule_name", WEAKNESSES, ids=[w[2] for w in WEAKNESSES])
def test_each_weakness_is_caught_by_its_rule(named, name, mutate, what, rule_name):
    original = named[name]
    assert rule_name not in mandatory_findings(original), "the rendered resource itself must pass"
    props = copy.deepcopy(dict(original.props))
    mutate(props)
    bad = Resource(type=original.type, props=props, urn=original.urn, name=original.name)
    assert rule_name in mandatory_findings(bad), f"{what}: {rule_name} did not catch it"


def test_the_prod_stack_draws_no_mandatory_finding_from_these_rules(prod):
    for rule in NEW_RULES:
        if rule.enforcement != MANDATORY:
            continue
        if isinstance(rule, StackRule):
            assert rule.evaluate(prod) == [], rule.name
        else:
            assert [(r.name, m) for r in prod for m in rule.evaluate(r)] == [], rule.name


# ---- stack rules ---------------------------------------------------------------------------------------

def test_trust_to_a_foreign_account_fails_own_and_listed_partners_pass(prod, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    rule = iam.iam_trust_known_accounts
    role = next(r for r in prod if r.name == NODE_ROLE)

    def with_trust(principal: str, condition: dict | None = None) -> list[Resource]:
        statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
        if condition:
            statement["Condition"] = condition
        changed = Resource(type=role.type, props={**role.props, "assumeRolePolicy": json.dumps(
            {"Statement": [statement]})}, urn=role.urn, name=role.name)
        return [changed if r is role else r for r in prod]

    assert rule.evaluate(with_trust(f"arn:aws:iam::{OWN}:root")) == []
    assert [u for _, u in rule.evaluate(with_trust("arn:aws:iam::999988887777:root"))] == [role.urn]
    assert rule.evaluate(with_trust("999988887777"))
    partner = {"trustedAccountIds": ["999988887777"]}
    assert rule.evaluate(with_trust("arn:aws:iam::999988887777:role/ci"), partner)  # no external id
    assert rule.evaluate(with_trust("arn:aws:iam::999988887777:role/ci",
                                    {"StringEquals": {"sts:ExternalId": "rollout-7f3c"}}), partner) == []
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:allowedAccountIds": '["222222222222"]'}))
    assert rule.evaluate(with_trust(f"arn:aws:iam::{OWN}:root")), "allowedAccountIds decide when the engine has them"
    assert rule.evaluate(with_trust("arn:aws:iam::222222222222:root")) == []


def test_a_public_forwarding_rule_in_front_of_an_http_proxy_fails_on_any_port():
    def res(typ, name, props, deps=()):
        return Resource(type=typ, props=props, urn=f"urn:pulumi:prod::p::{typ}::{name}", name=name,
                        dependencies=list(deps))
    http = res("gcp:compute/regionTargetHttpProxy:RegionTargetHttpProxy", "http", {})
    https = res("gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy", "https", {})
    on_443 = res("gcp:compute/forwardingRule:ForwardingRule", "fr", {"portRange": "443"}, [http])
    good = res("gcp:compute/forwardingRule:ForwardingRule", "ok", {"portRange": "443"}, [https])
    assert [u for _, u in edge.gcp_public_forwarding_tls.evaluate([http, https, on_443, good])] == [on_443.urn]


# ---- the readers themselves ----------------------------------------------------------------------------

def test_iam_wildcards_match_as_iam_matches():
    assert wildcard_match("s3:Get*", "S3:GETOBJECT", case_sensitive=False)
    assert not wildcard_match("arn:aws:s3:::Mine*", "arn:aws:s3:::mine-bucket", case_sensitive=True)
    assert wildcard_match("arn:aws:s3:::*", "arn:aws:s3:::other/obj", case_sensitive=True)
    assert wildcard_match("kms:?ecrypt", "kms:Decrypt", case_sensitive=False)
    s = {"Effect": "Allow", "NotAction": ["s3:*"], "Resource": "*"}
    assert allows_action(s, "kms:Decrypt") and not allows_action(s, "s3:GetObject")
    assert on_resource({"Resource": "arn:aws:s3:::b/*"}, "arn:aws:s3:::b/k")
    assert not on_resource({"Resource": "arn:aws:s3:::b/*"}, "arn:aws:s3:::c/k")


@pytest.mark.parametrize("condition, restricts", [
    ({"StringEquals": {"aws:SourceAccount": OWN}}, True),
    ({"ArnLike": {"aws:SourceArn": f"arn:aws:logs:us-east-1:{OWN}:*"}}, True),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3"}}, True),
    ({"StringEquals": {"sts:ExternalId": "x-1"}}, True),
    ({"StringEqualsIfExists": {"aws:SourceAccount": OWN}}, False),
    ({"StringLike": {"aws:SourceArn": "*"}}, False),
    ({"StringNotEquals": {"aws:SourceAccount": OWN}}, False),
    ({"Null": {"aws:SourceAccount": "false"}}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, False),
    ({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, False),
])
def test_only_conditions_that_name_who_restrict(condition, restricts):
    assert bool(restricting_keys({"Principal": "*", "Condition": condition})) is restricts


def test_oidc_sub_restricts_only_a_web_identity_trust():
    federated = {"Principal": {"Federated": f"arn:aws:iam::{OWN}:oidc-provider/x"},
                 "Condition": {"StringEquals": {"x:sub": "system:serviceaccount:a:b"}}}
    assert restricting_keys(federated) == {"x:sub"}
    assert restricting_keys({**federated, "Principal": "*"}) == set()


def test_command_lines_are_split_as_the_shell_and_the_parsers_do():
    script = {"name": "c", "command": ["sh", "-c", "set -e; A=1 exec mongod --auth --tlsMode=requireTLS | tee x"]}
    [first, second, third] = invocations(script)
    assert (first.program, second.program, third.program) == ("set", "mongod", "tee")
    assert options(second.args) == [("--auth", None), ("--tlsMode", "requireTLS")]
    assert invocations({"name": "m", "image": "docker.io/library/mongo:8.0.17@sha256:" + "a" * 64,
                        "args": ["--auth"]})[0].program == "mongod"
    assert options(("--api_key", "k"), normalize_underscores=True) == [("--api-key", "k")]


@pytest.mark.parametrize("value", ["https://rollout.example.com/health", "arn:aws:iam::123456789012:role/x",
                                   "sha256:" + "0123456789abcdef" * 4, "ELBSecurityPolicy-TLS13-1-2-2021-06",
                                   "mongodb://$(USER):$(PASSWORD)@db:27017", "/var/lib/kubelet/device-plugins",
                                   "llama-3.1-8b-instruct", "vllm/vllm-openai:v0.24.0",
                                   "system:serviceaccount:kube-system:aws-load-balancer-controller",
                                   "authMechanism=MONGODB-X509&authSource=%24external"])
def test_ordinary_values_are_not_secrets(value):
    assert secret_shapes(value) == []
