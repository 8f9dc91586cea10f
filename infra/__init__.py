"""global-ai-rollout: the Pulumi program, its config and catalog, and three kinds of code by folder.

- `program.py`, `__main__.py`: the Pulumi program (config -> plan -> GlobalRollout -> exports).
- `config.py`, `catalog.py`, `errors.py`: the typed stack config and the catalog (pure).
- `planning/`: pure planners (no pulumi or provider SDK import; `tests/test_architecture.py` checks).
- `offline/`: the mock runtime and mock cloud, the offline preview, the served policy check, the diagram.
- `ops/`: code that talks to real clouds or the Pulumi CLI.
- `preview.py`, `sizing.py`, `policy_check.py`: the commands' stable `python -m infra.<name>` spellings.
"""
