"""Stateful resources: protected against `pulumi destroy` / replacement, and encrypted at rest."""

from __future__ import annotations

from collections.abc import Iterator

from .core import ADVISORY, HIGH, MANDATORY, MEDIUM, Resource, get, is_unknown, rule

# Deleting any of these loses data (volumes, the MongoDB replica set).
STATEFUL = (
    "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:PersistentVolume",
    "kubernetes:apps/v1:StatefulSet", "aws:ebs/volume:Volume", "gcp:compute/disk:Disk",
)
# Deleting these makes what they encrypt (Kubernetes secrets in etcd) unreadable. Advisory until the
# cluster components protect them (they do not yet: see the report to the lead).
KEYS = ("aws:kms/key:Key", "gcp:kms/cryptoKey:CryptoKey", "gcp:kms/keyRing:KeyRing")
EBS_VOLUME = "aws:ebs/volume:Volume"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"


@rule("stateful-resources-protected",
      "Volumes and StatefulSets (MongoDB) are registered with protect=True (no accidental delete).",
      enforcement=MANDATORY, severity=HIGH, types=STATEFUL)
def stateful_protected(r: Resource, config) -> Iterator[str]:
    if not r.protect:
        yield "resource option protect is not set"


@rule("encryption-keys-protected",
      "KMS keys that encrypt cluster secrets are registered with protect=True (deleting one bricks the cluster).",
      enforcement=ADVISORY, severity=MEDIUM, types=KEYS)
def keys_protected(r: Resource, config) -> Iterator[str]:
    if not r.protect:
        yield "resource option protect is not set"


@rule("volumes-encrypted",
      "Block storage is encrypted at rest: EBS volumes, instance and launch-template disks, EBS CSI classes.",
      enforcement=MANDATORY, severity=HIGH, types=(EBS_VOLUME, STORAGE_CLASS, LAUNCH_TEMPLATE, EC2_INSTANCE))
def volumes_encrypted(r: Resource, config) -> Iterator[str]:
    p = r.props
    if r.type == EC2_INSTANCE:
        disks = [p.get("rootBlockDevice"), *(p.get("ebsBlockDevices") or [])]
        for disk in (d for d in disks if isinstance(d, dict)):
            if disk.get("encrypted") is not True and not is_unknown(disk.get("encrypted")):
                yield f"disk {disk.get('deviceName', 'root')} is not encrypted"
        if p.get("rootBlockDevice") is None:
            yield "rootBlockDevice not set: the AMI's unencrypted default may apply"
    elif r.type == EBS_VOLUME:
        if p.get("encrypted") is not True and not is_unknown(p.get("encrypted")):
            yield "encrypted is not true"
    elif r.type == STORAGE_CLASS:
        if p.get("provisioner") == "ebs.csi.aws.com" and get(p, "parameters.encrypted") != "true":
            yield "EBS CSI storage class without parameters.encrypted 'true'"
    else:
        for mapping in p.get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs") if isinstance(mapping, dict) else None
            if isinstance(ebs, dict) and ebs.get("encrypted") not in (True, "true"):
                yield f"block device {mapping.get('deviceName')} is not encrypted"


RULES = [stateful_protected, keys_protected, volumes_encrypted]
