"""In-cluster rehearsal: Pod Security Admission, flows (NetworkPolicy + cloud layer), mounted file
permissions and memory/time budgets, over every pod the program causes to exist."""

from __future__ import annotations
