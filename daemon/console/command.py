"""``antiphon console``: attach a terminal console to a running daemon (over its OSC port).

The console is its own process, not a thread of the daemon: see :mod:`daemon.console.link` for
why. Textual is imported only here, in :func:`main`, so a daemon without the ``[console]``
extra runs, and ``antiphon console`` then says what to install.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from daemon.control.osc_config import DEFAULT_OSC_PORT
from daemon.control.presets import PRESET_SUFFIX, PRESETS_ENV
from daemon.errors import AntiphonError
from presets import PRESETS_DIR

INSTALL_HINT = "pip install 'antiphon[console]' (Textual)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="the daemon's OSC host (default: 127.0.0.1)")
    parser.add_argument("--osc-port", type=int, default=DEFAULT_OSC_PORT,
                        help=f"the daemon's OSC port (its --osc-port or [osc] port; default {DEFAULT_OSC_PORT})")
    parser.add_argument("--screenshot", type=Path, metavar="FILE.svg",
                        help="draw for --seconds, save what the console shows as an SVG, and quit")
    parser.add_argument("--headless", action="store_true",
                        help="run without a terminal for --seconds (the benchmarks' console beside the daemon)")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long --screenshot and --headless run")
    parser.add_argument("--size", default="80x24", help="columns x lines for --screenshot and --headless")


def preset_names() -> list[str]:
    """The presets ``n`` steps through: $ANTIPHON_PRESETS_DIR's, then the bundled ones."""
    folders = [os.environ[PRESETS_ENV]] if os.environ.get(PRESETS_ENV) else []
    names: list[str] = []
    for folder in [*folders, str(PRESETS_DIR)]:
        try:
            found = sorted(n[: -len(PRESET_SUFFIX)] for n in os.listdir(folder) if n.endswith(PRESET_SUFFIX))
        except OSError:
            continue
        names += [n for n in found if n not in names]
    return names


def main(args: argparse.Namespace) -> int:
    try:
        from daemon.console.app import ConsoleApp
    except ImportError as exc:
        raise AntiphonError(f"the console needs Textual ({exc}): {INSTALL_HINT}") from None
    app = ConsoleApp(args.host, args.osc_port, preset_names())
    if args.screenshot is None and not args.headless:
        app.run()
        return 0
    try:
        columns, lines = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        raise AntiphonError(f"--size is columns x lines, e.g. 80x24, got {args.size!r}") from None
    app.finish_after(args.seconds, args.screenshot)
    app.run(headless=True, size=(columns, lines))
    return 0
