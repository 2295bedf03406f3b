"""``python -m veracity`` is the ``veracity`` command."""

import sys

from veracity.cli import main

sys.exit(main())
