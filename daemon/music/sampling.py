"""Sampling on numpy logits: temperature, top-k, top-p, and musical masks.

An LSTM step gives one logit vector per token field (``note-events/1``: shift, pitch,
duration, velocity; ``chord/1``: chord, duration). This module turns those vectors into a
token, field by field, so that later fields can be masked by what earlier ones chose:

* :class:`SamplingParams` -- the knobs a preset or the command line sets, validated.
* Pure functions on logits (:func:`apply_temperature`, :func:`top_k_filter`,
  :func:`top_p_filter`, :func:`apply_mask`, :func:`sample_index`).
* :class:`EventSampler` (note events) and :class:`ChordSampler` (chords): stateful samplers
  that watch every token fed to the model (:meth:`observe`) and sample the next one
  (:meth:`sample`) under the scale/range, polyphony, density and repetition rules.
  :func:`make_sampler` picks one for a codec; :func:`sample_event` is the one-off form.

Order of operations on one field: hard masks -> temperature -> biases (density, chord
penalties) -> top-k -> top-p -> draw. Every draw uses the ``np.random.Generator`` the caller
gives (or one seeded from ``seed``), so a seed reproduces a continuation exactly.

Training's evaluation imports this module too; it must not import torch, ``training`` or
``export``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec
from daemon.music.grid import DRUM_CHANNEL
from daemon.music.keys import estimate_key
from daemon.music.notes import Note
from daemon.music.scales import SCALES, SamplingError

log = logging.getLogger(__name__)
NEG_INF = np.float32(-np.inf)


# Longest repeating pattern, in events, that the repetition guard looks for (a bar of eighths).
# The one home of the sampling settings' ranges: SamplingParams and apply_temperature check them,
# and the live parameter table (daemon.control.params) takes its limits from here.
TEMPERATURE_RANGE = (0.05, 5.0)  # below 0.05 sampling is argmax in all but name; above 5 it is noise
TOP_K_MAX = 512  # larger than any field a model has: 0..512, 0 = every class
TOP_P_RANGE = (0.01, 1.0)  # nucleus mass; 1 keeps every class
MAX_PATTERN_EVENTS = 8


# Logit penalty (nats) per out-of-scale pitch class, out-of-range pitch or pitch over the
# polyphony limit in a chord; 5 nats makes such a chord ~150 times less likely per offence.
CHORD_PENALTY = 5.0


def resolve_key(params: SamplingParams, phrase: Iterable[Note]) -> SamplingParams:
    """The parameters to answer ``phrase`` with: a ``follow_key`` mask becomes the phrase's key.

    The key is the Krumhansl-Kessler estimate (:func:`daemon.music.keys.estimate_key`) with its major
    or natural minor scale; a phrase with no clear key (fewer than two pitch classes) is
    answered without a scale mask. Parameters without ``follow_key`` come back unchanged.
    """
    if not params.follow_key:
        return params
    key = estimate_key(n for n in phrase if n.channel != DRUM_CHANNEL)
    if key is None:
        log.debug("the phrase has no clear key: answering without a scale mask")
        return replace(params, follow_key=False)
    scale = SCALES["minor" if key.minor else "major"]
    try:
        return replace(params, follow_key=False, key_root=key.root, scale=scale)
    except SamplingError:
        log.debug("the phrase's key leaves no pitch in range: answering without a scale mask")
        return replace(params, follow_key=False)


def check_temperature(value: float) -> None:
    """The one rule for a temperature: a finite number in :data:`TEMPERATURE_RANGE`.

    Raises:
        SamplingError: anything else.
    """
    low, high = TEMPERATURE_RANGE
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value)
                                       and low <= value <= high):
        raise SamplingError(f"temperature must be {low:g}-{high:g} (a number; try 0.8-1.2), got {value!r}")


@dataclass(frozen=True)
class SamplingParams:
    """How to draw tokens from a model's logits.

    Attributes:
        temperature: divides the logits; below 1 is more conservative, above 1 wilder (> 0).
        top_k: keep only the k most likely classes of each field (0 = all).
        top_p: keep the smallest set of classes whose probability reaches p (0 < p <= 1; 1 = all).
        key_root: pitch class of the key's root, 0-11 (0 = C); None = no scale mask.
        scale: pitch classes relative to ``key_root`` that may sound, e.g. major
            ``(0, 2, 4, 5, 7, 9, 11)``; needs ``key_root``. None = every pitch class.
        pitch_low: lowest MIDI pitch a generated note may have (0-127).
        pitch_high: highest MIDI pitch a generated note may have (0-127).
        max_polyphony: most notes sounding at once in generated music (0 = no limit).
        max_repeats: a pattern of up to :data:`MAX_PATTERN_EVENTS` events (pitch and time
            shift, or chord and duration) may repeat at most this many times in a row
            (0 = no guard).
        density: multiplies the odds of a time shift of ``s`` ticks by
            ``density ** (-s / ticks_per_beat)``: above 1 favours shorter gaps (more notes per
            beat), below 1 longer ones; 1 leaves the model alone (> 0).
        follow_key: mask to the key of the phrase being answered (``key_root = "auto"``):
            :func:`resolve_key` sets ``key_root`` and a major or minor ``scale`` from the
            phrase's notes; excludes ``key_root``.
        morph: where a phrase VAE's answer is decoded between the previous phrase's code (0)
            and this phrase's (1) (:mod:`daemon.models.vae_answer`); other models ignore it.
        attributes: ``(name, amount)`` pairs: a phrase VAE moves the code it decodes by ``amount``
            times the file's attribute vector ``name``; other models ignore them.
        memory: 0-1, how much an answer leans on what the player played this session
            (:mod:`daemon.models.session_memory`); 0 = not at all.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    key_root: int | None = None
    scale: tuple[int, ...] | None = None
    pitch_low: int = 0
    pitch_high: int = 127
    max_polyphony: int = 0
    max_repeats: int = 4
    density: float = 1.0
    follow_key: bool = False
    morph: float = 1.0
    attributes: tuple[tuple[str, float], ...] = ()
    memory: float = 0.0

    def __post_init__(self) -> None:
        if self.follow_key and self.key_root is not None:
            raise SamplingError("key_root is either a key or \"auto\" (follow the phrase's key), not both")
        check_temperature(self.temperature)
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or not 0 <= self.top_k <= TOP_K_MAX:
            raise SamplingError(f"top_k must be a whole number 0-{TOP_K_MAX} (0 keeps every class), got {self.top_k!r}")
        low, high = TOP_P_RANGE
        if isinstance(self.top_p, bool) or not (isinstance(self.top_p, (int, float)) and low <= self.top_p <= high):
            raise SamplingError(f"top_p must be in {low:g}-{high:g} (1 keeps every class), got {self.top_p!r}")
        if self.key_root is not None and (isinstance(self.key_root, bool) or not isinstance(self.key_root, int)
                                          or not 0 <= self.key_root <= 11):
            raise SamplingError(f"key_root must be a pitch class 0-11 (0 = C) or None, got {self.key_root!r}")
        if self.scale is not None:
            scale = tuple(self.scale)
            if not scale or any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 11 for p in scale):
                raise SamplingError(f"scale must be a non-empty list of pitch classes 0-11, got {self.scale!r}")
            object.__setattr__(self, "scale", tuple(sorted(set(scale))))
            if self.key_root is None:
                raise SamplingError("a scale needs a key_root (the pitch class its 0 stands for, 0 = C)")
        for name in ("pitch_low", "pitch_high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
                raise SamplingError(f"{name} must be a MIDI pitch 0-127, got {value!r}")
        if self.pitch_low > self.pitch_high:
            raise SamplingError(f"pitch_low {self.pitch_low} is above pitch_high {self.pitch_high}")
        if not self.allowed_pitches().any():
            raise SamplingError(
                f"no pitch of the scale lies in {self.pitch_low}-{self.pitch_high}; widen the range")
        for name in ("max_polyphony", "max_repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SamplingError(f"{name} must be a whole number >= 0 (0 = no limit), got {value!r}")
        if not (isinstance(self.density, (int, float)) and math.isfinite(self.density) and self.density > 0):
            raise SamplingError(f"density must be a number above 0 (1 = as the model likes), got {self.density!r}")
        if isinstance(self.morph, bool) or not (isinstance(self.morph, (int, float)) and 0.0 <= self.morph <= 1.0):
            raise SamplingError(f"morph must be a number 0-1 (0 = the previous phrase, 1 = this one), got {self.morph!r}")
        if isinstance(self.memory, bool) or not (isinstance(self.memory, (int, float)) and 0.0 <= self.memory <= 1.0):
            raise SamplingError(f"memory must be a number 0-1 (0 = off), got {self.memory!r}")
        if not isinstance(self.attributes, tuple) or not all(
                isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str) and not isinstance(a[1], bool)
                and isinstance(a[1], (int, float)) and math.isfinite(a[1]) for a in self.attributes):
            raise SamplingError(f"attributes must be (name, amount) pairs of finite amounts, got {self.attributes!r}")

    def allowed_pitches(self) -> np.ndarray:
        """Bool ``(128,)``: the MIDI pitches range and scale allow."""
        pitches = np.arange(128)
        allowed = (pitches >= self.pitch_low) & (pitches <= self.pitch_high)
        if self.scale is not None and self.key_root is not None:
            classes = np.zeros(12, bool)
            classes[[(self.key_root + p) % 12 for p in self.scale]] = True
            allowed &= classes[pitches % 12]
        return allowed

    def in_scale(self, pitch_class: int) -> bool:
        """True when ``pitch_class`` (0-11) belongs to the scale (always, without a scale)."""
        if self.scale is None or self.key_root is None:
            return True
        return (pitch_class - self.key_root) % 12 in self.scale


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``logits / temperature`` as float64 (a new array); -inf stays -inf.

    A pure function on logits: it guards its arithmetic only (a temperature above 0). The range a
    musician may set is :data:`TEMPERATURE_RANGE`, checked once, by :class:`SamplingParams`.

    Raises:
        SamplingError: ``temperature`` is not above 0.
    """
    if not temperature > 0:
        raise SamplingError(f"temperature must be above 0, got {temperature}")
    return np.asarray(logits, np.float64) / temperature


def apply_mask(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Logits with every class where ``allowed`` is False set to -inf (a new array)."""
    return np.where(allowed, logits, -np.inf)


def top_k_filter(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest logits, -inf elsewhere (``k`` <= 0 or >= size keeps all).

    Ties at the k-th value are all kept, so the result never depends on sort order.
    """
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = np.partition(logits, -k)[-k]
    return np.where(logits >= kth, logits, -np.inf)


def top_p_filter(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus filter: keep the most likely classes until their probability reaches ``p``.

    The most likely class is always kept, and so is any class tied with the last one kept;
    ``p >= 1`` keeps all.
    """
    if p >= 1.0:
        return logits
    probs = softmax(logits)
    descending = np.sort(probs)[::-1]
    keep_n = int(np.searchsorted(np.cumsum(descending), p, side="left")) + 1
    cutoff = descending[min(keep_n, descending.shape[0]) - 1]
    return np.where(probs >= cutoff, logits, -np.inf)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits (float64); an all -inf vector raises :class:`SamplingError`."""
    logits = np.asarray(logits, np.float64)
    top = logits.max()
    if not np.isfinite(top):
        raise SamplingError("every class is masked; nothing left to sample")
    e = np.exp(logits - top)
    return e / e.sum()


def sample_index(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, allowed: np.ndarray | None = None, bias: np.ndarray | None = None) -> int:
    """Draw one class index from a logit vector.

    Draws with the Gumbel-max trick (``argmax(x + Gumbel noise)`` is distributed as
    ``softmax(x)``), which needs no normalisation and few numpy calls: this runs once per
    field per generated event.

    Args:
        logits: ``(V,)`` raw model logits.
        rng: the generator every draw comes from.
        temperature: see :class:`SamplingParams`.
        top_k: see :class:`SamplingParams`.
        top_p: see :class:`SamplingParams`.
        allowed: optional bool ``(V,)``; False classes are never drawn. If it allows nothing,
            the mask is ignored rather than failing (callers that must not ignore it check first).
        bias: optional ``(V,)`` added after temperature (log-odds, nats); -inf forbids. A bias
            that would forbid everything is ignored.
    """
    x = apply_temperature(logits, temperature)
    if allowed is not None and allowed.any():
        x[~allowed] = -np.inf
    if bias is not None:
        biased = x + bias
        if np.isfinite(biased.max()):
            x = biased
    if not np.isfinite(x.max()):
        raise SamplingError("every class is masked; nothing left to sample")
    x = top_k_filter(x, top_k)
    x = top_p_filter(x, top_p)
    return int(np.argmax(x + rng.gumbel(size=x.shape[0])))


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _repeat_forbidden(history: Sequence[tuple[int, ...]], candidate_prefix: tuple[int, ...],
                      max_repeats: int) -> list[tuple[int, ...]]:
    """Events that would make a pattern repeat more than ``max_repeats`` times in a row.

    For each period P up to :data:`MAX_PATTERN_EVENTS`: if the last ``P * max_repeats``
    events are one P-event pattern repeated, the event that would start its next repeat
    (``history[-P]``) is forbidden, provided it starts with ``candidate_prefix`` (the fields
    already sampled). Returns those events.
    """
    if max_repeats <= 0:
        return []
    out = []
    events = list(history)
    n = len(events)
    for period in range(1, MAX_PATTERN_EVENTS + 1):
        span = period * max_repeats
        if span > n:
            break
        tail = events[n - span:]
        if all(tail[i] == tail[i - period] for i in range(period, span)):
            event = tail[span - period]
            if event[: len(candidate_prefix)] == candidate_prefix:
                out.append(event)
    return out


class EventSampler:
    """Samples ``note-events/1`` tokens field by field and keeps the musical context.

    Call :meth:`observe` with every token fed to the model (prompt included), and
    :meth:`sample` with the logits the model gave after the last one; :meth:`sample`
    observes what it returns. Time is in ticks from the first observed token's origin.

    Rules, per field:
        shift: density bias; with ``max_polyphony``, shifts that land where the limit is
            already reached are masked (if every shift would, a full-length REST is forced).
        pitch: BOS never; REST never with shift 0 (it would not move time); notes outside
            range/scale and pitches already sounding at the new onset masked (REST never is);
            the repetition guard masks the pitch that would repeat a (shift, pitch) pattern
            more than ``max_repeats`` times. If nothing but REST is left, REST it is.
        duration, velocity: 0 masked for notes; a REST carries 0 and 0, as the codec writes it.
    """

    def __init__(self, codec: NoteEventCodec, params: SamplingParams,
                 rng: np.random.Generator | int | None = None) -> None:
        self.codec = codec
        self.params = params
        self.rng = _rng(rng)
        self.now = 0  # ticks: onset of the last observed event
        self._sounding: list[tuple[int, int]] = []  # (end tick, pitch) of notes still sounding
        self._history: deque[tuple[int, int]] = deque(maxlen=MAX_PATTERN_EVENTS * max(1, params.max_repeats))
        sizes = codec.vocab_sizes
        self._shifts = np.arange(sizes[0])
        self._pitch_allowed = np.zeros(sizes[1], bool)
        self._pitch_allowed[:128] = params.allowed_pitches()
        self._pitch_allowed[codec.REST] = True
        self._nonzero = [np.arange(sizes[2]) > 0, np.arange(sizes[3]) > 0]
        self._density_bias: np.ndarray | None = None
        if params.density != 1.0:
            beats = self._shifts / codec.grid.ticks_per_beat
            self._density_bias = -math.log(params.density) * beats

    def observe(self, token: np.ndarray) -> None:
        """Account for a token the model was fed (moves time, tracks sounding notes and repeats)."""
        shift, pitch, duration = int(token[0]), int(token[1]), int(token[2])
        if pitch == self.codec.BOS:
            return
        self.now += shift
        if pitch < 128:
            self._sounding = [(end, p) for end, p in self._sounding if end > self.now]
            self._sounding.append((self.now + max(1, duration), pitch))
            self._history.append((shift, pitch))

    def _sounding_at(self, tick: int) -> list[int]:
        return [p for end, p in self._sounding if end > tick]

    def sample(self, logits: Sequence[np.ndarray]) -> np.ndarray:
        """The next token ``(4,)`` int64 from logits per field (each ``(V_f,)`` or ``(1, V_f)``)."""
        p = self.params
        codec = self.codec
        shift_logits, pitch_logits, duration_logits, velocity_logits = (np.asarray(x).reshape(-1) for x in logits)
        # shift
        shift_allowed = None
        force_rest = False
        if p.max_polyphony:
            ends = np.array([end for end, _ in self._sounding], np.int64)
            counts = (ends[None, :] > (self.now + self._shifts)[:, None]).sum(1) if len(ends) else \
                np.zeros(len(self._shifts), np.int64)
            shift_allowed = counts < p.max_polyphony
            if not shift_allowed.any():
                force_rest = True
        if force_rest:
            shift = codec.max_shift_ticks
        else:
            shift = sample_index(shift_logits, self.rng, p.temperature, p.top_k, p.top_p,
                                 shift_allowed, self._density_bias)
        # pitch
        allowed = self._pitch_allowed.copy()
        allowed[codec.BOS] = False
        if force_rest:
            allowed[:128] = False
        else:
            for pitch in self._sounding_at(self.now + shift):
                allowed[pitch] = False
            for _, pitch in _repeat_forbidden(self._history, (shift,), p.max_repeats):
                allowed[pitch] = False
            if shift == 0 and allowed[:128].any():
                allowed[codec.REST] = False
        if not allowed.any():
            allowed[codec.REST] = True
        pitch = sample_index(pitch_logits, self.rng, p.temperature, p.top_k, p.top_p, allowed)
        if pitch == codec.REST:
            token = np.array([shift, pitch, 0, 0], np.int64)
        else:
            duration = sample_index(duration_logits, self.rng, p.temperature, p.top_k, p.top_p, self._nonzero[0])
            velocity = sample_index(velocity_logits, self.rng, p.temperature, p.top_k, p.top_p, self._nonzero[1])
            token = np.array([shift, pitch, duration, velocity], np.int64)
        self.observe(token)
        return token

    def advance(self, token: np.ndarray) -> int:
        """Ticks ``token`` moves time by."""
        return int(token[0]) if int(token[1]) != self.codec.BOS else 0


class ChordSampler:
    """Samples ``chord/1`` tokens (chord, duration) with the same knobs, approximately.

    Temperature, top-k and top-p apply to both heads. Masks become penalties on the chord
    logits: :data:`CHORD_PENALTY` nats per distinct out-of-scale pitch class, per pitch out of
    range and per pitch over ``max_polyphony``; the rest chord (index 0) is never penalised.
    The repetition guard forbids the (chord, duration) pair that would repeat a pattern more
    than ``max_repeats`` times. ``density`` biases the duration head like the shift head.
    """

    def __init__(self, codec: ChordCodec, params: SamplingParams,
                 rng: np.random.Generator | int | None = None) -> None:
        self.codec = codec
        self.params = params
        self.rng = _rng(rng)
        self.now = 0  # ticks: end of the last observed segment
        self._history: deque[tuple[int, int]] = deque(maxlen=MAX_PATTERN_EVENTS * max(1, params.max_repeats))
        vocab = codec.vocabulary
        penalty = np.zeros(len(vocab.chords), np.float64)
        for i, chord in enumerate(vocab.chords):
            pitches = {q % 128 for q in chord}  # struck and held alike
            out_of_scale = {q % 12 for q in pitches if not params.in_scale(q % 12)}
            out_of_range = [q for q in pitches if not (params.pitch_low <= q <= params.pitch_high)]
            over = max(0, len(pitches) - params.max_polyphony) if params.max_polyphony else 0
            penalty[i] = -CHORD_PENALTY * (len(out_of_scale) + len(out_of_range) + over)
        penalty[0] = 0.0
        self._chord_bias = penalty
        self._durations = np.array(vocab.durations, np.float64)
        self._duration_bias: np.ndarray | None = None
        if params.density != 1.0:
            self._duration_bias = -math.log(params.density) * self._durations / codec.grid.ticks_per_beat

    def observe(self, token: np.ndarray) -> None:
        """Account for a token the model was fed."""
        chord, duration = int(token[0]), int(token[1])
        self.now += int(self.codec.vocabulary.durations[duration])
        self._history.append((chord, duration))

    def sample(self, logits: Sequence[np.ndarray]) -> np.ndarray:
        """The next token ``(2,)`` int64 from (chord logits, duration logits)."""
        p = self.params
        chord_logits, duration_logits = (np.asarray(x).reshape(-1) for x in logits)
        bias = self._chord_bias.copy()
        chord = sample_index(chord_logits, self.rng, p.temperature, p.top_k, p.top_p, None, bias)
        allowed = np.ones(duration_logits.shape[0], bool)
        for _, duration in _repeat_forbidden(self._history, (chord,), p.max_repeats):
            allowed[duration] = False
        duration = sample_index(duration_logits, self.rng, p.temperature, p.top_k, p.top_p, allowed,
                                self._duration_bias)
        token = np.array([chord, duration], np.int64)
        self.observe(token)
        return token

    def advance(self, token: np.ndarray) -> int:
        """Ticks ``token`` moves time by."""
        return int(self.codec.vocabulary.durations[int(token[1])])


Sampler = EventSampler | ChordSampler


def make_sampler(codec: NoteEventCodec | ChordCodec, params: SamplingParams,
                 rng: np.random.Generator | int | None = None) -> Sampler:
    """The sampler for ``codec``'s token kind, drawing from ``rng`` (a Generator or a seed)."""
    if isinstance(codec, NoteEventCodec):
        return EventSampler(codec, params, rng)
    if isinstance(codec, ChordCodec):
        return ChordSampler(codec, params, rng)
    raise SamplingError(f"no token sampler for the {type(codec).__name__} representation")


def sample_event(logits: Sequence[np.ndarray], codec: NoteEventCodec | ChordCodec,
                 params: SamplingParams | None = None,
                 rng: np.random.Generator | int | None = None) -> np.ndarray:
    """One token from one step's logits, without context (no polyphony or repetition history).

    For a run of tokens keep a sampler from :func:`make_sampler` instead, so the polyphony
    and repetition rules see what came before.
    """
    return make_sampler(codec, params or SamplingParams(), rng).sample(logits)
