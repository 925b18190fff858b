"""Antiphon's OSC address space, and the README tables generated from it.

* ``/antiphon/set/<param> <value>`` -- one address per live parameter of
  :data:`daemon.control.params.PARAMS` (a separate ``set/`` branch, so a parameter can never
  shadow a command); accepted changes are echoed as ``/antiphon/state/<param> <value>``.
* ``/antiphon/generate``, ``/antiphon/panic``, ``/antiphon/reset``, ``/antiphon/forget`` -- no arguments.
* ``/antiphon/preset <name>``, ``/antiphon/learn <param>`` (``none`` stops learning),
  ``/antiphon/status``.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from typing import Any

from daemon.control.events import (
    TRIGGERS,
)
from daemon.control.params import NO_KEY, PARAMS

ROOT = "/antiphon"
SET_PREFIX = f"{ROOT}/set/"
STATE_PREFIX = f"{ROOT}/state/"
STATUS_END = f"{ROOT}/status/end"
NOTE = f"{ROOT}/note"
PHRASE = f"{ROOT}/phrase"
LEARNING = f"{ROOT}/learning"
LEARNED = f"{ROOT}/learned"
ERROR = f"{ROOT}/error"
STATUS = f"{ROOT}/status"
PRESET = f"{ROOT}/preset"
LEARN = f"{ROOT}/learn"
CLOCK = f"{ROOT}/clock"
CURRENT_PRESET = f"{ROOT}/preset/current"
COUNT = f"{ROOT}/count"
MIDI = f"{ROOT}/midi"  # the address an error about the MIDI ports names (nothing is sent to it)
MIDI_STATE = f"{STATE_PREFIX}midi"  # "connected" or "lost"
WATCH = f"{ROOT}/watch"
HEARD = f"{ROOT}/heard"
PLANNED = f"{ROOT}/planned"
DROPPED = f"{ROOT}/dropped"
SILENCED = f"{ROOT}/silenced"
UNREADABLE = "(packet)"  # the address in an error reply about a packet whose address could not be read


def known_addresses() -> list[str]:
    """Every address Antiphon answers to."""
    return ([f"{SET_PREFIX}{p.name}" for p in PARAMS] + [f"{ROOT}/{t}" for t in TRIGGERS]
            + [PRESET, STATUS, LEARN, WATCH])


COMMAND_ROWS: tuple[tuple[str, str, str], ...] = (
    (f"{ROOT}/generate", "—", "answer now, without waiting for the phrase to end"),
    (f"{ROOT}/panic", "—",
     ("silence everything: a note-off for every sounding note, and CC 123 (all notes off) "
      "on every channel used")),
    (f"{ROOT}/reset", "—",
     ("forget the phrase heard so far and the model's state (parameters keep their values, the session memory "
      "what it holds)")),
    (f"{ROOT}/forget", "—",
     "clear the session memory: answers lean on nothing played before (`memory` sets how much they lean)"),
    (PRESET, "string: a preset name (1-64 of A-Z a-z 0-9 _ -)", "load that preset from the preset folders"),
    (STATUS, "—", f"reply with every parameter as `{STATE_PREFIX}<parameter>`, then `{STATUS_END} <count>`"),
    (WATCH, "int: a UDP port on the sender's host",
     (f"send everything Antiphon says, and the roll ({HEARD}, {PLANNED}, {DROPPED}, {SILENCED}), to that "
      "port too, for 5 s: ask again every second (`antiphon console` does)")),
    (LEARN, f"string: a parameter, or `{NO_KEY}`",
     (f"MIDI learn: the next CC 0-119 received drives that parameter (confirmed by `{LEARNED}`); "
      f"`{NO_KEY}` stops learning")),
)
FEEDBACK_ROWS: tuple[tuple[str, str, str], ...] = (
    (f"{STATE_PREFIX}<parameter>", "the value, as set (channel lists: several ints)",
     "after every accepted change (OSC or CC) and in reply to status"),
    (STATUS_END, "int: parameters sent", "closes a status reply"),
    (NOTE, "int pitch 0-127, int velocity 1-127, int channel 1-16, float duration (beats)",
     "for every note Antiphon plays"),
    (PHRASE, f"int notes, float duration (beats), string key (C ... B or {NO_KEY})",
     "for every phrase Antiphon hears end"),
    (CLOCK, "string source (midi, internal or link), float tempo (BPM), int running (1 or 0), float position (beats)",
     "in reply to status: the clock followed, its tempo estimate and where it is"),
    (CURRENT_PRESET, "string: preset name", "in reply to status"),
    (COUNT, "string name, int value",
     "in reply to status, one per counter (phrases, answers, echoes, input_dropped, late_dropped...)"),
    (LEARNING, "string: parameter", f"learn mode started (`{NO_KEY}`: stopped)"),
    (LEARNED, "string parameter, int CC 0-119, int channel 1-16", "a CC was learned"),
    (ERROR, f"string address (or `{UNREADABLE}`), string message",
     f"a message or packet was refused; nothing changed (`{MIDI}`: the MIDI ports went away, see `{MIDI_STATE}`)"),
    (MIDI_STATE, "string: `lost` or `connected`",
     ("the MIDI server (JACK) or a port named with --in/--out went away (OSC and parameters stay live; "
      "Antiphon retries every 0.5-5 s), or is back and reconnected (hanging notes closed first)")),
    (HEARD, "int pitch, int velocity (0: note-off), int channel 1-16, float position (beats)",
     f"to watchers only ({WATCH}): a note heard from the player"),
    (PLANNED, "int pitch, int velocity, int channel 1-16, float start (beats), float duration (beats), string group",
     "to watchers only: a note Antiphon will play, when it is planned (before it sounds)"),
    (DROPPED, "string group", "to watchers only: the planned notes of that group will not be played"),
    (SILENCED, "string reason", "to watchers only: every sounding note closed, everything planned dropped"),
)


def address_table_markdown() -> str:
    """The README's OSC tables, generated from :data:`daemon.control.params.PARAMS` and the rows above."""
    lines = ["| address | arguments | range / choices | default | effect |", "|---|---|---|---|---|"]
    for p in PARAMS:
        unit = f" ({p.unit})" if p.unit else ""
        values = p.default if isinstance(p.default, tuple) else (p.default,)
        default = " ".join(map(_md_value, values))
        lines.append(f"| `{SET_PREFIX}{p.name}` | {p.osc_type} | {p.describe_range()}{unit} | {default} "
                     f"| {p.help} |")
    for address, args, effect in COMMAND_ROWS:
        lines.append(f"| `{address}` | {args} | | | {effect} |")
    lines += ["", "Antiphon sends, to the reply host and port:", "",
              "| address | arguments | when |", "|---|---|---|"]
    lines += [f"| `{address}` | {args} | {when} |" for address, args, when in FEEDBACK_ROWS]
    return "\n".join(lines) + "\n"


def _md_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
