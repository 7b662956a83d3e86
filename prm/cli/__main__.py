"""`python -m prm.cli ...` runs the `prm` command."""

import sys

from prm.cli.main import main

sys.exit(main())
