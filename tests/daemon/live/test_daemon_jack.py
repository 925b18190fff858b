"""The daemon, whole, through a real JACK server: answers, MIDI clock, under MIDI clock.

The daemon runs as a subprocess (``python -m daemon run``) on the session's JACK server (dummy
driver, synchronous mode; see ``tests/conftest.py``); a second JACK client plays into
"Antiphon In" and records "Antiphon Out" (:mod:`benchmarks.jack_rig`). Models are tiny
random-weight exports (``tests/export/tiny_lstm.py``, ``tiny_gan.py``) until the bundled
``presets/folk-events.onnx`` exists; then the phrase test plays the bundled default preset and
checks the answer's key against the phrase's, instead of a key mask.

Tolerances, and why:
    * onsets on the grid: the median distance to the nearest grid step within 15 ms (a step is
      28 ms at 180 bpm, so notes off by a step fail), every onset within 50 ms (the scheduler's
      late tolerance). JACK delivers MIDI at period boundaries (5.33 ms here), the daemon's
      threads share two busy cores, and on such a machine the dummy driver's own clock stalls now
      and then (a pulse 10-190 ms late), which a follower that predicts the next beat cannot
      know: under jack_midi_clock, onsets beside a stalled pulse are not judged, and takes are
      played (up to 4) until 6 onsets are;
    * tempo: the daemon's estimate within 0.5 bpm of the rate the pulses really arrive at,
      measured by this test over the same pulses (the dummy driver's clock drifts from the
      wall clock on a loaded machine, so the nominal ``-b`` tempo is reported, not asserted);
    * MIDI Stop: silence (CC 123) within two clock pulses of the Stop, as heard by the monitor
      (or up to one JACK period before it, when both went out in the same cycle). The Stop is
      answered by the daemon's engine thread; here it usually comes within 6 ms, but one CI run on
      two loaded cores took 26.3 ms, past the single pulse (20.8 ms) this once allowed.
No other timing is asserted; the numbers go to the "Antiphon measurements" summary.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import mido
import pytest

from benchmarks.jack_rig import (
    JACK_SAMPLE_RATE_HZ,
    TEST_JACK_PERIOD_FRAMES,
    Daemon,
    Peer,
    jack_connect,
)
from benchmarks.midi_clock import MidiClockMaster
from daemon.live.scheduler import ALL_NOTES_OFF, is_note_on
from daemon.music.grid import MIDI_CLOCK_PPQN
from daemon.music.keys import Key, estimate_key, in_key_fraction
from daemon.music.notes import Note
from tests.daemon.corpus_phrase import Phrase
from tests.daemon.live.jack_daemon import (
    CLOCK_STALL_S,
    CLOCK_TAKES,
    FRAME_TEMPO_TOLERANCE_BPM,
    MIN_JUDGED_ONSETS,
    ONSET_TOLERANCE_S,
    GridPhase,
    Setup,
    _assert_on_grid,
    all_closed,
    grid_error_s,
    heard_notes,
    ms,
    phrase_events,
    play_and_hear_answer,
    reset,
    short,
)

pytestmark = pytest.mark.jack
STOP_TICKS = 2  # MIDI Stop -> CC 123 within this many clock pulses (see the module docstring)


def test_a_corpus_phrase_is_answered_in_key_on_the_grid_and_every_note_closes(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase, report: Callable[[str], None]) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    phases: list[GridPhase] = []  # the daemon's grid read as the answer began, and after it
    start, answer = play_and_hear_answer(daemon, peer, setup, phrase.notes, phases=phases)
    assert answer, f"no answer came: {daemon.stderr()}"
    at_start, position = phases
    phrase_end = start + (max(n.end for n in phrase.notes) / 12 + 1.0) * setup.beat_s  # one beat of silence
    assert answer[0].on_s > phrase_end - ONSET_TOLERANCE_S, "the answer started before the phrase ended"
    first_error = grid_error_s(at_start(answer[0].on_s), 1.0, setup.beat_s)  # start = "beat"
    step_errors = [grid_error_s(position(h.on_s), 1 / 12, setup.beat_s) for h in answer]
    _assert_on_grid([first_error], "the first answer note vs its beat")
    _assert_on_grid(step_errors, "answer onsets vs grid steps")
    assert all(h.off_s is not None for h in answer), "an answer note was left sounding"
    assert all_closed(peer.timed())
    answer_as_notes = [Note(0, h.pitch, max(1, round((h.off_s - h.on_s) / setup.beat_s * 12))) for h in answer
                       if h.off_s is not None]
    phrase_key = Key(phrase.key_root, phrase.minor, 1.0)
    in_key = in_key_fraction(answer_as_notes, phrase_key)
    if setup.key is not None:  # tiny random model: the preset's key mask must hold for every note
        assert all((h.pitch - setup.key.root) % 12 in setup.key.scale() for h in answer), [h.pitch for h in answer]
    else:  # the bundled model: the answer is in the phrase's key
        assert in_key >= 0.8, f"only {in_key:.0%} of the answer is in the phrase's key ({estimate_key(answer_as_notes)})"
    report(f"{phrase.title} ({len(phrase.notes)} notes, test split) answered by "
           f"{'the bundled default preset' if setup.bundled else 'a tiny random LSTM with an F major mask'}: "
           f"{len(answer)} notes, {in_key:.0%} in the phrase's key; first onset vs beat {first_error * 1e3:+.2f} ms; "
           f"onsets vs grid steps {ms(step_errors)}")


# ------------------------------------------------------------------ MIDI clock


@dataclass(frozen=True)
class ClockTake:
    """One take under jack_midi_clock: what the monitor heard, when the phrase began, the tempo."""

    timed: list[tuple[float, mido.Message]]
    start: float  # the phrase's first beat (perf_counter seconds)
    measured: float  # bpm the pulses arrived at before the phrase
    estimate: float  # the daemon's estimate of it

    @property
    def stop_s(self) -> float:
        return next(t for t, m in self.timed if m.type == "stop")

    @property
    def period_s(self) -> float:
        """One pulse at the measured tempo."""
        return 60.0 / (self.measured * MIDI_CLOCK_PPQN)

    def onsets(self, channel: int) -> list[tuple[float, float]]:
        """(onset, longest pulse gap around it) of each answer note on ``channel``, in order.

        The gap is the longest wait between two pulses from a beat before the onset to the first
        pulse after it: the pulses the daemon placed the note from, and the one it is measured against.
        """
        pulses = _pulses(self.timed)
        out = []
        for heard in heard_notes(self.timed, {channel}):
            if heard.on_s <= self.start:
                continue
            after = next((t for t in pulses if t > heard.on_s), pulses[-1])
            window = [t for t in pulses if heard.on_s - MIDI_CLOCK_PPQN * self.period_s <= t <= after]
            out.append((heard.on_s, max(b - a for a, b in itertools.pairwise(window))))
        return out


def _clock_take(daemon: Daemon, peer: Peer, master: MidiClockMaster, setup: Setup,
                phrase: Phrase) -> ClockTake:
    """From the internal clock: roll the master, play a short phrase on its beats, Stop in the answer."""
    reset(daemon, peer)
    mark = daemon.mark()
    master.transport("locate 0")
    master.transport("play")
    daemon.wait_for("MIDI clock tempo", timeout_s=10.0, start=mark)
    time.sleep(0.5)
    status = daemon.status()
    source, estimate, running, _ = status["clock"]
    assert (source, running) == ("midi", 1), status
    pulses = _pulses(peer.timed())
    fit_window = [t for t in pulses if t <= status["clock_received_s"]][-48:]
    measured = _fit_bpm(fit_window)
    # The daemon follows the pulses by the frames jack_midi_clock wrote them at (its own JACK
    # client), so it reads the master's tempo itself; this peer stamps them on arrival in Python,
    # in wall time, where the dummy driver's frames run unevenly on a busy machine.
    assert abs(estimate - master.bpm) <= FRAME_TEMPO_TOLERANCE_BPM, (estimate, master.bpm, measured)

    notes = short(phrase)
    period = 60.0 / (measured * MIDI_CLOCK_PPQN)
    pulses = _pulses(peer.timed())
    next_beat = len(pulses) + (-len(pulses) % MIDI_CLOCK_PPQN) + MIDI_CLOCK_PPQN
    start = pulses[-1] + (next_beat - len(pulses) + 1) * period
    peer.play(phrase_events(notes, 60.0 / measured), origin_s=start)
    peer.wait_until(lambda got: any(is_note_on(m) and m.channel == setup.answer_channel and t > start
                                    for t, m in got), timeout_s=10.0, what="an answer under MIDI clock")
    time.sleep(1.5 * 60.0 / measured)  # a few notes of the answer, then Stop in its middle
    master.transport("stop")
    peer.wait_until(lambda got: any(m.type == "stop" for _, m in got), timeout_s=5.0, what="MIDI Stop")
    time.sleep(0.5)
    take = ClockTake(peer.timed(), start, measured, estimate)
    daemon.wait_for("internal clock", timeout_s=5.0, start=mark)
    return take


def _stop_silences(take: ClockTake, setup: Setup) -> float:
    """Assert that the Stop closed the answer (CC 123 at once, nothing started after it); return the delay.

    The monitor hears the Stop and the daemon's output on one port: when the daemon answers in the
    JACK cycle that carried the Stop, JACK orders that cycle's events by frame offset and the CC 123
    (sent at offset 0) is heard just before the Stop. So the silence is looked for from the
    answer's first note on, and may precede the Stop by up to one JACK period.
    """
    timed, stop_s = take.timed, take.stop_s
    first_note_s = min(t for t, m in timed
                       if is_note_on(m) and m.channel == setup.answer_channel and t > take.start)
    all_off = [t for t, m in timed
               if t > first_note_s and m.type == "control_change" and m.control == ALL_NOTES_OFF]
    assert all_off, "no CC 123 after MIDI Stop"
    delay_s = all_off[0] - stop_s
    tick_s = take.period_s
    jack_period_s = TEST_JACK_PERIOD_FRAMES / JACK_SAMPLE_RATE_HZ
    assert -jack_period_s <= delay_s <= STOP_TICKS * tick_s, \
        f"CC 123 came {delay_s * 1e3:+.1f} ms from the Stop (a tick is {tick_s * 1e3:.1f} ms)"
    assert not [m for t, m in timed if t > all_off[0] and is_note_on(m)], "a note started after MIDI Stop"
    assert all_closed(timed)
    return delay_s


def test_jack_midi_clock_is_followed_answers_land_on_its_beats_and_stop_silences(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase, report: Callable[[str], None]) -> None:
    """Onsets are judged where the clock kept time; tempo, Stop and closing on every take.

    In a synchronous JACK graph on shared non-realtime cores, a late client stalls every client,
    the pulse source included: pulses then arrive tens of ms late, which no follower can foresee.
    An onset near a pulse that came more than :data:`CLOCK_STALL_S` beyond its period is not
    judged; takes are played until :data:`MIN_JUDGED_ONSETS` onsets and one answer's first note
    are judged, at most :data:`CLOCK_TAKES`. If the clock stalled around all but a few, the onsets
    cannot be judged here and the test is skipped, saying so (the Stop and tempo checks have
    passed in every take by then).
    """
    daemon, peer = rig
    master = MidiClockMaster(setup.bpm)
    errors: list[float] = []  # onset - nearest even pulse (a model step is 2 pulses)
    first_errors: list[float] = []  # an answer's first onset - nearest beat
    stalls: list[float] = []  # the longest pulse gap around each onset not judged
    stop_delays: list[float] = []
    takes = 0
    try:
        jack_connect(master.port, daemon.port("Antiphon In"))
        jack_connect(master.port, peer.monitor_port)
        while takes < CLOCK_TAKES and (len(errors) < MIN_JUDGED_ONSETS or not first_errors):
            take = _clock_take(daemon, peer, master, setup, phrase)
            takes += 1
            stop_delays.append(_stop_silences(take, setup))
            pulses = _pulses(take.timed)
            for k, (on_s, gap_s) in enumerate(take.onsets(setup.answer_channel)):
                if gap_s > take.period_s + CLOCK_STALL_S:
                    stalls.append(gap_s)
                    continue
                errors.append(_nearest_pulse_error(on_s, pulses, 2))
                if k == 0:
                    first_errors.append(_nearest_pulse_error(on_s, pulses, MIDI_CLOCK_PPQN))
    finally:
        master.close()
    if len(errors) < MIN_JUDGED_ONSETS or not first_errors:
        pytest.skip(f"the dummy driver's clock stalled around {len(stalls)} answer onsets in {takes} takes "
                    f"(pulse gaps {_shown_ms(stalls)} ms; a pulse is {take.period_s * 1e3:.1f} ms), leaving "
                    f"{len(errors)} onsets and {len(first_errors)} first notes: too few to judge the timing")
    _assert_on_grid(errors, "answer onsets vs clock pulses")
    # An answer starts on a beat, not a step beside it: nearer its beat than half a step. (One
    # onset's own jitter is held by the max above; the median bound is for many onsets.)
    step_s = 2 * take.period_s
    assert all(abs(e) < step_s / 2 for e in first_errors), \
        f"an answer's first note is off its beat: {_shown_ms(first_errors)} ms"
    report(f"jack_midi_clock -b {setup.bpm:g}: pulses arrived at {take.measured:.2f} bpm (dummy driver), "
           f"daemon estimate {take.estimate:.2f} bpm (error {take.estimate - take.measured:+.3f}); answer "
           f"onsets vs clock pulses {ms(errors)}, first vs beat {_shown_ms(first_errors)} ms; MIDI Stop -> "
           f"CC 123 {_shown_ms(stop_delays)} ms (a tick is {take.period_s * 1e3:.1f} ms); {takes} take(s), "
           f"{len(stalls)} onsets beside a stalled pulse not judged")


def _shown_ms(seconds: list[float]) -> str:
    return ", ".join(f"{s * 1e3:+.1f}" for s in seconds)


def _pulses(timed: list[tuple[float, mido.Message]]) -> list[float]:
    """Arrival times of the clock pulses since the last Start or Continue."""
    starts = [i for i, (_, m) in enumerate(timed) if m.type in ("start", "continue")]
    first = starts[-1] + 1 if starts else 0
    return [t for t, m in timed[first:] if m.type == "clock"]


def _fit_bpm(times: list[float]) -> float:
    n = len(times)
    mean_k, mean_t = (n - 1) / 2, sum(times) / n
    slope = sum((k - mean_k) * (t - mean_t) for k, t in enumerate(times)) / sum((k - mean_k) ** 2 for k in range(n))
    return 60.0 / (slope * MIDI_CLOCK_PPQN)


def _nearest_pulse_error(when: float, pulses: list[float], every: int) -> float:
    """Signed time from the nearest pulse whose index is a multiple of ``every``."""
    candidates = pulses[::every]
    return min((when - t for t in candidates), key=abs)


# ------------------------------------------------------------------ bad input


