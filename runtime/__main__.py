"""``python -m runtime``: the same as the ``dermascan`` command."""

import sys

from runtime.cli import main

sys.exit(main())
