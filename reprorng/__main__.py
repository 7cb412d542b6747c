"""``python -m reprorng``: the command line (see :mod:`reprorng.cli`)."""

import sys

from reprorng.cli import main

sys.exit(main())
