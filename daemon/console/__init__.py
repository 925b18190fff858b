"""``antiphon console``: a terminal face for a running daemon, over its OSC feedback (see ``app``)."""
