"""``python -m vodwatch``: the same as the ``vodwatch`` command."""

import sys

from .cli import main

sys.exit(main())
