"""The console's Textual app: the daemon's clock, a roll of what it hears, plans and plays, its
parameters, counters and errors, and keys that steer it.

Everything shown comes from :class:`daemon.console.view.ConsoleView`, fed by
:class:`daemon.console.link.DaemonLink` ten times a second; a key sends the same OSC message a
patch would (``/antiphon/set/temperature 0.95``), and the daemon's echo is what the console then
shows, so a patch and the console stay in step. Plain characters throughout (80x24 over SSH;
Textual honours ``NO_COLOR``).

This module imports Textual: only ``antiphon console`` loads it (the ``[console]`` extra).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from daemon.console.link import DaemonLink
from daemon.console.view import ConsoleView
from daemon.control.params import MODES, spec

MIN_WIDTH, MIN_HEIGHT = 80, 24
REFRESH_S = 0.1
SILENT_AFTER_S = 3.0  # no word from the daemon for this long: say so (and keep asking)
CHROME_LINES = 9  # the lines that are not the roll
STEPS = {"temperature": 0.05, "density": 0.05}
KEYS = ("auto", "none", "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
USED_BY = {"temperature": ("respond", "both"), "density": ("accompany", "both")}  # who reads a parameter
HELP = "t/T temp  d/D density  m mode  k key  n preset  g answer now  p panic  q quit"


class ConsoleApp(App[None]):
    """``antiphon console``: attach to the daemon at ``host:port`` (its OSC port)."""

    CSS = """
    Static { height: auto; }
    #roll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("t", "nudge('temperature', -1)", "temperature -"),
        Binding("T", "nudge('temperature', 1)", "temperature +"),
        Binding("d", "nudge('density', -1)", "density -"),
        Binding("D", "nudge('density', 1)", "density +"),
        Binding("m", "cycle('mode')", "mode"),
        Binding("k", "cycle('key')", "key"),
        Binding("n", "next_preset", "preset"),
        Binding("g", "trigger('generate')", "answer now"),
        Binding("p", "trigger('panic')", "panic"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, host: str, port: int, presets: list[str] | None = None) -> None:
        super().__init__()
        self.link = DaemonLink(host, port)
        self.view = ConsoleView()
        self.presets = presets or []
        self.note = ""  # the last thing a key did, or why it did nothing
        self._finish: tuple[float, Path | None] | None = None

    def compose(self) -> ComposeResult:
        for name in ("top", "clock", "roll", "params", "counts", "errors", "note", "help"):
            yield Static("", id=name, markup=False)

    def finish_after(self, seconds: float, screenshot: Path | None = None) -> None:
        """Quit ``seconds`` after starting, first saving what is shown to ``screenshot`` (SVG)."""
        self._finish = (seconds, screenshot)

    def on_mount(self) -> None:
        self.link.ask(0.0)
        self.set_interval(REFRESH_S, self.refresh_view)
        if self._finish is not None:
            self.set_timer(self._finish[0], self._finish_now)

    def _finish_now(self) -> None:
        assert self._finish is not None
        shot = self._finish[1]
        if shot is not None:
            self.refresh_view()
            self.save_screenshot(shot.name, str(shot.parent or "."))
        self.exit()

    def on_unmount(self) -> None:
        self.link.close()

    # ------------------------------------------------------------------ drawing

    def refresh_view(self) -> None:
        now = time.monotonic()
        for address, args, when in self.link.drain():
            self.view.take(address, args, when)
        self.link.ask(now)
        view = self.view
        width, height = self.size.width, self.size.height
        top = f"Antiphon  {view.preset or '?'}  mode {view.params.get('mode', '?')}  key {view.key or '-'}"
        if view.midi:
            top += f"  MIDI {view.midi}"
        if view.last_heard_s is None or now - view.last_heard_s > SILENT_AFTER_S:
            since = "" if view.last_heard_s is None else f" for {now - view.last_heard_s:.0f} s"
            top = f"no answer from the daemon at {self.link.target[0]}:{self.link.target[1]}{since}; still asking"
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            top = f"terminal {width}x{height} is smaller than {MIN_WIDTH}x{MIN_HEIGHT}: showing what fits | " + top
        self._set("top", top)
        self._set("clock", view.clock_line(now))
        roll_height = max(3, height - CHROME_LINES)
        self._set("roll", "\n".join(view.roll_lines(max(8, width - 1), roll_height, now)))
        self._set("params", view.params_line())
        self._set("counts", view.counts_line())
        self._set("errors", " | ".join(view.errors) if view.errors else "")
        self._set("note", self.note)
        self._set("help", HELP)

    def _set(self, name: str, text: str) -> None:
        self.query_one(f"#{name}", Static).update(text)

    # ------------------------------------------------------------------ keys

    def action_nudge(self, name: str, direction: int) -> None:
        row = spec(name)
        value = self.view.params.get(name, row.default)
        low = row.low if row.low is not None else float("-inf")
        high = row.high if row.high is not None else float("inf")
        new = round(min(high, max(low, float(value) + direction * STEPS[name])), 3)
        self._send_param(name, new)

    def action_cycle(self, name: str) -> None:
        options: tuple[Any, ...] = MODES if name == "mode" else KEYS
        current = self.view.params.get(name, options[0])
        new = options[(options.index(current) + 1) % len(options)] if current in options else options[0]
        self._send_param(name, new)

    def action_next_preset(self) -> None:
        if not self.presets:
            self.note = "no presets found to switch to"
            return
        current = self.view.preset
        name = self.presets[(self.presets.index(current) + 1) % len(self.presets)] if current in self.presets \
            else self.presets[0]
        self.link.send("/antiphon/preset", name)
        self.note = f"preset -> {name}"

    def action_trigger(self, name: str) -> None:
        self.link.send(f"/antiphon/{name}")
        self.note = f"{name} sent"

    def _send_param(self, name: str, value: Any) -> None:
        self.link.send(f"/antiphon/set/{name}", value)
        mode = self.view.params.get("mode")
        unused = name in USED_BY and mode is not None and mode not in USED_BY[name]
        self.note = f"{name} -> {value}" + (f" (mode {mode} does not use it)" if unused else "")
