"""Antiphon's runtime: the daemon, the one music representation, and offline tools.

Nothing in this package imports torch, ``training`` or ``export`` at module level.
"""

__version__ = "0.1.0"
