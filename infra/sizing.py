"""`python -m infra.sizing`: the command's stable spelling; the code lives in `infra.planning.sizing.cli`."""

import sys

from infra.planning.sizing.cli import main

if __name__ == "__main__":
    sys.exit(main())
