"""`python -m tuning` runs the rnnsweep command line."""

import sys

from tuning.cli import main

sys.exit(main())
