"""``python -m aiplat.cli``: the same as the installed ``aiplat`` command."""

import sys

from aiplat.cli import main

sys.exit(main())
