"""`python -m infra.preview`: the command's stable spelling; the code lives in `infra.offline.preview`."""

import sys

from infra.offline.preview import main

if __name__ == "__main__":
    sys.exit(main())
