"""The policy pack program. The engine runs `python -u -m pulumi.policy <engine> .` in policies/, which
runs this file; constructing PolicyPack starts the gRPC analyzer, prints its port and blocks, so it
happens only here (never on import of the rules)."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.ADVISORY,  # every rule sets its own level; this is the fallback
)
