"""``python -m wsgateway.emulator``."""

import sys

from .cli import main

sys.exit(main())
