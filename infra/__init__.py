"""global-ai-rollout: the Pulumi program and its pure planning core.

Planning modules (config, catalog, addressing, sizing, topology, reachability, cluster_plan, plan,
diagram) never import pulumi; the shell does: `__main__.py` / `program.py` (the program), and the
offline tools `preview.py`, `mock_runtime.py`, `mockcloud*.py`, `policy_check.py`."""
