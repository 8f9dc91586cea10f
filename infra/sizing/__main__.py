import sys

from infra.sizing.cli import main

sys.exit(main())
