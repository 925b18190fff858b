"""The ``morph`` preset through a real JACK server: two phrases, the second answered from between them.

The daemon runs as a subprocess (``python -m daemon run --preset morph``) on the session's JACK
server; a second client plays two phrases of a test-split tune into "Antiphon In" (its first and
its next eight beats) and records "Antiphon Out" (:mod:`benchmarks.jack_rig`). Each phrase is
encoded by the folk phrase VAE as it ends; the first is answered from its own code, and, after
``/antiphon/set/morph 0.5`` over OSC, the second from halfway between the two codes. The test
checks that both answers come after their phrases on the preset's channel, that the daemon says
where the second was decoded from, and that every note it starts is closed.
"""

from __future__ import annotations

import time

import pytest

import presets
from benchmarks.jack_rig import Daemon, Peer
from daemon.control.presets import load_preset
from daemon.live.scheduler import is_note_on
from daemon.music.notes import Note
from tests.daemon.corpus_phrase import load_phrase
from tests.daemon.live.jack_daemon import SEED, Heard, all_closed, heard_notes, phrase_events

pytestmark = pytest.mark.jack
PHRASE_BEATS = 8  # each phrase: two bars of the tune
VAE_LINE = "VAE answer to a phrase of "


def committed_answer_line(lines: list[str]) -> str:
    """The VAE's line about the answer that was played: the last one before the engine's "phrase:" line.

    The engine prepares an answer at every silence inside a phrase too; the one prepared in the
    last silence is the one played when the phrase ends.
    """
    end = next(i for i, line in enumerate(lines) if " phrase: " in line)
    return [line for line in lines[:end] if VAE_LINE in line][-1]


def _play_and_hear(daemon: Daemon, peer: Peer, notes: list[Note], beat_s: float, bar_s: float, channel: int,
                   phrase_end_beats: float, answer_bars: int) -> tuple[float, list[Heard]]:
    """Play ``notes`` two beats from now, wait for the whole answer; return (last release, answer)."""
    start = time.perf_counter() + 2 * beat_s
    peer.play(phrase_events(notes, beat_s), origin_s=start)
    last_release = start + max(n.end for n in notes) / 12 * beat_s
    answer_end = last_release + phrase_end_beats * beat_s + (1 + answer_bars) * bar_s
    peer.wait_until(lambda got: any(is_note_on(m) and m.channel == channel and t > last_release for t, m in got),
                    timeout_s=answer_end - time.perf_counter() + 5.0, what="the answer's first note")
    time.sleep(max(0.0, answer_end - time.perf_counter()) + 0.5)
    return last_release, heard_notes([(t, m) for t, m in peer.timed() if t > last_release], channels={channel})


def test_two_phrases_the_second_answered_from_between_them_and_every_note_closes(jack_server: str,
                                                                                 report) -> None:
    preset = load_preset("morph", presets.PRESETS_DIR)
    assert preset.model_path.is_file(), "presets/folk-vae.onnx is bundled"
    tune = load_phrase(beats=2 * PHRASE_BEATS)
    split = PHRASE_BEATS * 12
    first = [n for n in tune.notes if n.start < split]
    second = [Note(n.start - split, n.pitch, n.duration, n.velocity, n.channel) for n in tune.notes if n.start >= split]
    assert len(first) >= 2 and len(second) >= 2
    beat_s = 60.0 / preset.clock.bpm
    bar_s = beat_s * preset.clock.numerator * 4 / preset.clock.denominator
    channel = preset.midi.channel
    timing = (beat_s, bar_s, channel, preset.respond.phrase_end_beats, preset.respond.answer_bars)
    peer = Peer()
    daemon = Daemon("--preset", "morph", "--seed", SEED, env={"ANTIPHON_PRESETS_DIR": str(presets.PRESETS_DIR)})
    try:
        daemon.wait_for("ready")
        peer.wire(daemon)
        first_release, first_answer = _play_and_hear(daemon, peer, first, *timing)
        daemon.wait_for(" phrase: ")
        first_line = committed_answer_line(daemon.lines)
        assert daemon.replies is not None
        mark, log_mark = daemon.replies.mark(), daemon.mark()
        daemon.osc("/antiphon/set/morph", 0.5)
        echo = daemon.replies.wait_address("/antiphon/state/morph", start=mark)
        second_release, second_answer = _play_and_hear(daemon, peer, second, *timing)
        daemon.wait_for(" phrase: ", start=log_mark)
        second_line = committed_answer_line(daemon.lines[log_mark:])
        timed = peer.timed()
    finally:
        daemon.stop()
        peer.close()
    stderr = daemon.stderr()
    assert "Traceback" not in stderr, stderr
    assert echo.params == [pytest.approx(0.5)]
    assert "from this phrase's code" in first_line, first_line
    assert "from morph 0.50 between the previous phrase's code and this one's" in second_line, second_line
    for line in (first_line, second_line):
        read = int(line.split(VAE_LINE, 1)[1].split()[0])
        assert read >= len(second) // 2, f"the VAE read only {read} notes of the phrase: {line}"
    assert first_answer, f"the first phrase was not answered: {stderr}"
    assert second_answer, f"the second phrase was not answered: {stderr}"
    assert first_answer[0].on_s > first_release and second_answer[0].on_s > second_release
    assert all(h.off_s is not None for h in first_answer + second_answer), "an answer note was left sounding"
    assert all_closed(timed)
    report(f"morph preset through JACK: two phrases of {tune.title} ({len(first)} and {len(second)} notes) answered "
           f"with {len(first_answer)} and {len(second_answer)} notes; the second: {second_line.split(VAE_LINE)[1]}")
