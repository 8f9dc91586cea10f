"""Deploy rehearsal: the engine's order and the clouds' rules, per resource type, over a captured run.

Each rule cites the source of its fact (provider schema, API limits). Rules register with `@rule`.
"""

from __future__ import annotations
