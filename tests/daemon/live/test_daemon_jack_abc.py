"""The ``folk-abc`` preset through a real JACK server: a played phrase answered by the ABC model.

The daemon runs as a subprocess (``python -m daemon run --preset folk-abc``) on the session's
JACK server; a second client plays the opening of a test-split tune into "Antiphon In" and
records "Antiphon Out" (:mod:`benchmarks.jack_rig`). The phrase is written as ABC in its
estimated key and the preset's 6/8, the model continues the text, and the continuation is
played back: the test checks that an answer comes after the phrase, on the preset's channel,
mostly in the phrase's key, and that every note it starts is closed.
"""

from __future__ import annotations

import time

import pytest

import presets
from benchmarks.jack_rig import Daemon, Peer
from daemon.control.presets import load_preset
from daemon.live.scheduler import is_note_on
from daemon.music.keys import Key, in_key_fraction
from daemon.music.notes import Note
from tests.daemon.corpus_phrase import load_phrase
from tests.daemon.live.jack_daemon import SEED, all_closed, heard_notes, phrase_events

pytestmark = pytest.mark.jack
MIN_IN_KEY = 0.7  # an ABC answer is written in the phrase's key, but a tune may borrow a note or two


def test_a_phrase_is_answered_in_abc_in_key_and_every_note_closes(jack_server: str,
                                                                  report) -> None:
    preset = load_preset("folk-abc", presets.PRESETS_DIR)
    if not preset.model_path.is_file():
        pytest.skip("presets/folk-abc.onnx is not built")
    phrase = load_phrase(beats=6)
    beat_s = 60.0 / preset.clock.bpm
    channel = preset.midi.channel
    peer = Peer()
    daemon = Daemon("--preset", "folk-abc", "--seed", SEED, env={"ANTIPHON_PRESETS_DIR": str(presets.PRESETS_DIR)})
    try:
        daemon.wait_for("ready")
        peer.wire(daemon)
        start = time.perf_counter() + 2 * beat_s
        peer.play(phrase_events(phrase.notes, beat_s), origin_s=start)
        last_release = start + max(n.end for n in phrase.notes) / 12 * beat_s
        bar_s = beat_s * preset.clock.numerator * 4 / preset.clock.denominator
        answer_end = last_release + preset.respond.phrase_end_beats * beat_s + (1 + preset.respond.answer_bars) * bar_s
        peer.wait_until(lambda got: any(is_note_on(m) and m.channel == channel for _, m in got),
                        timeout_s=answer_end - time.perf_counter() + 5.0, what="the answer's first note")
        time.sleep(max(0.0, answer_end - time.perf_counter()) + 0.5)
        timed = peer.timed()
        answer = heard_notes([(t, m) for t, m in timed if t > last_release], channels={channel})
    finally:
        daemon.stop()
        peer.close()
    assert "Traceback" not in daemon.stderr(), daemon.stderr()
    assert answer, f"no answer came: {daemon.stderr()}"
    assert answer[0].on_s > last_release, "the answer started before the phrase ended"
    assert all(h.off_s is not None for h in answer), "an answer note was left sounding"
    assert all_closed(timed)
    as_notes = [Note(0, h.pitch, 12) for h in answer]
    in_key = in_key_fraction(as_notes, Key(phrase.key_root, phrase.minor, 1.0))
    assert in_key >= MIN_IN_KEY, f"only {in_key:.0%} of the answer is in the phrase's key"
    report(f"folk-abc preset through JACK: {phrase.title} ({len(phrase.notes)} notes) answered with "
           f"{len(answer)} notes, {in_key:.0%} in the phrase's key")
