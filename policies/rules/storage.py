"""Object storage (model weights, backups): S3 buckets block public access, are encrypted and
versioned, and refuse plain HTTP; GCS buckets use uniform access with public access prevention
(AWS FSBP S3.1/S3.4/S3.5/S3.8/S3.14, CIS GCP 5.1/5.2)."""

from __future__ import annotations

from collections.abc import Iterator

from .core import (
    ADVISORY,
    CRITICAL,
    HIGH,
    LOW,
    MANDATORY,
    MEDIUM,
    Resource,
    StackFinding,
    as_list,
    get,
    is_unknown,
    rule,
    stack_rule,
)
from .iam import open_to_anyone, statements

S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
       "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_ACLS = ("gcp:storage/bucketACL:BucketACL", "gcp:storage/defaultObjectACL:DefaultObjectACL",
            "gcp:storage/bucketAccessControl:BucketAccessControl",
            "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl")
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


@rule("s3-public-access-blocked", "S3 public access blocks set all four flags (FSBP S3.8).",
      enforcement=MANDATORY, severity=CRITICAL, types=(PUBLIC_ACCESS_BLOCK,))
def s3_block_flags(r: Resource, config) -> Iterator[str]:
    off = [f for f in BLOCK_FLAGS if r.props.get(f) is not True and not is_unknown(r.props.get(f))]
    if off:
        yield f"{', '.join(off)} not true"


@rule("s3-no-public-acl-or-policy",
      "S3 buckets get no public ACL and no bucket policy that allows '*' without a condition (FSBP S3.2/S3.3).",
      enforcement=MANDATORY, severity=CRITICAL, types=(*S3_BUCKETS, *BUCKET_ACLS, BUCKET_POLICY))
def s3_no_public(r: Resource, config) -> Iterator[str]:
    acl = r.props.get("acl")
    if isinstance(acl, str) and acl in PUBLIC_ACLS:
        yield f"acl is {acl}"
    for grant in as_list(get(r.props, "accessControlPolicy.grants")):
        uri = get(grant, "grantee.uri") if isinstance(grant, dict) else None
        if isinstance(uri, str) and ("AllUsers" in uri or "AuthenticatedUsers" in uri):
            yield f"a grant to {uri}"
    for s in statements(r.props.get("policy")):
        if open_to_anyone(s):
            yield "the bucket policy allows Principal '*' without a condition that restricts who"


@rule("s3-bucket-policy-tls-only",
      "S3 bucket policies deny requests without TLS (aws:SecureTransport false; FSBP S3.5).",
      enforcement=ADVISORY, severity=MEDIUM, types=(BUCKET_POLICY,))
def s3_tls_only(r: Resource, config) -> Iterator[str]:
    docs = statements(r.props.get("policy"))
    if is_unknown(r.props.get("policy")):
        return
    denies = [s for s in docs if s.get("Effect") == "Deny" and "aws:securetransport" in
              {str(k).lower() for block in (s.get("Condition") or {}).values() if isinstance(block, dict)
               for k in block}]
    if not denies:
        yield "no Deny statement on aws:SecureTransport false"


@rule("s3-encryption-kms", "S3 default encryption uses KMS (aws:kms / aws:kms:dsse) with a bucket key.",
      enforcement=ADVISORY, severity=LOW, types=SSE)
def s3_encryption_kms(r: Resource, config) -> Iterator[str]:
    for entry in as_list(r.props.get("rules")):
        algorithm = get(entry, "applyServerSideEncryptionByDefault.sseAlgorithm") if isinstance(entry, dict) else None
        if isinstance(algorithm, str) and not algorithm.startswith("aws:kms"):
            yield f"sseAlgorithm {algorithm}; use aws:kms with a customer-managed key"


@rule("s3-versioning-enabled", "S3 bucket versioning is Enabled (recover overwritten weights and backups).",
      enforcement=MANDATORY, severity=MEDIUM, types=VERSIONING)
def s3_versioning(r: Resource, config) -> Iterator[str]:
    status = get(r.props, "versioningConfiguration.status")
    if not is_unknown(status) and status != "Enabled":
        yield f"versioningConfiguration.status is {status!r}, not 'Enabled'"


def _bucket_companions(resources: list[Resource], bucket: Resource, types: tuple[str, ...]) -> list[Resource]:
    return [r for r in resources if r.type in types and bucket in r.depends_on("bucket")]


@stack_rule("s3-buckets-hardened",
            "Every S3 bucket has a public access block, default encryption and versioning (FSBP S3.1/S3.4/S3.14).",
            enforcement=MANDATORY, severity=HIGH, reads=(*S3_BUCKETS, PUBLIC_ACCESS_BLOCK, *SSE, *VERSIONING))
def s3_buckets_hardened(resources: list[Resource], config) -> Iterator[StackFinding]:
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        if not _bucket_companions(resources, bucket, (PUBLIC_ACCESS_BLOCK,)):
            yield f"bucket {bucket.name} has no BucketPublicAccessBlock", bucket.urn
        inline_sse = bucket.props.get("serverSideEncryptionConfiguration")
        if not inline_sse and not _bucket_companions(resources, bucket, SSE):
            yield f"bucket {bucket.name} has no server-side encryption configuration", bucket.urn
        if get(bucket.props, "versioning.enabled") is not True and \
                not _bucket_companions(resources, bucket, VERSIONING):
            yield f"bucket {bucket.name} has no versioning configuration", bucket.urn


@rule("gcs-uniform-access-no-public",
      "GCS buckets use uniform bucket-level access and enforce public access prevention (CIS GCP 5.1, 5.2).",
      enforcement=MANDATORY, severity=CRITICAL, types=(GCS_BUCKET,))
def gcs_uniform(r: Resource, config) -> Iterator[str]:
    if r.props.get("uniformBucketLevelAccess") is not True and not is_unknown(r.props.get("uniformBucketLevelAccess")):
        yield "uniformBucketLevelAccess is not true: object ACLs can make objects public"
    prevention = r.props.get("publicAccessPrevention")
    if not is_unknown(prevention) and prevention != "enforced":
        yield f"publicAccessPrevention is {prevention!r}, not 'enforced'"


@rule("gcs-versioned", "GCS buckets keep object versions (or a soft-delete / retention policy).",
      enforcement=ADVISORY, severity=LOW, types=(GCS_BUCKET,))
def gcs_versioned(r: Resource, config) -> Iterator[str]:
    if get(r.props, "versioning.enabled") is not True and not r.props.get("retentionPolicy"):
        yield "versioning.enabled is not true and no retentionPolicy"


@rule("gcs-no-public-acl", "GCS bucket and default object ACLs never grant allUsers / allAuthenticatedUsers.",
      enforcement=MANDATORY, severity=CRITICAL, types=GCS_ACLS)
def gcs_no_public_acl(r: Resource, config) -> Iterator[str]:
    entries = [*as_list(r.props.get("roleEntities")), r.props.get("entity")]
    if r.props.get("predefinedAcl") in ("publicRead", "publicReadWrite", "authenticatedRead"):
        yield f"predefinedAcl is {r.props.get('predefinedAcl')}"
    for entry in entries:
        if isinstance(entry, str) and ("allUsers" in entry or "allAuthenticatedUsers" in entry):
            yield f"ACL entry {entry}"


RULES = [s3_block_flags, s3_no_public, s3_tls_only, s3_encryption_kms, s3_versioning, s3_buckets_hardened,
         gcs_uniform, gcs_versioned, gcs_no_public_acl]
