"""The ``restyle`` preset through a real JACK server: a bar played comes back a bar later as latin,
or, after ``/antiphon/set/style swing``, as swing (made by the second bundled file).

The daemon runs as a subprocess (``python -m daemon run --preset restyle``) on the session's JACK
server; a second client plays one bar of a real rock groove of the restyle model's test split
(mma's ``casio/slowrock``, rendered here: drums on channel 10, bass and chords on their own
channels) into "Antiphon In", starting on a bar line of the daemon's clock, and records
"Antiphon Out" (:mod:`benchmarks.jack_rig`). The test checks that the answer sounds in the next
bar and only there, on the band's channels, on the sixteenth-note grid, and that every note it
starts is closed; and that its drums are the ones the asked-for style's model makes of that bar
(computed here, in-process, by the same bundled files), not the other style's.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import presets
from benchmarks.jack_rig import Daemon, Peer, note_off, note_on
from daemon.control.presets import Preset, load_preset
from daemon.live.model_store import ModelStore, models_for
from daemon.live.scheduler import is_note_on
from daemon.music.bar_features import assign_tracks
from daemon.music.grid import DRUM_CHANNEL
from daemon.music.notes import Note
from daemon.music.pianoroll import bars_to_notes, notes_to_bars
from tests.daemon.live.jack_daemon import (
    SEED,
    _assert_on_grid,
    all_closed,
    grid_error_s,
    grid_phase,
    heard_notes,
    ms,
)
from tests.daemon.mma_groove import ROCK_TEST, one_bar, render

pytestmark = pytest.mark.jack
STEPS_PER_BAR = 16  # sixteenths: each onset is counted in the bar of its nearest sixteenth
SAME_DRUMS = 0.8  # Jaccard of (step, drum) onsets heard against those the asked-for style's model makes


def expected_drums(preset: Preset, played: list[Note], style: str) -> set[tuple[int, int]]:
    """(sixteenth step, drum pitch) of each drum onset the bundled restyle files make of ``played`` in
    ``style``, as the daemon's restyler asks them (the drums have no key mask)."""
    band = models_for(preset, "restyle", ModelStore()).gan
    spec = band.spec
    source = notes_to_bars(assign_tracks(played, spec), spec, n_bars=1)
    drums = bars_to_notes(band.restyle(source.active, style, threshold=preset.accompany.threshold), spec)[0]
    step = spec.grid.ticks_per_beat // 4
    return {(n.start // step, n.pitch) for n in drums}


def jaccard(a: set[tuple[int, int]], b: set[tuple[int, int]]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


@pytest.mark.parametrize("style", [None, "swing"], ids=["preset-latin", "osc-swing"])
def test_a_played_rock_bar_comes_back_a_bar_later_restyled_and_every_note_closes(
        style: str | None, jack_server: str, tmp_path: Path, report) -> None:
    preset = load_preset("restyle", presets.PRESETS_DIR)
    assert preset.mode == "restyle" and preset.model_path.is_file()
    played = one_bar(render(*ROCK_TEST, tmp_path))
    assert {n.channel for n in played} >= {9} and len({n.channel for n in played}) >= 3
    band = set(preset.accompany.channels)
    beat_s = 60.0 / preset.clock.bpm
    bar_s = 4 * beat_s
    peer = Peer()
    daemon = Daemon("--preset", "restyle", "--seed", SEED, env={"ANTIPHON_PRESETS_DIR": str(presets.PRESETS_DIR)})
    try:
        daemon.wait_for("ready")
        if style is not None:
            daemon.osc("/antiphon/set/style", style)
        peer.wire(daemon)
        time.sleep(0.3)
        position = grid_phase(daemon, preset.clock.bpm)
        now = time.perf_counter()
        start = now + ((-position(now) % 4) + 4) * beat_s  # the bar line after next
        tick_s = beat_s / 12
        events = []
        for n in played:
            events += [(n.start * tick_s, note_on(n.pitch, n.channel, n.velocity)),
                       ((n.start + 0.9 * n.duration) * tick_s, note_off(n.pitch, n.channel))]
        peer.play(sorted(events, key=lambda e: (e[0], e[1].type == "note_on")), origin_s=start)
        peer.wait_until(lambda got: any(is_note_on(m) and m.channel in band for t, m in got if t > start),
                        timeout_s=3 * bar_s, what="the restyled bar's first note")
        time.sleep(max(0.0, start + 2 * bar_s + 0.5 - time.perf_counter()))
        # the daemon's clock (JACK's frames) read again after the notes judged: the dummy driver's
        # frames do not run at exactly the wall clock's rate, two readings around the notes take it out
        position = grid_phase(daemon, preset.clock.bpm, since=position)
    finally:
        daemon.stop()
        peer.close()
    timed = peer.timed()
    answer = [h for h in heard_notes(timed) if h.channel in band]
    first_line = round(position(start))  # the bar line the bar was played from
    bars = sorted({round((position(h.on_s) - first_line) * 4) // STEPS_PER_BAR for h in answer})
    assert answer, "the played bar was not answered"
    assert bars == [1], (f"the restyled notes sound in bars {bars} after the bar played (expected only the next): "
                         f"onsets at beats {[round(position(h.on_s) - first_line, 3) for h in answer]} from the "
                         f"bar played (clock read within {position.round_trip_s * 1e3:.1f} ms)")
    errors = [grid_error_s(position(h.on_s), 0.25, beat_s) for h in answer]
    _assert_on_grid(errors, "restyled onsets vs sixteenth steps")
    assert all_closed(timed)
    asked, other = (style, "latin") if style else ("latin", "swing")
    drums = {(round((position(h.on_s) - first_line) * 4) - STEPS_PER_BAR, h.pitch) for h in answer
             if h.channel == DRUM_CHANNEL}
    sent = [Note(n.start, n.pitch, max(1, round(0.9 * n.duration)), n.velocity, n.channel) for n in played]
    want, not_want = expected_drums(preset, sent, asked), expected_drums(preset, sent, other)
    assert want != not_want
    same, same_other = jaccard(drums, want), jaccard(drums, not_want)
    assert same >= SAME_DRUMS and same > same_other, (
        f"the drums heard {sorted(drums)} are not the {asked} model's {sorted(want)} (Jaccard {same:.2f}; "
        f"against the {other} model's {same_other:.2f})")
    by_channel = {c + 1: sum(1 for h in answer if h.channel == c) for c in sorted({h.channel for h in answer})}
    report(f"restyle through JACK: a bar of {ROCK_TEST[0]} ({len(played)} notes) answered as {asked} in the next bar "
           f"with {len(answer)} notes, by channel {by_channel}; its drums against the {asked} model's (Jaccard) "
           f"{same:.2f}, against the {other} model's {same_other:.2f}; onsets vs sixteenth steps {ms(errors)}")
