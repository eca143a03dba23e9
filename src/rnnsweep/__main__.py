"""`python -m rnnsweep` runs the rnnsweep command line."""

import sys

from rnnsweep.tuning.cli import main

sys.exit(main())
