"""`python -m infra.change`: the command's stable spelling; the code lives in `infra.offline.change`."""

import sys

from infra.offline.change import main

if __name__ == "__main__":
    sys.exit(main())
