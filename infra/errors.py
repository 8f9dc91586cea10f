"""The one error type bad input produces, so every entry point can print it and exit 2."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """Invalid stack configuration: one message listing every problem with its field path.

    Raised by the config loader, the catalog, the address plan and the sizing model. The CLIs print
    `str(error)` and exit 2; the Pulumi program lets it fail the run with the same text.
    """

    def __init__(self, problems: Iterable[str], *, title: str = "invalid stack configuration"):
        self.problems: tuple[str, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ConfigError needs at least one problem")
        self.title = title
        lines = [f"{title} ({len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
