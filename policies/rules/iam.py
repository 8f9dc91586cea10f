"""Identity and keys (AWS FSBP IAM/KMS, CIS AWS 1.x, CIS GCP 1.x): no administrator policies on
roles, IRSA trust bound to one service account, service trust guarded against the confused deputy,
KMS key policies that neither lock the account out nor open the key to everyone, GCP keys rotated
at least every 90 days, nothing granted to allUsers, no owner/editor for service accounts, no
user-managed service-account keys."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .core import ADVISORY, CRITICAL, HIGH, LOW, MANDATORY, MEDIUM, Param, Resource, as_list, is_unknown, rule

ROLE = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
IAM_POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy")

GCP_CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
GCP_KMS_IAM = ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding",
               "gcp:kms/keyRingIAMMember:KeyRingIAMMember", "gcp:kms/keyRingIAMBinding:KeyRingIAMBinding")
GCP_PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
GCP_STORAGE_IAM = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
GCP_SA_KEY = "gcp:serviceaccount/key:Key"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

ADMIN_POLICIES = Param("array", ["arn:aws:iam::aws:policy/AdministratorAccess",
                                 "arn:aws:iam::aws:policy/PowerUserAccess",
                                 "arn:aws:iam::aws:policy/IAMFullAccess",
                                 "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
                                 "arn:aws:iam::aws:policy/AmazonS3FullAccess"],
                       "AWS managed policies never attached to a role of this program")


def statements(document: Any) -> list[dict[str, Any]]:
    """IAM JSON (string or dict) -> its statements; [] when unknown or unparsable."""
    if is_unknown(document) or document is None:
        return []
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    found = document.get("Statement", []) if isinstance(document, dict) else []
    return [s for s in as_list(found) if isinstance(s, dict)]


def principals(statement: dict[str, Any], kind: str | None = None) -> list[str]:
    """Principal values of a statement ('*' as a string principal counts for every kind)."""
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    if not isinstance(principal, dict):
        return []
    return [str(v) for k, vs in principal.items() if kind is None or k == kind for v in as_list(vs)]


def condition_keys(statement: dict[str, Any]) -> set[str]:
    """Every condition key, lower-cased ("aws:sourceaccount", "<issuer>:sub", ...)."""
    cond = statement.get("Condition")
    if not isinstance(cond, dict):
        return set()
    return {str(key).lower() for block in cond.values() if isinstance(block, dict) for key in block}


def _condition_values(statement: dict[str, Any], suffix: str) -> list[str]:
    cond = statement.get("Condition") if isinstance(statement.get("Condition"), dict) else {}
    return [str(v) for block in cond.values() if isinstance(block, dict)
            for key, vs in block.items() if str(key).lower().endswith(suffix) for v in as_list(vs)]


@rule("iam-no-admin-managed-policies",
      "Roles never get AWS managed administrator / full-access policies (FSBP IAM.1, CIS AWS 1.16).",
      enforcement=MANDATORY, severity=CRITICAL, types=(ROLE_POLICY_ATTACHMENT, POLICY_ATTACHMENT, ROLE),
      params={"forbiddenPolicies": ADMIN_POLICIES})
def iam_no_admin_managed(r: Resource, config) -> Iterator[str]:
    forbidden = set(config["forbiddenPolicies"])
    arns = as_list(r.props.get("managedPolicyArns")) if r.type == ROLE else [r.props.get("policyArn")]
    for arn in arns:
        if isinstance(arn, str) and arn in forbidden:
            yield f"{arn} is attached"


@rule("iam-no-privilege-escalation",
      "IAM policies do not allow NotAction, iam:* or iam:PassRole on every resource (privilege escalation paths).",
      enforcement=MANDATORY, severity=HIGH, types=IAM_POLICIES)
def iam_no_escalation(r: Resource, config) -> Iterator[str]:
    for s in statements(r.props.get("policy")):
        if s.get("Effect") != "Allow":
            continue
        if s.get("NotAction") is not None:
            yield "a statement allows NotAction (everything except a list)"
        actions = [str(a).lower() for a in as_list(s.get("Action"))]
        resources = as_list(s.get("Resource"))
        if "iam:*" in actions:
            yield "a statement allows iam:*"
        if "iam:passrole" in actions and "*" in resources:
            yield "a statement allows iam:PassRole on Resource '*'"


@rule("irsa-trust-bound-to-service-account",
      "Roles assumed through an OIDC provider (IRSA) pin the audience and the exact service account (:sub), "
      "so no other pod of the cluster can take them.",
      enforcement=MANDATORY, severity=HIGH, types=(ROLE,))
def irsa_trust_bound(r: Resource, config) -> Iterator[str]:
    for s in statements(r.props.get("assumeRolePolicy")):
        if s.get("Effect") != "Allow" or not principals(s, "Federated"):
            continue
        keys = condition_keys(s)
        if not any(k.endswith(":sub") for k in keys):
            yield "web-identity trust without a :sub condition: every service account of the cluster can assume it"
        elif any("*" in v or "?" in v for v in _condition_values(s, ":sub")):
            yield "the :sub condition is a wildcard pattern"
        if not any(k.endswith(":aud") for k in keys):
            yield "web-identity trust without an :aud condition"


CONFUSED_DEPUTY = Param("array", ["vpc-flow-logs.amazonaws.com", "delivery.logs.amazonaws.com",
                                  "logs.amazonaws.com", "s3.amazonaws.com", "sns.amazonaws.com",
                                  "events.amazonaws.com"],
                        "service principals whose trust must carry aws:SourceAccount / aws:SourceArn")


@rule("iam-service-trust-source-account",
      "Roles trusted by AWS services that act for many accounts (flow logs, log delivery) carry aws:SourceAccount "
      "or aws:SourceArn (cross-service confused deputy).",
      enforcement=MANDATORY, severity=MEDIUM, types=(ROLE,), params={"services": CONFUSED_DEPUTY})
def service_trust_source_account(r: Resource, config) -> Iterator[str]:
    guarded = set(config["services"])
    for s in statements(r.props.get("assumeRolePolicy")):
        services = [p for p in principals(s, "Service") if p in guarded]
        if s.get("Effect") != "Allow" or not services:
            continue
        keys = condition_keys(s)
        if not keys & {"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid"}:
            yield f"trust for {', '.join(services)} without aws:SourceAccount / aws:SourceArn"


@rule("iam-role-max-session", "Roles keep the default one-hour maximum session (leaked credentials expire soon).",
      enforcement=ADVISORY, severity=LOW, types=(ROLE,),
      params={"maxSeconds": Param("integer", 3600, "longest acceptable session duration")})
def role_max_session(r: Resource, config) -> Iterator[str]:
    seconds = r.props.get("maxSessionDuration")
    if seconds is not None and not is_unknown(seconds) and float(seconds) > config["maxSeconds"]:
        yield f"maxSessionDuration {seconds:g}s > {config['maxSeconds']}s"


@rule("kms-key-policy-safe",
      "KMS key policies never skip the lockout safety check and never open the key to every principal "
      "without a condition (FSBP KMS.2/KMS.5).",
      enforcement=MANDATORY, severity=CRITICAL, types=(KMS_KEY, KMS_KEY_POLICY))
def kms_key_policy_safe(r: Resource, config) -> Iterator[str]:
    if r.props.get("bypassPolicyLockoutSafetyCheck") is True:
        yield "bypassPolicyLockoutSafetyCheck is true: a bad policy can lock every administrator out"
    for s in statements(r.props.get("policy")):
        if s.get("Effect") == "Allow" and "*" in principals(s) and not s.get("Condition"):
            yield "the key policy allows Principal '*' without a Condition"
        actions = [str(a).lower() for a in as_list(s.get("Action"))]
        if s.get("Effect") == "Allow" and "*" in principals(s) and ("kms:*" in actions or "*" in actions):
            yield "the key policy allows kms:* to Principal '*'"


@rule("kms-key-deletion-window", "KMS keys wait the full 30 days before deletion (time to notice a mistake).",
      enforcement=ADVISORY, severity=LOW, types=(KMS_KEY,),
      params={"minDays": Param("integer", 30, "shortest deletion window in days")})
def kms_deletion_window(r: Resource, config) -> Iterator[str]:
    days = r.props.get("deletionWindowInDays")
    if days is not None and not is_unknown(days) and float(days) < config["minDays"]:
        yield f"deletionWindowInDays {days:g} < {config['minDays']}"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


@rule("gcp-kms-rotation-90-days", "Cloud KMS keys rotate at least every 90 days (CIS GCP 1.10).",
      enforcement=MANDATORY, severity=MEDIUM, types=(GCP_CRYPTO_KEY,),
      params={"maxDays": Param("integer", 90, "longest rotation period in days")})
def gcp_kms_rotation(r: Resource, config) -> Iterator[str]:
    period = r.props.get("rotationPeriod")
    if is_unknown(period):
        return
    if r.props.get("purpose", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return  # only symmetric keys rotate automatically
    match = _DURATION.match(str(period or ""))
    if not match:
        yield f"rotationPeriod {period!r} is not set to a duration like '7776000s'"
    elif float(match.group(1)) > config["maxDays"] * 86400:
        yield f"rotationPeriod {period} is longer than {config['maxDays']} days"


def _members(r: Resource) -> list[str]:
    return [m for m in [r.props.get("member"), *as_list(r.props.get("members"))] if isinstance(m, str)]


@rule("gcp-iam-no-public-members",
      "Nothing (project, KMS key or ring, bucket) is granted to allUsers or allAuthenticatedUsers (CIS GCP 1.x/5.1).",
      enforcement=MANDATORY, severity=CRITICAL, types=(*GCP_KMS_IAM, *GCP_PROJECT_IAM, *GCP_STORAGE_IAM))
def gcp_iam_no_public(r: Resource, config) -> Iterator[str]:
    public = [m for m in _members(r) if m in PUBLIC_MEMBERS]
    if public:
        yield f"{r.props.get('role')} granted to {', '.join(public)}"


@rule("gcp-service-accounts-not-owner",
      "Service accounts never hold primitive roles (owner, editor) or IAM admin on the project (CIS GCP 1.5/1.6).",
      enforcement=MANDATORY, severity=HIGH, types=GCP_PROJECT_IAM,
      params={"forbiddenRoles": Param("array", ["roles/owner", "roles/editor", "roles/iam.securityAdmin",
                                                "roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser",
                                                "roles/iam.serviceAccountTokenCreator"],
                                      "roles no service account of this program gets project-wide")})
def gcp_sa_not_owner(r: Resource, config) -> Iterator[str]:
    role = r.props.get("role")
    if not isinstance(role, str) or role not in config["forbiddenRoles"]:
        return
    accounts = [m for m in _members(r) if m.startswith("serviceAccount:") or (is_unknown(m) is False and "@" in m)]
    if accounts or is_unknown(r.props.get("member")):
        yield f"{role} granted to {', '.join(accounts) or 'a computed member'}"


@rule("gcp-no-service-account-keys",
      "No user-managed service-account keys: workloads use Workload Identity (CIS GCP 1.4).",
      enforcement=MANDATORY, severity=HIGH, types=(GCP_SA_KEY,))
def gcp_no_sa_keys(r: Resource, config) -> Iterator[str]:
    if r.props.get("publicKeyData") in (None, ""):
        yield "a user-managed key is created; its private key lands in state"
    else:
        yield "a user-managed key is uploaded for a service account"


@rule("iam-oidc-provider-sts-audience",
      "OIDC providers for IRSA accept only the sts.amazonaws.com audience over https.",
      enforcement=ADVISORY, severity=MEDIUM, types=(OIDC_PROVIDER,))
def oidc_sts_audience(r: Resource, config) -> Iterator[str]:
    clients = as_list(r.props.get("clientIdLists"))
    if not is_unknown(r.props.get("clientIdLists")) and [c for c in clients if not is_unknown(c)] != \
            ["sts.amazonaws.com"]:
        yield f"clientIdLists is {clients}; only sts.amazonaws.com"
    url = r.props.get("url")
    if isinstance(url, str) and not is_unknown(url) and not url.startswith("https://"):
        yield f"url {url} is not https"




@rule("iam-no-wildcard-service-actions",
      "Customer policies list actions: no 'service:*' allowed on every resource (FSBP IAM.21).",
      enforcement=MANDATORY, severity=MEDIUM, types=IAM_POLICIES)
def iam_no_wildcard_service(r: Resource, config) -> Iterator[str]:
    for s in statements(r.props.get("policy")):
        if s.get("Effect") != "Allow" or "*" not in as_list(s.get("Resource")):
            continue
        wild = [a for a in as_list(s.get("Action")) if isinstance(a, str) and a.endswith(":*")]
        if wild:
            yield f"a statement allows {', '.join(wild)} on Resource '*'"


KMS_USE_ROLES = ("roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.cryptoKeyEncrypter",
                 "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer",
                 "roles/cloudkms.signerVerifier")


@rule("gcp-kms-iam-least-privilege",
      "Grants on Cloud KMS keys and key rings only let principals use keys, never administer them "
      "(separation of duties, CIS GCP 1.11).",
      enforcement=MANDATORY, severity=MEDIUM, types=GCP_KMS_IAM)
def gcp_kms_least_privilege(r: Resource, config) -> Iterator[str]:
    role = r.props.get("role")
    if isinstance(role, str) and not is_unknown(role) and role not in KMS_USE_ROLES:
        yield f"{role} on a key: administration belongs to people, not workloads"


@rule("iam-no-long-lived-access-keys",
      "No IAM users or access keys: people use SSO roles, workloads IRSA / Pod Identity (CIS AWS 1.x, FSBP IAM.3).",
      enforcement=MANDATORY, severity=HIGH, types=("aws:iam/accessKey:AccessKey", "aws:iam/user:User"))
def iam_no_access_keys(r: Resource, config) -> Iterator[str]:
    yield "an IAM access key (long-lived credential) is created" if r.type.endswith("AccessKey") else \
        "an IAM user is created; use roles"


RULES = [iam_no_access_keys, iam_no_wildcard_service, gcp_kms_least_privilege, iam_no_admin_managed,
         iam_no_escalation, irsa_trust_bound, service_trust_source_account, role_max_session, kms_key_policy_safe,
         kms_deletion_window, gcp_kms_rotation, gcp_iam_no_public, gcp_sa_not_owner, gcp_no_sa_keys,
         oidc_sts_audience]
