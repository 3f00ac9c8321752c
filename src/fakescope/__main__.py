"""`python -m fakescope`: the same entry point as the `fakescope` command."""

import sys

from fakescope.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
