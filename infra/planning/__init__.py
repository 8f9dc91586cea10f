"""Pure planning: config in, frozen plan out. No pulumi or provider SDK import (tests/test_architecture.py).

`regions.py` holds the shared types; each planner imports them; `plan.py` composes every planner's
result into the `RolloutPlan` that the components translate into resources.
"""
