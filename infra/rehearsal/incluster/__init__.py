"""In-cluster rehearsal: Pod Security Admission, flows (NetworkPolicy + cloud layer), mounted file
permissions and memory/time budgets, over every pod the program causes to exist (its own workloads and
the pods of every Helm release, described in `infra/planning/chart_pods.py`). See docs/rehearsal.md."""

from __future__ import annotations

from infra.rehearsal.incluster import budgets, charts, files, flows, psa, scaling  # noqa: F401  (rules register)
