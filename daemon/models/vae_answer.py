"""A phrase VAE's answer to a phrase: the phrase encoded to its code, an answer decoded near it.

When a phrase ends, its last two bars (:func:`daemon.music.phrases.last_phrase`) are encoded to
their code (the encoder's mean). The answer is decoded from ``slerp(previous, current, morph)``:
the previous phrase's code at ``morph`` 0, this phrase's at 1 (the live parameter ``morph``,
carried by :class:`~daemon.music.sampling.SamplingParams`). The first phrase has no previous code
and is answered from its own. A phrase the VAE cannot read (fewer than two pitched notes, drums
only, nothing) is answered from the previous code, or, before any, from a draw of the prior;
it is counted in :attr:`VaeContinuator.fallbacks`.

The code decoded is then moved along the file's attribute vectors (``antiphon.attributes``) by
the amounts :attr:`SamplingParams.attributes` carries (the live parameters
``attribute_density``, ``attribute_register``, ...): ``z + amount * vector`` for each, the
vector of the phrase's tonic (its key estimate) where the file has one per tonic (major/minor). An
attribute the file does not carry is left out, with a warning naming those it has (once, until
the attributes asked for change; also handed to :attr:`VaeContinuator.warn`, which the daemon
sends as ``/antiphon/error``); the answer is not moved along it.

Session memory (live parameter ``memory``, 0-1): every phrase's own code is kept once the next
phrase begins (the last :data:`MEMORY_PHRASES`; ``/antiphon/forget`` clears them; a phrase
answered from a fallback adds none), and the code an answer is decoded from, after the morph and
before the attribute moves, is moved toward the mean of those and this phrase's by ``memory``:
``z + memory * (mean - z)``. The answers lean toward what the player has played this session;
measured on test tunes as the other models' memories are (``antiphon train vae-memory-eval``).

A move along ``major`` changes the mode the answer is decoded in, so a key mask of the phrase's
major or natural minor scale (the ``auto`` key, or a key set) would undo it: while the answer is
moved along ``major``, such a mask lets both modes on its tonic through
(:func:`both_modes`: only the minor second and the tritone stay out), and the move, not the mask,
decides between the major and the minor third, sixth and seventh.

The decoder writes two 4/4 bars at a time; a longer answer decodes the same code again (each
pass sampled afresh). Notes keep their place from the answer's first bar line.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from daemon.errors import ModelError, RepresentationError
from daemon.models.phrase_buffer import PhraseBuffer
from daemon.models.vae import VaeModel, slerp
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.keys import estimate_key
from daemon.music.notes import Note
from daemon.music.phrases import MIN_PHRASE_NOTES, last_phrase
from daemon.music.sampling import SamplingParams
from daemon.music.scales import SCALES

log = logging.getLogger(__name__)

DECODE_TRIES = 3  # a pass that decodes no note is sampled again, this many times at most
MEMORY_PHRASES = 256  # phrase codes the session memory keeps (the newest)


def both_modes(params: SamplingParams) -> SamplingParams:
    """``params`` with a major or natural minor scale mask widened to both modes on its tonic
    (anything else, or no mask, unchanged)."""
    if params.key_root is None or params.scale not in (SCALES["major"], SCALES["minor"]):
        return params
    return replace(params, scale=tuple(sorted({*SCALES["major"], *SCALES["minor"]})))


class VaeContinuator(PhraseBuffer):
    """The VAE as :class:`daemon.live.respond.Responder` uses a continuator: notes fed as they are
    played (model ticks, from ``origin``, a bar line), an answer asked for when the phrase ends.

    The phrase is encoded when the answer is asked for (:meth:`answer_steps`); the answer is
    decoded whole on the iterator's first step. A new phrase (:meth:`reset`) makes the code of the
    one before it the previous code.

    Attributes:
        previous: the previous phrase's code, or None before the second phrase.
        current: the code of the phrase being answered, or None before it is encoded.
        fallbacks: answers prepared without a code of their own (also while a phrase is played: the
            engine prepares an answer at every silence, which may follow its first note alone).
        read: notes of the phrase the last encoding read (its last two bars, pitched notes).
        encode_s: seconds the last encoding took; decode_s: the last answer's decoding.
        missing: the attributes the last answer was asked to move along that the file lacks.
        warn: ``(attribute, message)`` called with each warning about a missing attribute (None: logged only).
        tonic: the tonic (pitch class) of the key estimate of the phrase last encoded, or None.

    Not thread-safe: the engine thread is its only caller.
    """

    def __init__(self, model: VaeModel, origin: int = 0, channel: int = 0) -> None:
        self.model = model
        self.channel = channel
        self.previous: np.ndarray | None = None
        self.current: np.ndarray | None = None
        self.fallbacks = 0
        self.read = 0
        self.encode_s = 0.0
        self.decode_s = 0.0
        self.missing: tuple[str, ...] = ()
        self.warn: Callable[[str, str], None] | None = None
        self.tonic: int | None = None
        self.session: deque[np.ndarray] = deque(maxlen=MEMORY_PHRASES)  # the codes of the phrases before this one
        self._own = False  # :attr:`current` is the phrase's own code
        self.reset(origin)

    def forget(self) -> None:
        """Forget the session's phrase codes (the phrase being fed stays)."""
        self.session.clear()

    def reset(self, origin: int = 0) -> None:
        """A new phrase from bar line ``origin``; the last phrase's code becomes the previous one."""
        if self.current is not None:
            self.previous = self.current
            if self._own:  # the phrase's own code joins the session's (a fallback's does not)
                self.session.append(self.current)
        self.current = None
        super().reset(origin)

    def phrase(self, grid: Grid) -> list[Note]:
        """The notes the VAE reads: the pitched notes of the phrase's last two bars, from tick 0."""
        pitched = [Note(n.start - self.origin, n.pitch, n.duration, n.velocity, n.channel)
                   for n in self.notes if n.channel != DRUM_CHANNEL]
        return last_phrase(pitched, grid.ticks_per_bar, self.model.phrase_ticks)[1]

    def encode_phrase(self, grid: Grid, rng: np.random.Generator) -> np.ndarray:
        """This phrase's code (kept as :attr:`current`), or the fallback (see the module docstring)."""
        phrase = self.phrase(grid)
        self.read = len(phrase)
        code: np.ndarray | None = None
        self.encode_s = 0.0
        key = estimate_key(phrase) if len(phrase) >= MIN_PHRASE_NOTES else None
        self.tonic = None if key is None else key.root
        if len(phrase) >= MIN_PHRASE_NOTES:
            began = time.perf_counter()
            try:
                code = self.model.encode(phrase)[0]
            except ModelError as exc:
                log.warning("the VAE cannot read the phrase: %s", exc)
            self.encode_s = time.perf_counter() - began
        self._own = code is not None
        if code is None:
            self.fallbacks += 1
            code = self.previous if self.previous is not None else self.model.prior(rng)[0]
            log.debug("a phrase of %d pitched notes has no code of its own: answering from %s", len(phrase),
                      "the previous phrase" if self.previous is not None else "a draw of the prior")
        self.current = np.asarray(code, np.float32)
        return self.current

    def answer_steps(self, length: int, params: SamplingParams | None = None,
                     seed: int | np.random.Generator | None = None, channel: int | None = None,
                     grid: Grid | None = None) -> Iterator[list[Note]]:
        """The answer, ``length`` ticks from the bar line it starts on (see the class docstring).

        Raises:
            RepresentationError: ``length`` < 1.
        """
        if length < 1:
            raise RepresentationError(f"an answer lasts at least one tick, not {length}")
        params = params or SamplingParams()
        grid = grid or self.model.codec.grid
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        code = self.encode_phrase(grid, rng)
        if self.previous is None:
            z, source = code, "this phrase's code"
        else:
            z = slerp(self.previous, code, params.morph).astype(np.float32)
            source = f"morph {params.morph:.2f} between the previous phrase's code and this one's"
        if params.memory > 0.0 and self.session:
            played = [*self.session, *([code] if self._own else [])]
            z = (z + np.float32(params.memory) * (np.mean(played, axis=0) - z)).astype(np.float32)
            source += f", memory {params.memory:.2f} toward the mean of {len(played)} phrase codes"
        z, moved = self.move(z, params.attributes)
        if moved:
            source += f", moved by {moved}"
        if any(name == "major" and amount for name, amount in params.attributes) and "major" not in self.missing:
            params = both_modes(params)
        return self._steps(z, source, length, params, rng, self.channel if channel is None else channel)

    def move(self, z: np.ndarray, attributes: tuple[tuple[str, float], ...]) -> tuple[np.ndarray, str]:
        """``z`` moved by ``amount`` times each attribute vector the file carries, and the moves made
        in words ("" when none); an attribute it lacks is skipped (see the module docstring)."""
        moved = np.asarray(z, np.float32)
        missing: list[str] = []
        words: list[str] = []
        for name, amount in attributes:
            if not amount:
                continue
            try:
                moved = moved + np.float32(amount) * self.model.attribute(name, self.tonic)
            except ModelError as exc:
                if name not in self.missing:
                    log.warning("%s: the answer is not moved along it", exc)
                    if self.warn is not None:
                        self.warn(name, f"{exc}: the answer is not moved along it")
                missing.append(name)
                continue
            words.append(f"{name} {amount:+.2f}")
        self.missing = tuple(missing)
        return moved.astype(np.float32), ", ".join(words)

    def _steps(self, z: np.ndarray, source: str, length: int, params: SamplingParams, rng: np.random.Generator,
               channel: int) -> Iterator[list[Note]]:
        began = time.perf_counter()
        span = self.model.phrase_ticks
        notes: list[Note] = []
        for offset in range(0, length, span):
            for _ in range(DECODE_TRIES):
                part = self.model.decode(z, params, rng, channel)
                if part:
                    break
            notes.extend(Note(offset + n.start, n.pitch, min(n.duration, length - offset - n.start), n.velocity,
                              n.channel) for n in part if offset + n.start < length)
        self.decode_s = time.perf_counter() - began
        log.info("VAE answer to a phrase of %d notes, from %s: %d notes (encoding %.1f ms, decoding %.1f ms)",
                 self.read, source, len(notes), 1000 * self.encode_s, 1000 * self.decode_s)
        yield notes
