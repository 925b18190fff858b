"""Recognising our own output coming back on the input."""

from __future__ import annotations

import mido

from daemon.live.echo import EchoFilter

ON = mido.Message("note_on", channel=2, note=60, velocity=90)
OFF = mido.Message("note_off", channel=2, note=60, velocity=0)


def test_a_message_sent_and_heard_within_the_window_is_an_echo_once() -> None:
    echo = EchoFilter(0.030)
    echo.sent("out", ON, 1.000)
    assert echo.is_echo(ON, 1.004)
    assert not echo.is_echo(ON, 1.005), "one sent message excuses one echo"
    assert echo.echoes == 1


def test_the_same_note_played_later_or_differently_is_not_an_echo() -> None:
    echo = EchoFilter(0.030)
    echo.sent("out", ON, 1.000)
    assert not echo.is_echo(ON, 1.040)  # after the window: the player
    echo.sent("out", ON, 2.000)
    assert not echo.is_echo(ON.copy(velocity=91), 2.001)
    assert not echo.is_echo(ON.copy(channel=3), 2.001)
    assert not echo.is_echo(ON.copy(note=61), 2.001)


def test_a_note_off_echoes_as_a_note_on_of_velocity_zero_and_controllers_echo_too() -> None:
    echo = EchoFilter(0.030)
    echo.sent("out", OFF, 1.0)
    assert echo.is_echo(mido.Message("note_on", channel=2, note=60, velocity=0), 1.002)
    all_off = mido.Message("control_change", channel=2, control=123, value=0)
    echo.sent("out", all_off, 1.0)
    assert echo.is_echo(all_off, 1.003)


def test_system_messages_are_never_echoes_and_a_zero_window_turns_the_filter_off() -> None:
    echo = EchoFilter(0.030)
    echo.sent("out", mido.Message("clock"), 1.0)
    assert not echo.is_echo(mido.Message("clock"), 1.001)
    off = EchoFilter(0.0)
    off.sent("out", ON, 1.0)
    assert not off.is_echo(ON, 1.001)
