"""`python -m regstudy.cli ...`: the `regstudy` command (how sweeps and studies start jobs)."""

import sys

from . import main

sys.exit(main())
