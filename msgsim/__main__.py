"""``python -m msgsim`` is the ``msgsim`` command."""

import sys

from msgsim.adapters.cli import main

sys.exit(main())
