"""The console against a running daemon through JACK, driven by Textual's own pilot.

The daemon runs the bundled ``default`` preset (the folk LSTM answers) on the tests' JACK server;
a JACK peer plays a phrase into "Antiphon In" and hears "Antiphon Out" (:mod:`benchmarks.jack_rig`);
the console attaches over OSC as ``antiphon console`` does, and a pilot presses its keys.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import mido
import pytest

from benchmarks.jack_rig import REPO_ROOT, Daemon, Peer
from daemon.console.app import ConsoleApp
from daemon.live.scheduler import is_note_on
from tests.daemon.osc_support import require_tool

pytestmark = pytest.mark.jack

PHRASE = (62, 64, 66, 67, 69)  # D major, on channel 1
NOTE_S = 0.25
WAIT_S = 15.0


@pytest.fixture(scope="module")
def rig(jack_server: str) -> Iterator[tuple[Daemon, Peer]]:
    peer = Peer()
    daemon = Daemon("--preset", "default", "--seed", "5")
    try:
        daemon.wait_for("ready")
        peer.wire(daemon)
        yield daemon, peer
    finally:
        daemon.stop()
        peer.close()
        assert "Traceback" not in daemon.stderr(), daemon.stderr()


async def _until(pilot: Any, done: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"the console never showed {what}")
        await pilot.pause(0.05)


def test_the_console_shows_the_phrase_the_answer_before_it_sounds_and_steers_the_daemon(
        rig: tuple[Daemon, Peer], report: Callable[[str], None]) -> None:
    daemon, peer = rig
    received: list[tuple[str, list[Any], float]] = []

    async def scenario() -> dict[str, Any]:
        app = ConsoleApp("127.0.0.1", daemon.osc_port, ["default", "bach"])
        take = app.view.take

        def recording(address: str, args: list[Any], now_s: float) -> None:
            received.append((address, args, now_s))
            take(address, args, now_s)
        app.view.take = recording  # type: ignore[method-assign]
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.view
            await _until(pilot, lambda: view.preset == "default" and view.source != "", "the preset and clock")
            top = str(app.query_one("#clock").render())
            start = time.perf_counter() + 0.2
            events = []
            for i, pitch in enumerate(PHRASE):
                events += [(i * NOTE_S, mido.Message("note_on", note=pitch, velocity=90)),
                           ((i + 0.9) * NOTE_S, mido.Message("note_off", note=pitch, velocity=0))]
            peer.play(events, origin_s=start)
            await _until(pilot, lambda: sum(not n.planned for n in view.notes) >= len(PHRASE), "the phrase heard")
            await _until(pilot, lambda: any(n.planned for n in view.notes), "the answer planned")
            roll = str(app.query_one("#roll").render())
            peer.wait_until(lambda got: any(is_note_on(m) and t > start + len(PHRASE) * NOTE_S for t, m in got),
                            timeout_s=WAIT_S, what="the answer's first note")
            before = float(view.params["temperature"])
            await pilot.press("t")
            await _until(pilot, lambda: abs(float(view.params["temperature"]) - (before - 0.05)) < 1e-6,
                         "the temperature echoed")
            await pilot.pause(1.0)
            await pilot.press("p")
            await _until(pilot, lambda: any(a == "/antiphon/silenced" for a, _, _ in received), "the silence")
            sounding_after_panic = view.sounding(time.monotonic())
            return {"clock": top, "roll": roll, "before": before, "after": float(view.params["temperature"]),
                    "sounding": sounding_after_panic, "start": start}

    shown = asyncio.run(scenario())
    heard = [(a, p) for a, p, _ in received if a == "/antiphon/heard" and p[1] > 0]
    assert [p[0] for _, p in heard][:len(PHRASE)] == list(PHRASE)
    planned = [(p, t) for a, p, t in received if a == "/antiphon/planned"]
    phrase_end = shown["start"] + len(PHRASE) * NOTE_S
    answer_ons = [(t, m) for t, m in peer.timed() if is_note_on(m) and t > phrase_end]
    first_planned_s = min(t for _, t in planned)
    first_sounded_s = min(t for t, _ in answer_ons)
    assert first_planned_s < first_sounded_s  # the roll had the answer before it sounded
    assert "o" in shown["roll"]  # the phrase heard, drawn
    assert "Antiphon" not in shown["clock"] and "bpm" in shown["clock"]
    assert shown["after"] == pytest.approx(shown["before"] - 0.05)
    assert any(m.address == "/antiphon/state/temperature" for m in daemon.replies.since(0))  # a patch hears it too
    assert shown["sounding"] == []
    report(f"console: phrase of {len(PHRASE)} notes on the roll, the answer planned "
           f"{(first_sounded_s - first_planned_s) * 1e3:.0f} ms before its first note sounded; temperature "
           f"{shown['before']:g} -> {shown['after']:g} by key; panic emptied the sounding notes")



def test_the_console_in_a_real_terminal_shows_the_preset_the_tempo_and_the_clock(rig: tuple[Daemon, Peer],
                                                                                 report: Callable[[str], None]) -> None:
    tmux = require_tool("tmux", "tmux")
    daemon, _ = rig
    socket_name = f"antiphon-test-{os.getpid()}"
    command = f"{shlex.quote(sys.executable)} -m daemon console --osc-port {daemon.osc_port}"
    base = [tmux, "-L", socket_name]
    subprocess.run([*base, "new-session", "-d", "-x", "80", "-y", "24", "-s", "console", command], check=True,
                   cwd=REPO_ROOT, env={**os.environ, "TERM": "xterm-256color"}, timeout=10)
    try:
        screen = ""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            screen = subprocess.run([*base, "capture-pane", "-p", "-t", "console"], check=False,
                                    capture_output=True, text=True, timeout=10).stdout
            if "default" in screen and "bpm" in screen and "internal clock" in screen:
                break
            time.sleep(0.25)
        report("console under tmux (80x24), first lines: " + " / ".join(
            line.strip() for line in screen.splitlines()[:2]))
        assert "Antiphon  default" in screen, screen
        assert "internal clock" in screen and "bpm" in screen, screen
    finally:
        subprocess.run([*base, "kill-server"], check=False, capture_output=True, timeout=10)
