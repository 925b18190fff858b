"""``python -m daemon`` starts the daemon, like ``antiphon run``."""

import sys

from daemon.cli import main

sys.exit(main(sys.argv[1:] or ["run"]))
