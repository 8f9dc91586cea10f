"""What a rehearsal reports: one violation per broken expectation, each naming its rule and source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Violation:
    """One thing the real platform would refuse or do differently from what the program expects.

    `rule` is the stable id of the rule (e.g. `deploy/name-length`), `urn` the resource it is about
    (or "" for a stack-wide finding), `source` the URL or document the rule's fact comes from.
    """

    rule: str
    urn: str
    message: str
    source: str = ""

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "urn": self.urn, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class RehearsalReport:
    violations: tuple[Violation, ...]
    rules: tuple[str, ...]  # ids of every rule that ran
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)  # per-stage facts worth showing (e.g. waves)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_rule(self) -> dict[str, list[Violation]]:
        out: dict[str, list[Violation]] = {}
        for v in self.violations:
            out.setdefault(v.rule, []).append(v)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "rules": list(self.rules), "seconds": round(self.seconds, 3),
                "violations": [v.to_json() for v in self.violations], "notes": self.notes}
