"""Entry point for `pulumi up` / `pulumi preview` (Pulumi.yaml: `main: infra/`).

The engine runs this file with `infra/` first on sys.path; the repository root is added so the
`infra` and `components` packages import the same way here, in the tests and in the preview.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from infra.program import main  # noqa: E402

main()
