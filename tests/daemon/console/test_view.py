"""The console's picture of the daemon (:class:`daemon.console.view.ConsoleView`), and the app with
no daemon to talk to or too small a terminal."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from daemon.console.app import ConsoleApp
from daemon.console.view import HEAD, HEARD, PLANNED, PLAYED, ConsoleView
from daemon.errors import AntiphonError
from tests.daemon.osc_support import free_udp_port


def playing_view() -> ConsoleView:
    view = ConsoleView()
    view.take("/antiphon/preset/current", ["default"], 10.0)
    view.take("/antiphon/clock", ["internal", 120.0, 1, 8.0], 10.0)  # bar 3, beat 1 at t = 10 s
    return view


def test_the_play_head_moves_on_at_the_tempo_between_status_replies() -> None:
    view = playing_view()
    assert view.head(10.0) == 8.0 and view.head(11.0) == 10.0
    assert view.clock_line(11.0).startswith("internal clock  120.00 bpm  bar 3:3")
    view.take("/antiphon/clock", ["link", 97.0, 0, 12.0], 12.0)
    assert view.head(20.0) == 12.0 and "Ableton Link" in view.clock_line(20.0) and "stopped" in view.clock_line(20.0)


def test_heard_notes_close_on_their_note_off_and_planned_notes_turn_played_as_the_head_passes() -> None:
    view = playing_view()
    view.take("/antiphon/heard", [60, 90, 1, 7.0], 10.0)
    view.take("/antiphon/heard", [60, 0, 1, 7.5], 10.0)
    view.take("/antiphon/planned", [64, 80, 2, 9.0, 1.0, "answer 1"], 10.0)
    lines = view.roll_lines(48, 6, 10.0)  # 2 bars back, 1 ahead: 4 columns a beat
    text = "\n".join(lines)
    assert HEARD in text and PLANNED in text and PLAYED not in text and HEAD in text
    assert [n.end for n in view.notes if not n.planned] == [7.5]
    later = "\n".join(view.roll_lines(48, 6, 10.75))  # the head is past the planned note's start
    assert PLAYED in later


def test_a_dropped_group_and_a_silence_take_back_what_was_planned_and_end_what_sounds() -> None:
    view = playing_view()
    view.take("/antiphon/planned", [64, 80, 2, 9.0, 1.0, "harmony 3"], 10.0)
    view.take("/antiphon/planned", [36, 80, 10, 9.0, 0.5, "bar 3"], 10.0)
    view.take("/antiphon/dropped", ["harmony 3"], 10.0)
    assert [n.group for n in view.notes] == ["bar 3"]
    view.take("/antiphon/heard", [60, 90, 1, 7.9], 10.0)
    view.take("/antiphon/silenced", ["panic"], 10.0)
    assert view.notes[-1].end == 8.0 and [n for n in view.notes if n.planned] == []
    assert view.sounding(10.0) == []


def test_parameters_counters_and_errors_are_shown_as_the_daemon_says_them() -> None:
    view = playing_view()
    view.take("/antiphon/state/temperature", [0.85], 10.0)
    view.take("/antiphon/state/mode", ["respond"], 10.0)
    view.take("/antiphon/state/midi", ["lost"], 10.0)
    view.take("/antiphon/count", ["late_dropped", 2], 10.0)
    view.take("/antiphon/error", ["/antiphon/set/temperature", "9 is outside 0.05-5"], 10.0)
    assert "temperature 0.85" in view.params_line() and "mode respond" in view.params_line()
    assert view.midi == "lost" and "late_dropped 2" in view.counts_line()
    assert list(view.errors) == ["/antiphon/set/temperature: 9 is outside 0.05-5"]


def test_with_no_daemon_and_a_small_terminal_the_console_says_so_and_keeps_running() -> None:
    async def run() -> str:
        app = ConsoleApp("127.0.0.1", free_udp_port(), [])
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.press("t")  # sent to nobody: nothing breaks
            await pilot.press("n")
            await pilot.pause(0.3)
            return "\n".join(str(app.query_one(f"#{name}").render()) for name in ("top", "note"))

    shown = asyncio.run(run())
    assert "terminal 60x20 is smaller than 80x24" in shown
    assert "no answer from the daemon" in shown and "no presets found" in shown


def test_without_textual_the_console_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from daemon.console import command

    for name in [n for n in sys.modules if n == "textual" or n.startswith("textual.")] + ["textual", "textual.app"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "daemon.console.app", raising=False)
    parser = argparse.ArgumentParser()
    command.configure(parser)
    with pytest.raises(AntiphonError, match=r"antiphon\[console\]"):
        command.main(parser.parse_args([]))
