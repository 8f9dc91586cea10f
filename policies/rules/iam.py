"""Identity and keys (AWS FSBP IAM/KMS, CIS AWS 1.x, CIS GCP 1.x): no administrator policies on
roles, IRSA trust bound to one service account, service trust guarded against the confused deputy,
KMS key policies that neither lock the account out nor open the key to everyone, GCP keys rotated
at least every 90 days, nothing granted to allUsers, no owner/editor for service accounts, no
user-managed service-account keys."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from .core import (
    ADVISORY,
    CRITICAL,
    HIGH,
    LOW,
    MANDATORY,
    MEDIUM,
    Param,
    Resource,
    StackFinding,
    as_list,
    is_unknown,
    rule,
    stack_rule,
)

ROLE = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
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
# Every AWS managed `...FullAccess` policy grants a whole service (e.g. AmazonS3FullAccess: s3:* on *), and
# AdministratorAccess / PowerUserAccess nearly everything, in any partition (aws, aws-cn, aws-us-gov)
# (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html).
BROAD_MANAGED = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*"
                           r"(?:AdministratorAccess|PowerUserAccess|[A-Za-z0-9]+FullAccess(?:[-_][A-Za-z0-9]+)?)$")


def _aws_partition(arn: str) -> str:
    """arn:aws-cn:iam::aws:policy/X -> arn:aws:iam::aws:policy/X (the same managed policy)."""
    return re.sub(r"^arn:aws[a-z-]*:", "arn:aws:", arn)


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



# ---- IAM evaluated as IAM evaluates it ---------------------------------------------------------------
# Wildcards: `*` any run of characters, `?` one character; actions compare case-insensitively, resources
# (ARNs) case-sensitively; NotAction / NotResource match everything except the list
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
# .../reference_policies_elements_resource.html).


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _covers(statement: dict[str, Any], key: str, value: str, *, case_sensitive: bool) -> bool:
    if statement.get(key) is not None:
        return any(wildcard_match(p, value, case_sensitive=case_sensitive)
                   for p in as_list(statement.get(key)) if isinstance(p, str))
    negated = statement.get("Not" + key)
    if negated is not None:
        return not any(wildcard_match(p, value, case_sensitive=case_sensitive)
                       for p in as_list(negated) if isinstance(p, str))
    return False


def allows_action(statement: dict[str, Any], action: str) -> bool:
    return _covers(statement, "Action", action, case_sensitive=False)


def on_resource(statement: dict[str, Any], arn: str) -> bool:
    """Does the statement's Resource (or NotResource) cover `arn`? No Resource element (trust and
    resource policies) covers the resource the policy is attached to."""
    if statement.get("Resource") is None and statement.get("NotResource") is None:
        return True
    return _covers(statement, "Resource", arn, case_sensitive=True)


# Condition keys that narrow who may act (or on whose behalf a service acts) to known parties
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
RESTRICTING_KEYS = frozenset({
    "aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths", "aws:sourceowner",
    "aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn",
    "aws:sourcevpc", "aws:sourcevpce", "sts:externalid", "kms:calleraccount",
})
ACCOUNT_KEYS = frozenset({"aws:sourceaccount", "aws:principalaccount", "kms:calleraccount", "aws:sourceowner"})
# Positive matching operators; `...IfExists` passes when the key is absent and `ForAllValues:` passes on an
# empty set, so neither restricts (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
MATCHING_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})


def _narrow(value: str, key: str) -> bool:
    if value.strip("*?") == "" or (value.endswith(":*") and value.count(":") <= 2):
        return False
    if key in ACCOUNT_KEYS:
        return re.fullmatch(r"\d{12}", value) is not None
    if key in ("aws:principalarn", "aws:sourcearn"):
        return re.search(r":\d{12}:", value) is not None  # an ARN naming its account
    return True


def restricting_keys(statement: dict[str, Any]) -> set[str]:
    """The condition keys that really restrict the statement's principals (lower-cased): a matching
    operator (not IfExists, not ForAllValues), a key from RESTRICTING_KEYS (or an OIDC `:sub` on a
    web-identity trust) and no value that matches anything."""
    cond = statement.get("Condition")
    if not isinstance(cond, dict):
        return set()
    principal = statement.get("Principal")
    federated = isinstance(principal, dict) and bool(as_list(principal.get("Federated")))
    found = set()
    for operator, block in cond.items():
        op = str(operator).lower()
        if not isinstance(block, dict) or op.endswith("ifexists") or op.startswith("forallvalues:"):
            continue
        if op.split(":")[-1] not in MATCHING_OPERATORS:
            continue
        for key, values in block.items():
            k = str(key).lower()
            if not (k in RESTRICTING_KEYS or (federated and k.endswith(":sub"))):
                continue
            vals = [str(v) for v in as_list(values) if not is_unknown(v)]
            if vals and all(_narrow(v, k) for v in vals):
                found.add(k)
    return found


def public_principal(statement: dict[str, Any]) -> bool:
    """Principal "*" or {"AWS": "*"} (anyone, any account)."""
    return "*" in principals(statement, None)


def open_to_anyone(statement: dict[str, Any]) -> bool:
    """An Allow to every principal that no condition narrows to known parties."""
    return statement.get("Effect") == "Allow" and public_principal(statement) and not restricting_keys(statement)


ACCOUNT_OF_PRINCIPAL = re.compile(r"^(?:arn:aws[a-z-]*:(?:iam|sts)::)?(\d{12})(?::|$)")


def principal_accounts(statement: dict[str, Any]) -> list[str]:
    """Accounts named by AWS principals (`123456789012`, `arn:aws:iam::123456789012:root|role/...`)."""
    out = []
    for value in principals(statement, "AWS"):
        match = ACCOUNT_OF_PRINCIPAL.match(value)
        if match:
            out.append(match.group(1))
    return out


@rule("iam-no-admin-managed-policies",
      "Roles never get AWS managed administrator / full-access policies (FSBP IAM.1, CIS AWS 1.16).",
      enforcement=MANDATORY, severity=CRITICAL,
      types=(ROLE_POLICY_ATTACHMENT, POLICY_ATTACHMENT, ROLE, POLICY_ATTACHMENTS_EXCLUSIVE),
      params={"forbiddenPolicies": ADMIN_POLICIES})
def iam_no_admin_managed(r: Resource, config) -> Iterator[str]:
    forbidden = {_aws_partition(a) for a in config["forbiddenPolicies"]}
    if r.type == ROLE:
        arns = as_list(r.props.get("managedPolicyArns"))
    elif r.type == POLICY_ATTACHMENTS_EXCLUSIVE:
        arns = as_list(r.props.get("policyArns"))
    else:
        arns = [r.props.get("policyArn")]
    for arn in arns:
        if not isinstance(arn, str) or is_unknown(arn):
            continue
        if _aws_partition(arn) in forbidden or BROAD_MANAGED.match(arn):
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
        # Matched as IAM matches (iam:*, iam:Pass*, *), not compared as strings.
        if all(allows_action(s, a) for a in ("iam:CreateUser", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy")):
            yield "a statement allows every iam action (iam:* or wider)"
        if allows_action(s, "iam:PassRole") and on_resource(s, "arn:aws:iam::999999999999:role/zz"):
            yield "a statement allows iam:PassRole on every role"


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
        keys = restricting_keys(s)  # "*" values and IfExists operators guard nothing
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
        if open_to_anyone(s):
            yield ("the key policy allows Principal '*' without a condition that names who (aws:PrincipalOrgID, "
                   "aws:PrincipalAccount, kms:CallerAccount, aws:SourceArn/SourceAccount)")
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
      "OIDC providers for IRSA accept only the STS audience of their partition (sts.amazonaws.com; "
      "sts.amazonaws.com.cn for a China issuer) over https.",
      enforcement=ADVISORY, severity=MEDIUM, types=(OIDC_PROVIDER,))
def oidc_sts_audience(r: Resource, config) -> Iterator[str]:
    url = r.props.get("url")
    # An EKS issuer in China ends in amazonaws.com.cn; its tokens carry sts.amazonaws.com.cn (docs/partitions.md).
    host = url.removeprefix("https://").split("/", 1)[0] if isinstance(url, str) and not is_unknown(url) else ""
    audience = "sts.amazonaws.com.cn" if host.endswith(".amazonaws.com.cn") else "sts.amazonaws.com"
    clients = as_list(r.props.get("clientIdLists"))
    if not is_unknown(r.props.get("clientIdLists")) and [c for c in clients if not is_unknown(c)] != [audience]:
        yield f"clientIdLists is {clients}; only {audience}"
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

# Actions that read or hand out data, keys or identities, each with an ARN of another account's resource
# of that service: a statement whose Action covers the action (wildcards as IAM matches them) and whose
# Resource covers that ARN grants it on everything, not on this stack's own resources.
SENSITIVE_ACTIONS: dict[str, str] = {
    "s3:GetObject": "arn:aws:s3:::zz-someone-elses-bucket/zz",
    "s3:PutObject": "arn:aws:s3:::zz-someone-elses-bucket/zz",
    "s3:DeleteBucket": "arn:aws:s3:::zz-someone-elses-bucket",
    "kms:Decrypt": "arn:aws:kms:us-east-1:999999999999:key/zz",
    "kms:CreateGrant": "arn:aws:kms:us-east-1:999999999999:key/zz",
    "kms:ScheduleKeyDeletion": "arn:aws:kms:us-east-1:999999999999:key/zz",
    "secretsmanager:GetSecretValue": "arn:aws:secretsmanager:us-east-1:999999999999:secret:zz",
    "ssm:GetParameter": "arn:aws:ssm:us-east-1:999999999999:parameter/zz",
    "iam:PassRole": "arn:aws:iam::999999999999:role/zz",
    "iam:CreateAccessKey": "arn:aws:iam::999999999999:user/zz",
    "iam:AttachRolePolicy": "arn:aws:iam::999999999999:role/zz",
    "sts:AssumeRole": "arn:aws:iam::999999999999:role/zz",
    "dynamodb:Scan": "arn:aws:dynamodb:us-east-1:999999999999:table/zz",
    "ec2:DeleteVpc": "arn:aws:ec2:us-east-1:999999999999:vpc/vpc-zz",
    "eks:DeleteCluster": "arn:aws:eks:us-east-1:999999999999:cluster/zz",
}
# Conditions that confine a grant to tagged / own resources or to one calling service.
RESOURCE_SCOPING = re.compile(r"(?:^|:)(?:resourcetag/|resourceaccount$|resourceorgid$|viaservice$|"
                              r"encryptioncontext|calleraccount$|s3:prefix$|sourcevpce?$)")


def _resource_scoped(statement: dict[str, Any]) -> bool:
    cond = statement.get("Condition")
    if not isinstance(cond, dict):
        return False
    for operator, block in cond.items():
        op = str(operator).lower()
        if not isinstance(block, dict) or op.endswith("ifexists") or op.split(":")[-1] == "null":
            continue
        if any(RESOURCE_SCOPING.search(str(k).lower()) for k in block):
            return True
    return False


def _policy_documents(r: Resource) -> list[Any]:
    if r.type == ROLE:
        return [p.get("policy") for p in as_list(r.props.get("inlinePolicies")) if isinstance(p, dict)]
    return [r.props.get("policy")]


@rule("iam-no-broad-grants",
      "Identity policies grant data, key and identity actions only on named resources: an Action that IAM "
      "matches to s3:GetObject, kms:Decrypt, secretsmanager:GetSecretValue, iam:PassRole, ... (s3:*, kms:*, *:*, "
      "NotAction) never on a Resource that also matches other accounts' resources (*, arn:aws:s3:::*), unless a "
      "condition scopes it (resource tags, kms:ViaService, ...).",
      enforcement=MANDATORY, severity=HIGH, types=(*IAM_POLICIES, ROLE))
def iam_no_broad_grants(r: Resource, config) -> Iterator[str]:
    for s in (s for d in _policy_documents(r) for s in statements(d)):
        if s.get("Effect") != "Allow" or _resource_scoped(s):
            continue
        broad = [a for a, arn in SENSITIVE_ACTIONS.items() if allows_action(s, a) and on_resource(s, arn)]
        if broad:
            shown = ", ".join(str(a) for a in as_list(s.get("Action") or s.get("NotAction")))
            yield f"a statement ({shown}) allows {', '.join(broad)} on every matching resource of any account"


@rule("iam-policy-no-open-principal",
      "Trust, key and bucket policies never allow Principal '*' unless a condition that actually restricts names "
      "who (aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID, aws:PrincipalAccount, sts:ExternalId, an OIDC "
      ":sub); IfExists, ForAllValues, negative operators and '*' values restrict nothing.",
      enforcement=MANDATORY, severity=CRITICAL,
      types=(ROLE, KMS_KEY, KMS_KEY_POLICY, "aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucket:Bucket",
             "aws:s3/bucketV2:BucketV2"))
def iam_policy_no_open_principal(r: Resource, config) -> Iterator[str]:
    document = r.props.get("assumeRolePolicy") if r.type == ROLE else r.props.get("policy")
    for s in statements(document):
        if open_to_anyone(s):
            given = sorted(condition_keys(s))
            yield ("a statement allows Principal '*' " +
                   (f"with conditions that do not restrict who ({', '.join(given)})" if given else
                    "without a condition"))


def _allowed_accounts_from_engine() -> set[str]:
    """`aws:allowedAccountIds` of the stack when the engine passes the stack config (PULUMI_CONFIG)."""
    try:
        values = json.loads(os.environ.get("PULUMI_CONFIG", "") or "{}")
    except ValueError:
        return set()
    raw = values.get("aws:allowedAccountIds") if isinstance(values, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = [raw]
    return {str(a) for a in as_list(raw) if isinstance(a, str | int)}


_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def _own_accounts(resources: list[Resource]) -> set[str]:
    """Accounts this stack's own resources live in: the OIDC providers and roles it names outside trust
    principals (what the program creates carries its account in every ARN)."""
    found: set[str] = set()
    for r in resources:
        props = {k: v for k, v in r.props.items() if k != "assumeRolePolicy"}
        found.update(_ARN_ACCOUNT.findall(json.dumps(props, default=str)))
        for s in statements(r.props.get("assumeRolePolicy")):
            for federated in principals(s, "Federated"):
                found.update(_ARN_ACCOUNT.findall(federated))
    return found


@stack_rule("iam-trust-known-accounts",
            "Role trust policies name only the stack's accounts (aws:allowedAccountIds, else the accounts of the "
            "stack's own ARNs) or partners listed in trustedAccountIds, and a listed partner must present "
            "sts:ExternalId.",
            enforcement=MANDATORY, severity=HIGH, reads=(ROLE,),
            params={"trustedAccountIds": Param("array", [], "partner accounts roles may trust (each with "
                                                          "sts:ExternalId)")})
def iam_trust_known_accounts(resources: list[Resource], config) -> Iterator[StackFinding]:
    own = _allowed_accounts_from_engine() or _own_accounts(resources)
    partners = {str(a) for a in config["trustedAccountIds"] if a}
    for r in (r for r in resources if r.type == ROLE):
        for s in statements(r.props.get("assumeRolePolicy")):
            if s.get("Effect") != "Allow":
                continue
            for account in principal_accounts(s):
                if account in own:
                    continue
                if account in partners:
                    if "sts:externalid" not in restricting_keys(s):
                        yield f"trust to partner account {account} without sts:ExternalId", r.urn
                    continue
                yield (f"trust to account {account}, which is not one of the stack's accounts "
                       f"({', '.join(sorted(own)) or 'none known'})"), r.urn


RULES = [iam_no_broad_grants, iam_policy_no_open_principal, iam_trust_known_accounts,
         iam_no_access_keys, iam_no_wildcard_service, gcp_kms_least_privilege, iam_no_admin_managed,
         iam_no_escalation, irsa_trust_bound, service_trust_source_account, role_max_session, kms_key_policy_safe,
         kms_deletion_window, gcp_kms_rotation, gcp_iam_no_public, gcp_sa_not_owner, gcp_no_sa_keys,
         oidc_sts_audience]
