"""The engine's controls: parameters, triggers, preset and mode switches, status, the live sampling settings.

:class:`Controls` acts on the control events OSC and the CC map produce (a :class:`SetParam`
was applied to the live state already) for a :class:`Conductor` -- the engine, which owns the
models and the parts and does what the controls decide. What a parameter change renews is
asked of the parameter table (:attr:`daemon.control.params.ParamSpec.renews`), not listed here.
:class:`LiveSampling` turns the live state into the :class:`~daemon.music.sampling.SamplingParams`
answers are sampled with, and keeps the last good ones while live values clash.

Everything here runs on the engine thread. This module must not import torch, ``training`` or
``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from daemon.control.cc_map import CcMapper
from daemon.control.events import ControlEvent, SetParam, StatusRequest, SwitchPreset, Trigger
from daemon.control.live_state import LiveState
from daemon.control.params import (
    AUTO_KEY,
    ParamError,
    Renews,
    live_attributes,
    sampler_density,
    spec,
    to_edge,
)
from daemon.control.presets import Preset, live_values
from daemon.errors import ModelError, PresetError
from daemon.live.answering import Answering
from daemon.live.echo import EchoFilter
from daemon.live.feedback import EngineCounts, Feedback
from daemon.live.model_store import ModelPair, ModelStore, models_for
from daemon.live.transport import Transport
from daemon.music.grid import MIDI_CLOCK_PPQN
from daemon.music.sampling import SamplingError, SamplingParams
from daemon.music.scales import SCALES
from daemon.timebase import Clock

log = logging.getLogger(__name__)

GENERATE_LEAD_S = 0.020  # /antiphon/generate: the answer starts on the first grid point this far ahead


class Conductor(Protocol):
    """What the controls ask of the engine."""

    preset: Preset
    mode: str
    transport: Transport
    echo: EchoFilter
    counts: EngineCounts
    answering: Answering | None

    def silence(self, why: str) -> None: ...
    def play(self, preset: Preset, mode: str, pair: ModelPair) -> None: ...
    def respeculate(self) -> None: ...
    def reset_parts(self) -> None: ...
    def answer_now(self, lead_s: float) -> str | None: ...
    def stats(self) -> dict[str, int]: ...


class LiveSampling:
    """The sampling parameters of the live state, made again only when a parameter renews them.

    Args:
        state: the live parameters.
        preset: the preset playing (its ``[sampling]`` extras and custom scale).
        error: ``(address, message)`` reports values that clash.
    """

    def __init__(self, state: LiveState, preset: Preset, error: Callable[[str, str], None]) -> None:
        self._state = state
        self._error = error
        self._params: SamplingParams | None = None
        self._last_good: SamplingParams | None = None
        self.use_preset(preset)

    def use_preset(self, preset: Preset) -> None:
        """Take the preset's extras and its scale when it is one no name stands for."""
        self._extras = preset.sampling
        scale = preset.sampling.scale
        self.custom_scale = scale if scale is not None and scale not in SCALES.values() else None
        self._params = None
        self._last_good = None

    def renew(self, name: str) -> None:
        """Parameter ``name`` changed: make the parameters again when next asked (``scale`` drops a custom one)."""
        if name == "scale":
            self.custom_scale = None
        self._params = None

    def params(self) -> SamplingParams:
        """The parameters (the last good ones if the live values clash)."""
        if self._params is not None:
            return self._params
        values = self._state.snapshot()
        key = values["key"]
        follow_key = key == AUTO_KEY
        if follow_key:
            key = None
        scale = None if key is None else (self.custom_scale or SCALES[values["scale"]])
        extras = self._extras
        try:
            params = SamplingParams(
                temperature=values["temperature"], top_k=values["top_k"], top_p=values["top_p"], key_root=key,
                scale=scale, pitch_low=values["pitch_low"], pitch_high=values["pitch_high"],
                max_polyphony=extras.max_polyphony, max_repeats=extras.max_repeats,
                density=sampler_density(values["density"]), follow_key=follow_key, morph=values["morph"],
                attributes=live_attributes(values), memory=values["memory"])
        except SamplingError as exc:
            self._error("/antiphon/set", f"{exc}; keeping the previous sampling settings")
            params = self._last_good or extras
        self._params = self._last_good = params
        return params


class Controls:
    """Acts on control events for a :class:`Conductor` (see the module docstring).

    Args:
        engine: the engine the controls steer.
        state: the live parameters.
        sampling: the live sampling settings.
        models: the model store.
        cc_map: the CC bindings (a preset switch replaces them).
        preset_loader: ``name -> Preset`` for live switches.
        clock: time source in seconds.
        feedback: OSC feedback (None: nothing is reported).
    """

    def __init__(self, engine: Conductor, state: LiveState, sampling: LiveSampling, models: ModelStore,
                 cc_map: CcMapper, preset_loader: Callable[[str], Preset], clock: Clock,
                 feedback: Feedback | None) -> None:
        self._engine = engine
        self._state = state
        self._sampling = sampling
        self._models = models
        self._cc_map = cc_map
        self._load_preset = preset_loader
        self._clock = clock
        self._feedback = feedback

    def handle(self, event: ControlEvent) -> None:
        """Act on one control event."""
        if isinstance(event, SetParam):
            self.on_param(event)
        elif isinstance(event, Trigger):
            self._on_trigger(event.name)
        elif isinstance(event, SwitchPreset):
            self._switch_preset(event.name)
        elif isinstance(event, StatusRequest):
            self._status()

    def on_param(self, event: SetParam) -> None:
        """A parameter changed (OSC or CC): renew what the table says it renews."""
        name = event.name
        renews = spec(name).renews
        engine = self._engine
        if Renews.MODE in renews:
            self._switch_mode(event.value)
        if Renews.TEMPO in renews:
            engine.transport.set_bpm(event.value, self._clock())
        if Renews.METER in renews:
            values = self._state.snapshot()
            engine.transport.set_meter(values["meter_numerator"], values["meter_denominator"])
        if Renews.SAMPLING in renews:
            self._sampling.renew(name)
        if Renews.ANSWER in renews:
            engine.respeculate()

    def _on_trigger(self, name: str) -> None:
        engine = self._engine
        if name == "panic":
            engine.silence("panic")
        elif name == "reset":
            engine.reset_parts()
            log.info("reset: the phrase and the model's state are forgotten")
        elif name == "forget":
            if engine.answering is not None:
                engine.answering.responder.forget()
            log.info("forget: the session memory is cleared")
        elif name == "generate":
            refused = engine.answer_now(GENERATE_LEAD_S)
            if refused is not None:
                self.error("/antiphon/generate", refused)

    def _switch_mode(self, mode: str) -> None:
        engine = self._engine
        if mode == engine.mode:
            return
        try:
            pair = models_for(engine.preset, mode, self._models)
        except ModelError as exc:
            engine.counts.errors += 1
            log.warning("mode %s refused: %s", mode, exc)
            self.error("/antiphon/set/mode", str(exc))
            self.set_live("mode", engine.mode)
            return
        engine.silence(f"mode {mode}")
        engine.play(engine.preset, mode, pair)
        log.info("mode: %s", mode)

    def _switch_preset(self, name: str) -> None:
        engine = self._engine
        try:
            preset = self._load_preset(name)
            overrides = live_values(preset)
            pair = models_for(preset, preset.mode, self._models)
        except (PresetError, ModelError, ParamError) as exc:
            engine.counts.errors += 1
            log.warning("preset %s refused, keeping %s: %s", name, engine.preset.name, exc)
            self.error("/antiphon/preset", str(exc))
            return
        engine.silence(f"preset {name}")
        self._state.reset(overrides)
        self._cc_map.set_bindings(preset.cc.bindings)
        self._sampling.use_preset(preset)
        engine.echo.window_s = preset.midi.echo_window_ms / 1e3
        values = self._state.snapshot()
        engine.transport.set_bpm(values["bpm"], self._clock(), propose=False)  # keeps its place; a Link session its tempo
        engine.transport.set_meter(values["meter_numerator"], values["meter_denominator"])
        engine.play(preset, preset.mode, pair)
        log.info("preset: %s (mode %s)", preset.name, preset.mode)
        if self._feedback is not None:
            self._feedback.status(values)

    def _status(self) -> None:
        if self._feedback is None:
            return
        engine = self._engine
        transport = engine.transport
        position = transport.tick_at(self._clock()) / MIDI_CLOCK_PPQN
        self._feedback.clock(transport.source, transport.bpm, transport.running, position)
        self._feedback.current_preset(engine.preset.name)
        for name, value in engine.stats().items():
            self._feedback.count(name, value)

    def set_live(self, name: str, value: Any, quiet: bool = False) -> None:
        """Set a live parameter from inside (the clock's tempo, the model's channels) and report it."""
        try:
            event = SetParam.from_edge(name, to_edge(name, value))
            self._state.apply(event)
        except ParamError as exc:
            log.debug("live %s not set to %r: %s", name, value, exc)
            return
        if self._feedback is not None and not quiet:
            self._feedback.param(name, event.value)

    def error(self, address: str, message: str) -> None:
        """Report a refusal over OSC."""
        if self._feedback is not None:
            self._feedback.error(address, message)
