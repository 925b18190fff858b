"""The engine by hand: a fake clock, a recording output, a fake step model (and tiny ONNX models).

Each test drives :meth:`Engine.handle_input`, :meth:`Engine.handle_control`, :meth:`Engine.work`
and :meth:`Engine.poll` the way the engine thread does, and pumps the scheduler, so times are
exact. The thread itself is tested for waking on control events and for passing input through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest

from daemon.control.events import ControlQueue, SetParam, StatusRequest, SwitchPreset, Trigger
from daemon.control.live_state import LiveState
from daemon.control.presets import Preset, live_values, preset_from_dict
from daemon.errors import ModelError, PresetError
from daemon.io.midi import WAKE, InputQueue
from daemon.live.echo import EchoFilter
from daemon.live.engine import Engine
from daemon.live.model_store import ModelStore
from daemon.live.scheduler import ALL_NOTES_OFF, DEFAULT_PORT, Scheduler, is_note_off, is_note_on
from daemon.music.events import NoteEventCodec

BPM = 120.0
BEAT_S = 0.5
STEP_S = 1 / 256  # the fake clock's step when time runs (a binary fraction: sums stay exact)


class FakeClock:
    def __init__(self, start_s: float = 100.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s


class RecordingOutput:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, mido.Message]] = []

    def send(self, msg: mido.Message) -> None:
        self.sent.append((self.clock(), msg))


class FakeLstm:
    """A note-events step model that always wants ``pitch`` ``shift`` ticks after the last event."""

    kind = "lstm"

    def __init__(self, shift: int = 6, pitch: int = 62, duration: int = 6, velocity: int = 90) -> None:
        self.codec = NoteEventCodec()
        self.want = (shift, pitch, duration, velocity)
        self.steps = 0

    def initial_state(self) -> int:
        return 0

    def step(self, token: np.ndarray, state: int) -> tuple[list[np.ndarray], int]:
        self.steps += 1
        logits = [np.zeros(v, np.float32) for v in self.codec.vocab_sizes]
        for field_index, value in enumerate(self.want):
            logits[field_index][value] = 40.0
        return logits, state + 1


@dataclass
class RecordingFeedback:
    """Records what the engine reports."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any) -> bool:
            self.calls.append((name, args))
            return True
        return record

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]


PRESET: dict[str, Any] = {
    "model": {"file": "lstm.onnx"},
    "midi": {"channel": 2},
    "respond": {"answer_bars": 1, "phrase_end_beats": 1.0, "phrase_end": "silence", "start": "beat"},
    "clock": {"bpm": BPM},
}


class Rig:
    """An engine with its scheduler, a fake clock, and helpers to play and let time run."""

    def __init__(self, preset: dict[str, Any] | None = None, models: dict[str, Any] | None = None,
                 presets: dict[str, dict[str, Any]] | None = None) -> None:
        self.clock = FakeClock()
        self.out = RecordingOutput(self.clock)
        self.preset = preset_from_dict(preset or PRESET, Path("/presets/test.toml"))
        self.state = LiveState(live_values(self.preset))
        self.echo = EchoFilter()
        self.scheduler = Scheduler({DEFAULT_PORT: self.out}, clock=self.clock, on_sent=self.echo.sent)
        self.inputs = InputQueue(clock=self.clock)
        self.controls = ControlQueue()
        self.feedback = RecordingFeedback()
        self.models = models if models is not None else {"lstm.onnx": FakeLstm()}
        others = {name: preset_from_dict(data, Path(f"/presets/{name}.toml")) for name, data in (presets or {}).items()}

        def loader(path: Path) -> Any:
            if path.name not in self.models:
                raise ModelError(f"model file {path} does not exist")
            return self.models[path.name]

        def load_preset(name: str) -> Preset:
            if name not in others:
                raise PresetError(f"no preset called {name!r}")
            return others[name]

        self.engine = Engine(self.inputs, self.controls, self.scheduler, self.state, self.preset,
                             models=ModelStore(loader), feedback=self.feedback, echo=self.echo,
                             preset_loader=load_preset, clock=self.clock, seed=1)
        self.engine.prepare()

    def at(self, time_s: float, msg: mido.Message | None = None) -> None:
        """Move the clock to ``time_s``, hand ``msg`` in, and let the engine and scheduler do their turn."""
        self.run_until(time_s)
        if msg is not None:
            self.engine.handle_input(time_s, msg)
        self._turn()

    def control(self, event: Any) -> None:
        self.engine.handle_control(event)
        self._turn()

    def _turn(self) -> float | None:
        self.engine.work(float("inf"))
        self.engine.poll(self.clock())
        return self.scheduler.pump()

    def run_until(self, time_s: float) -> None:
        """Let time run to ``time_s`` in small steps, landing exactly on every message's due time."""
        next_due = self._turn()
        while self.clock.now_s < time_s:
            step_to = min(time_s, self.clock.now_s + STEP_S)
            if next_due is not None and self.clock.now_s < next_due < step_to:
                step_to = next_due
            self.clock.now_s = step_to
            next_due = self._turn()

    def play(self, start_s: float, pitches: list[int], note_s: float = 0.4, gap_s: float = 0.1,
             channel: int = 0) -> float:
        """Play ``pitches`` one after another from ``start_s``; return when the last was released."""
        t = start_s
        for pitch in pitches:
            self.at(t, on(pitch, channel))
            self.at(t + note_s, off(pitch, channel))
            t += note_s + gap_s
        return t - gap_s

    def sent(self, channel: int | None = None) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, m in self.out.sent if channel is None or getattr(m, "channel", None) == channel]

    def note_ons(self, channel: int) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, m in self.sent(channel) if is_note_on(m)]


def on(pitch: int, channel: int = 0, velocity: int = 90) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)


def off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=pitch, velocity=0)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def closed(sent: list[tuple[float, mido.Message]]) -> bool:
    sounding: dict[tuple[int, int], int] = {}
    for _, msg in sent:
        if is_note_on(msg):
            sounding[(msg.channel, msg.note)] = sounding.get((msg.channel, msg.note), 0) + 1
        elif is_note_off(msg):
            sounding[(msg.channel, msg.note)] = 0
    return not any(sounding.values())


@pytest.fixture
def rig() -> Rig:
    return Rig()


# ------------------------------------------------------------------ respond


def test_a_phrase_is_answered_after_its_silence_on_the_next_beat_on_the_answer_channel(rig: Rig) -> None:
    start = rig.clock() + 0.2
    released = rig.play(start, [60, 62, 64])
    rig.run_until(released + 4.0)
    answer = rig.note_ons(channel=1)
    assert answer, rig.out.sent
    phrase_end = released + BEAT_S
    first = answer[0][0]
    assert first >= phrase_end
    origin = 100.0  # the internal clock's tick 0 is when the engine was made
    assert abs(((first - origin) / BEAT_S) % 1) < 1e-6 or abs(((first - origin) / BEAT_S) % 1 - 1) < 1e-6
    assert first - phrase_end < BEAT_S
    assert all(t < first + 4 * BEAT_S for t, _ in answer), "the answer lasts answer_bars = 1 bar"
    assert closed(rig.out.sent)
    assert rig.engine.counts.phrases == 1
    assert rig.feedback.named("phrase")[0][0] == 3


def test_the_answer_is_prepared_as_the_silence_begins_before_the_phrase_ends(rig: Rig) -> None:
    released = rig.play(rig.clock() + 0.2, [60, 62])
    rig.at(released + 0.01)
    responder = rig.engine.answering.responder
    assert responder is not None and responder.pending is not None
    assert responder.pending.notes_made > 0, "nothing sampled during the silence"
    assert not rig.note_ons(channel=1)
    assert rig.engine.counts.phrases == 0


def test_playing_again_before_the_phrase_end_discards_the_prepared_answer(rig: Rig) -> None:
    released = rig.play(rig.clock() + 0.2, [60, 62])
    rig.at(released + 0.9 * BEAT_S)  # still silent, answer prepared, phrase not ended
    discarded = rig.engine.counts.discarded
    rig.at(released + 0.95 * BEAT_S, on(64))
    rig.at(released + 1.3 * BEAT_S, off(64))
    assert rig.engine.counts.discarded == discarded + 1
    rig.run_until(released + 1.3 * BEAT_S + 4.0)
    assert rig.engine.counts.phrases == 1  # one phrase of three notes, answered once
    assert rig.feedback.named("phrase")[0][0] == 3
    assert closed(rig.out.sent)


def test_a_note_held_by_the_sustain_pedal_keeps_the_phrase_open(rig: Rig) -> None:
    t = rig.clock() + 0.2
    rig.at(t, cc(64, 127))
    rig.at(t + 0.01, on(60))
    rig.at(t + 0.2, off(60))
    rig.run_until(t + 3.0)  # key up long ago, but the pedal holds it
    assert rig.engine.counts.phrases == 0 and not rig.note_ons(channel=1)
    rig.at(t + 3.0, cc(64, 0))
    rig.run_until(t + 3.0 + BEAT_S + 0.05)
    assert rig.engine.counts.phrases == 1
    info = rig.feedback.named("phrase")[0]
    assert info[1] == pytest.approx((3.0 - 0.01) / BEAT_S, abs=0.1)  # the phrase lasted until the pedal lifted


def test_phrase_end_at_a_bar_line_and_start_on_a_bar(rig: Rig) -> None:
    preset = {**PRESET, "respond": {"answer_bars": 1, "phrase_end": "bar", "start": "bar"}}
    rig = Rig(preset)
    released = rig.play(100.0 + 0.25, [60])  # beat 1.5 of bar 1; silence from beat ~2.3
    rig.run_until(released + 5.0)
    answer = rig.note_ons(channel=1)
    assert answer and answer[0][0] == pytest.approx(100.0 + 4 * BEAT_S, abs=1e-6)  # bar 2's line


def test_generate_answers_now_on_the_next_step_even_mid_phrase(rig: Rig) -> None:
    t = rig.clock() + 0.2
    rig.at(t, on(60))
    rig.control(Trigger("generate"))
    rig.run_until(t + 0.2)
    answer = rig.note_ons(channel=1)
    assert answer and answer[0][0] - t < 0.06  # the next 1/12-beat step after 20 ms of lead
    assert rig.engine.counts.phrases == 1


def test_sampling_follows_the_live_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    from daemon.models.lstm import load_lstm
    from tests.export.tiny_lstm import cached_tiny_model

    rig = Rig(models={"lstm.onnx": load_lstm(cached_tiny_model(tmp_path_factory, "events")[1])})
    rig.state.apply(SetParam.from_edge("key", "Eb"))
    rig.state.apply(SetParam.from_edge("scale", "minor-pentatonic"))
    rig.control(SetParam.from_edge("scale", "minor-pentatonic"))
    released = rig.play(rig.clock() + 0.2, [63, 66, 68, 70, 73])
    rig.run_until(released + 5.0)
    pitches = [m.note for _, m in rig.note_ons(channel=1)]
    assert pitches
    assert all((p - 3) % 12 in (0, 3, 5, 7, 10) for p in pitches), pitches


# ------------------------------------------------------------------ silence on purpose


def test_panic_closes_every_sounding_note_with_cc_123(rig: Rig) -> None:
    released = rig.play(rig.clock() + 0.2, [60, 62])
    rig.run_until(released + 2 * BEAT_S)  # the answer is playing
    assert rig.note_ons(channel=1)
    rig.control(Trigger("panic"))
    assert closed(rig.out.sent)
    assert any(m.type == "control_change" and m.control == ALL_NOTES_OFF for _, m in rig.sent(1))
    assert not rig.engine._plan


def test_a_mode_switch_silences_and_a_mode_without_its_model_is_refused(rig: Rig) -> None:
    released = rig.play(rig.clock() + 0.2, [60, 62])
    rig.run_until(released + 2 * BEAT_S)
    rig.state.apply(SetParam("mode", "accompany"))
    rig.control(SetParam("mode", "accompany"))  # the preset has no GAN
    assert rig.engine.mode == "respond" and rig.state.get("mode") == "respond"
    assert "GAN" in rig.feedback.named("error")[0][1]
    rig.state.apply(SetParam("mode", "thru"))
    rig.control(SetParam("mode", "thru"))
    assert rig.engine.mode == "thru"
    assert closed(rig.out.sent)
    assert rig.sent()[-1][1].control == ALL_NOTES_OFF


def test_midi_stop_silences_at_once_and_nothing_plays_until_the_daw_plays_again(rig: Rig) -> None:
    t = rig.clock()
    for k in range(60):  # half a second of clock at 120 bpm
        rig.at(t + k / 48, mido.Message("clock"))
    assert rig.engine.transport.source == "midi"
    released = rig.play(rig.clock() + 0.02, [60, 62])
    while not rig.note_ons(channel=1):
        rig.at(rig.clock() + 1 / 48, mido.Message("clock"))
    before = len(rig.out.sent)
    rig.engine.handle_input(rig.clock(), mido.Message("stop"))
    silenced = rig.out.sent[before:]
    assert any(m.type == "control_change" and m.control == ALL_NOTES_OFF for _, m in silenced)
    assert closed(rig.out.sent)
    rig.at(rig.clock() + 0.01, on(70))
    rig.at(rig.clock() + 0.2, off(70))
    rig.run_until(rig.clock() + 0.8)  # under a second: still following the stopped MIDI clock
    assert not [m for t_s, m in rig.out.sent[before:] if is_note_on(m)]
    assert released


# ------------------------------------------------------------------ clock


def test_midi_clock_is_followed_and_its_absence_for_a_second_brings_the_internal_clock_back(rig: Rig) -> None:
    t = rig.clock()
    rig.at(t, mido.Message("start"))
    for k in range(96):  # two beats... at 100 bpm
        rig.at(t + 0.001 + k * 60 / (100 * 24), mido.Message("clock"))
    assert rig.engine.transport.source == "midi"
    assert rig.engine.transport.bpm == pytest.approx(100.0, abs=0.01)
    last = rig.clock()
    rig.run_until(last + 0.9)
    assert rig.engine.transport.source == "midi"
    rig.run_until(last + 1.1)
    assert rig.engine.transport.source == "internal"
    assert rig.state.get("bpm") == pytest.approx(100.0, abs=0.01)
    assert rig.engine.transport.running


def test_status_reports_the_clock_and_the_counts(rig: Rig) -> None:
    rig.control(StatusRequest())
    source, bpm, running, position = rig.feedback.named("clock")[0]
    assert (source, bpm, running) == ("internal", BPM, True) and position >= 0
    names = {args[0] for args in rig.feedback.named("count")}
    assert {"phrases", "echoes", "input_dropped", "late_dropped"} <= names


# ------------------------------------------------------------------ input hygiene


def test_an_echo_of_our_own_output_is_dropped_and_not_answered(rig: Rig) -> None:
    released = rig.play(rig.clock() + 0.2, [60, 62])
    rig.run_until(released + 2 * BEAT_S)
    sent_on = rig.note_ons(channel=1)
    assert sent_on
    when, msg = sent_on[0]
    rig.at(when + 0.003, msg)  # the DAW loops it back 3 ms later
    assert rig.engine.counts.echoes == 1
    rig.run_until(rig.clock() + 4.0)
    assert rig.engine.counts.phrases == 1


def test_input_on_the_output_channels_is_ignored_when_asked() -> None:
    rig = Rig({**PRESET, "midi": {"channel": 2, "ignore_output_channels": True}})
    released = rig.play(rig.clock() + 0.2, [60, 62], channel=1)
    rig.run_until(released + 3.0)
    assert rig.engine.counts.filtered == 4 and rig.engine.counts.phrases == 0


def test_bad_input_is_counted_or_ignored_and_never_fatal(rig: Rig) -> None:
    t = rig.clock() + 0.1
    for k, msg in enumerate([off(50), on(51, velocity=0), mido.Message("sysex", data=[1, 2, 3]),
                             mido.Message("songpos", pos=8), mido.Message("tune_request"),
                             mido.Message("pitchwheel", pitch=100), mido.Message("aftertouch", value=3)]):
        rig.at(t + k * 0.001, msg)
    for channel in range(16):
        rig.at(t + 0.01, on(40 + channel, channel))
    for channel in range(16):
        rig.at(t + 0.1, off(40 + channel, channel))
    rig.run_until(t + 4.0)
    assert rig.engine.counts.errors == 0
    assert rig.engine.counts.ignored == 2  # sysex, tune request
    assert rig.engine.counts.phrases == 1  # the 15 pitched channels (not drums) as one phrase
    assert rig.feedback.named("phrase")[0][0] == 15
    assert closed(rig.out.sent)


def test_thru_passes_channel_messages_at_arrival_and_skips_system_messages() -> None:
    rig = Rig({**PRESET, "mode": "thru"})
    t = rig.clock() + 0.1
    for msg in (mido.Message("clock"), on(60), mido.Message("pitchwheel", pitch=100), mido.Message("sysex", data=[1])):
        rig.at(t, msg)
    assert [m.type for _, m in rig.out.sent] == ["note_on", "pitchwheel"]
    assert all(when == t for when, _ in rig.out.sent)


# ------------------------------------------------------------------ presets


def test_a_preset_switch_to_a_missing_model_keeps_the_model_and_says_why(rig: Rig) -> None:
    rig = Rig(presets={"gone": {"model": {"file": "gone.onnx"}}})
    model = rig.engine.answering.responder.model  # type: ignore[union-attr]
    rig.control(SwitchPreset("gone"))
    rig.control(SwitchPreset("nothere"))
    errors = rig.feedback.named("error")
    assert errors[0][0] == "/antiphon/preset" and "does not exist" in errors[0][1]
    assert "no preset called 'nothere'" in errors[1][1]
    assert rig.engine.preset.name == "test" and rig.engine.answering.responder.model is model  # type: ignore[union-attr]


def test_a_preset_switch_keeps_the_clock_and_takes_the_new_parameters() -> None:
    rig = Rig(presets={"slow": {"model": {"file": "lstm.onnx"}, "clock": {"bpm": 60.0}, "midi": {"channel": 5}}})
    rig.run_until(rig.clock() + 1.3)
    position = rig.engine.transport.tick_at(rig.clock())
    rig.control(SwitchPreset("slow"))
    assert rig.engine.transport.tick_at(rig.clock()) == pytest.approx(position)
    assert rig.engine.transport.bpm == 60.0 and rig.state.get("channel_out") == 4
    assert rig.feedback.named("status"), "controllers hear the new values"


# ------------------------------------------------------------------ accompany


def test_accompany_plays_a_bar_ahead_on_its_channels_conditioned_on_the_bar_heard(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from daemon.models.loader import load_model
    from tests.export.tiny_gan import cached_tiny_gan

    gan = load_model(cached_tiny_gan(tmp_path_factory, "grooves")[1])
    seen: list[Any] = []
    real = gan.candidate_bars

    def spy(previous: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(None if previous is None else np.array(previous, copy=True))
        return real(previous, *args, **kwargs)

    gan.candidate_bars = spy  # type: ignore[method-assign]
    preset = {"mode": "accompany", "model": {"file": "gan.onnx"}, "clock": {"bpm": BPM},
              "accompany": {"channels": [10, 6, 7], "threshold": 0.001}}
    rig = Rig(preset, models={"gan.onnx": gan})
    rig.run_until(100.0 + 2.0 + 0.01)  # to just after bar 2's line
    assert seen and seen[0] is None, "nothing heard: the band's count-in is unconditioned"
    assert len(seen) >= 2 and seen[1] is not None, "its first bar goes on from the count-in"
    notes = [(t, m) for t, m in rig.out.sent if is_note_on(m)]
    assert notes and {m.channel for _, m in notes} <= {9, 5, 6}
    assert min(t for t, _ in notes) >= 100.0 + 2.0 - 1e-9, "a bar starts on its bar line"
    before = len(seen)
    rig.at(rig.clock() + 0.1, on(48, channel=1))
    rig.at(rig.clock() + 0.3, off(48, channel=1))
    rig.run_until(100.0 + 6.0)
    def sounds_48(bar: Any) -> bool:
        return any(not t.drums and t.lowest_pitch <= 48 < t.lowest_pitch + t.rows
                   and bar[0, i, :, 48 - t.lowest_pitch].any() for i, t in enumerate(gan.spec.tracks))

    assert any(c is not None and sounds_48(c) for c in seen[before:]), "a bar with notes heard conditions the next"
    rig.control(Trigger("panic"))
    assert closed(rig.out.sent)


def test_both_answers_phrases_and_accompanies_on_separate_channels(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from daemon.models.loader import load_model
    from tests.export.tiny_gan import cached_tiny_gan

    gan = load_model(cached_tiny_gan(tmp_path_factory, "grooves")[1])
    preset = {"mode": "both", "model": {"file": "lstm.onnx"}, "midi": {"channel": 2},
              "respond": {"answer_bars": 1, "start": "beat"}, "clock": {"bpm": BPM},
              "accompany": {"model": "gan.onnx", "channels": [10, 6, 7], "threshold": 0.001}}
    rig = Rig(preset, models={"lstm.onnx": FakeLstm(), "gan.onnx": gan})
    released = rig.play(rig.clock() + 0.2, [60, 62])
    rig.run_until(released + 4.0)
    channels = {m.channel for _, m in rig.out.sent if is_note_on(m)}
    assert 1 in channels, "no answer"
    assert channels - {1} and channels - {1} <= {9, 5, 6}, channels
    assert rig.engine.counts.phrases == 1 and rig.engine.counts.bars >= 2


# ------------------------------------------------------------------ the thread


def test_a_control_event_wakes_the_engine_through_the_input_queue() -> None:
    inputs = InputQueue()
    controls = ControlQueue(wake=inputs.wake)
    controls.put(Trigger("panic"))
    item = inputs.get(0.0)
    assert item is not None and item[1] is WAKE


def test_the_engine_thread_passes_input_and_stop_closes_what_sounds() -> None:
    out: list[mido.Message] = []
    got = threading.Event()

    class Output:
        def send(self, msg: mido.Message) -> None:
            out.append(msg)
            got.set()

    preset = preset_from_dict({**PRESET, "mode": "thru"})
    scheduler = Scheduler({DEFAULT_PORT: Output()})
    inputs = InputQueue()
    engine = Engine(inputs, ControlQueue(), scheduler, LiveState(live_values(preset)), preset)
    engine.prepare()
    scheduler.start()
    engine.start()
    try:
        inputs.put(on(64))
        assert got.wait(2.0)
    finally:
        engine.stop()
        scheduler.stop()
    assert out[0] == on(64)
    assert off(64) in out[1:]


@pytest.fixture(autouse=True)
def _no_thread_leak() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    leaked = {t.name for t in threading.enumerate() if t.name.startswith("antiphon-")} - before
    assert not leaked, leaked


# ------------------------------------------------------------------ stream faults (the input ledger)


def test_a_zero_length_note_does_not_keep_the_phrase_open(rig: Rig) -> None:
    start = rig.clock() + 0.2
    rig.at(start, on(60))
    rig.at(start + 0.3, off(60))
    rig.at(start + 0.4, off(62))  # a merge sent the off of a zero-length note first...
    rig.at(start + 0.4, on(62))  # ...and its on at the same instant
    rig.run_until(start + 0.4 + 4.0)
    assert rig.note_ons(channel=1), "a zero-length note left the phrase open"
    assert rig.engine.counts.phrases == 1
    assert rig.engine.stats()["zero_length_notes"] == 1
    second = rig.play(rig.clock() + 0.2, [64, 65])
    rig.run_until(second + 4.0)
    assert rig.engine.counts.phrases == 2, "the next phrase was not answered"


def test_a_dropped_note_off_is_answered_after_the_hold_limit(rig: Rig) -> None:
    rig.state.apply(SetParam.from_edge("hold_limit_beats", 2.0))
    start = rig.clock() + 0.2
    released = rig.play(start, [60, 62])
    rig.at(released + 0.1, on(64))  # its note-off never comes
    rig.run_until(released + 0.1 + 2 * BEAT_S - 0.05)
    assert rig.engine.counts.phrases == 0, "answered before the hold limit"
    rig.run_until(released + 0.1 + 2 * BEAT_S + BEAT_S + 4 * BEAT_S)
    assert rig.engine.counts.phrases == 1 and rig.note_ons(channel=1)
    assert rig.engine.stats()["held_released"] == 1
    rig.at(rig.clock() + 0.5, off(64))  # the lost off arrives late: nothing breaks
    again = rig.play(rig.clock() + 0.2, [67])
    rig.run_until(again + 4.0)
    assert rig.engine.counts.phrases == 2
    assert closed(rig.out.sent)


def test_a_drone_under_a_melody_still_gets_an_answer(rig: Rig) -> None:
    start = rig.clock() + 0.2
    rig.at(start, on(48))  # held throughout
    released = rig.play(start + 0.1, [60, 62, 64])
    rig.run_until(released + 8 * BEAT_S + 5 * BEAT_S)
    assert rig.engine.counts.phrases == 1, "the drone kept the phrase open"


def test_cc_123_from_the_daw_closes_the_players_notes(rig: Rig) -> None:
    start = rig.clock() + 0.2
    rig.at(start, on(60))
    rig.at(start + 0.2, on(64))
    rig.at(start + 0.5, cc(123, 0))
    rig.run_until(start + 0.5 + 4.0)
    assert rig.engine.counts.phrases == 1
    assert rig.engine.stats()["mode_offs"] == 2
