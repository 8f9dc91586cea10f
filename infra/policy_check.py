"""`python -m infra.policy_check`: the command's stable spelling; the code lives in `infra.offline.policy_check`."""

import sys

from infra.offline.policy_check import main

if __name__ == "__main__":
    sys.exit(main())
