"""Offline tools: run the real program under Pulumi mocks (no cloud, no CLI), preview it, serve the policy
pack to it the way the engine does, and draw it. `run.py` is shared; `preview` depends on `policy_check`,
never the other way."""
