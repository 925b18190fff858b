"""The ABC character LSTM, run with onnxruntime: whole tunes from a header, or a tune continued.

The file is the step graph of ``export/abc.py`` (``kind = "abc"``, representation
``abc-text/1``): one character in, the next character's logits and the state out. Sampling is
:func:`daemon.music.sampling.sample_index` (temperature, top-p) on those logits, with a seeded
generator. While a repeat is open (``|:`` without its ``:|``) the end mark is not drawn, nor a
second ``|:``: ``abc2midi`` refuses both. A sampled tune that :func:`daemon.music.abc.parse_tune` cannot read is sampled again,
a bounded number of times, and the tries are counted; a tune is never returned half-read.

This module never imports torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from daemon.errors import ModelError
from daemon.models.onnx_file import ModelInfo, open_session
from daemon.models.session_memory import Recall
from daemon.music.abc import AbcError, ParsedTune, parse_tune
from daemon.music.abc_text import is_field_line
from daemon.music.grid import Grid
from daemon.music.sampling import SamplingError, check_temperature, sample_index

log = logging.getLogger(__name__)
ABC_INPUTS = ("token", "h", "c")
ABC_OUTPUTS = ("logits", "h_out", "c_out")
REPRESENTATION = "abc-text"
REPRESENTATION_VERSION = 1
MAX_TUNE_CHARS = 1500  # a tune that has not ended by then is cut and retried (the longest training tune: ~1,400)
DEFAULT_RETRIES = 10
NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
_REPEAT_SIGN = re.compile(r":\|:|\|:|:\||::")


TICKS_PER_BEAT = 12  # the grid an ABC answer is placed on in the live daemon


@dataclass(frozen=True)
class AbcTextCodec:
    """What the live daemon asks of a model's representation: its name and its grid."""

    grid: Grid = field(default_factory=lambda: Grid(TICKS_PER_BEAT))
    NAME: str = REPRESENTATION
    VERSION: int = REPRESENTATION_VERSION


class AbcState(NamedTuple):
    """Recurrent state, each ``(num_layers, 1, hidden_size)`` float32."""

    h: np.ndarray
    c: np.ndarray


@dataclass(frozen=True)
class AbcSampling:
    """How tunes are sampled.

    Attributes:
        temperature: divides the logits (0.05-5; lower is safer and plainer).
        top_p: nucleus mass kept (0.01-1; 1 keeps every character).
        max_chars: characters sampled at most per try.
        retries: further tries after a tune that does not parse (0 = one try only).
    """

    temperature: float = 0.8
    top_p: float = 0.95
    max_chars: int = MAX_TUNE_CHARS
    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        if not 0.01 <= self.top_p <= 1.0:
            raise SamplingError(f"top_p must be within 0.01-1, got {self.top_p}")
        if self.max_chars < 1 or self.retries < 0:
            raise SamplingError("max_chars must be at least 1 and retries at least 0")


@dataclass(frozen=True)
class GeneratedTune:
    """A sampled tune that parses.

    Attributes:
        text: the prompt and its continuation, in the model's normal form.
        parsed: the tune read back.
        retries: tries thrown away before this one (each did not parse).
        failures: the reason of each thrown-away try.
    """

    text: str
    parsed: ParsedTune
    retries: int
    failures: tuple[str, ...] = ()


class AbcModel:
    """An exported ABC step graph.

    Not thread-safe: one thread owns a model.
    """

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self.session = session
        self.info = info
        rep = info.representation
        if rep.get("name") != REPRESENTATION or rep.get("version") != REPRESENTATION_VERSION:
            raise ModelError(f"{info.path}: representation {rep.get('name')}/{rep.get('version')} is not "
                             f"{REPRESENTATION}/{REPRESENTATION_VERSION}; upgrade Antiphon or re-export the model")
        try:
            self.vocabulary: str = str(rep["vocabulary"])
            self.bos, self.eos = str(rep["bos"]), str(rep["eos"])
            self._bos, self._eos = self.vocabulary.index(self.bos), self.vocabulary.index(self.eos)
        except (KeyError, ValueError) as exc:
            raise ModelError(f"{info.path}: the vocabulary metadata is incomplete ({exc}); re-export it") from exc
        self.index = {ch: i for i, ch in enumerate(self.vocabulary)}
        self.conventions: Mapping[str, Mapping[str, int]] = {
            k: dict(rep.get(k, {})) for k in ("meters", "keys", "rhythms", "lengths")}
        inputs = session.get_inputs()
        if tuple(i.name for i in inputs) != ABC_INPUTS:
            raise ModelError(f"{info.path}: inputs are {[i.name for i in inputs]}, expected {list(ABC_INPUTS)}")
        self.num_layers, self.hidden_size = int(inputs[1].shape[0]), int(inputs[1].shape[2])
        self._token = np.zeros((1,), np.int64)
        self._feed: dict[str, np.ndarray] = {"token": self._token}
        self._run: Callable[..., list[np.ndarray]] = session.run
        self.codec = AbcTextCodec()
        self._not_eos = np.ones(len(self.vocabulary), bool)
        self._not_eos[self._eos] = False
        self._colon = self.index.get(":", -1)
        self._not_colon = np.ones(len(self.vocabulary), bool)
        if self._colon >= 0:
            self._not_colon[self._colon] = False

    @property
    def kind(self) -> str:
        return "abc"

    def initial_state(self) -> AbcState:
        shape = (self.num_layers, 1, self.hidden_size)
        return AbcState(np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def step(self, token: int, state: AbcState) -> tuple[np.ndarray, AbcState]:
        """One character index in; the next character's logits ``(V,)`` and the new state out."""
        if not 0 <= token < len(self.vocabulary):
            raise ModelError(f"character index {token} is outside the vocabulary of {len(self.vocabulary)}")
        self._token[0] = token
        feed = self._feed
        feed["h"], feed["c"] = state.h, state.c
        logits, h, c = self._run(list(ABC_OUTPUTS), feed)
        return logits[0], AbcState(h, c)

    def check_text(self, text: str) -> None:
        """Raise :class:`AbcError` naming the first character the model never saw."""
        for number, line in enumerate(text.splitlines(), start=1):
            for ch in line:
                if ch not in self.index:
                    raise AbcError(f"line {number} uses {ch!r}, a character the model never saw in its tunes")

    def prime(self, prompt: str) -> tuple[np.ndarray, AbcState]:
        """Feed the start character and ``prompt``; the logits after them and the state."""
        self.check_text(prompt)
        logits, state = self.step(self._bos, self.initial_state())
        for ch in prompt:
            logits, state = self.step(self.index[ch], state)
        return logits, state

    def sample_text(self, prompt: str, sampling: AbcSampling, rng: np.random.Generator,
                    bars: int | None = None, recall: Recall | None = None) -> tuple[str, bool]:
        """``prompt``'s continuation (without it), and whether it is complete: the model ended
        the tune, or (with ``bars``) that many bar lines were written. With ``recall`` (a session
        memory of text, its context at the prompt's end) each character is drawn from the model's
        distribution mixed with the memory's, and moves the memory's context."""
        logits, state = self.prime(prompt)
        out: list[str] = []
        bar_lines = 0
        for _ in range(sampling.max_chars):
            if recall is not None:
                logits = recall.mix([logits])[0]
            token = sample_index(logits, rng, temperature=sampling.temperature, top_p=sampling.top_p)
            if (token == self._eos or (token == self._colon and out and out[-1] == "|")) and \
                    repeat_open(prompt + "".join(out)):
                allowed = self._not_eos if token == self._eos else self._not_colon
                token = sample_index(logits, rng, temperature=sampling.temperature, top_p=sampling.top_p,
                                     allowed=allowed)
            if token == self._eos:
                return "".join(out), True
            if recall is not None:
                recall.push((token,))
            if token != self._bos:
                char = self.vocabulary[token]
                if bars is not None and char == "|" and (not out or out[-1] not in "|:"):
                    bar_lines += 1
                    if bar_lines >= bars:
                        out.append(char)
                        return "".join(out), True
                out.append(char)
            logits, state = self.step(token, state)
        return "".join(out), False

    def generate(self, prompt: str, sampling: AbcSampling | None = None,
                 seed: int | np.random.Generator | None = None) -> GeneratedTune:
        """A tune that starts with ``prompt`` (a header, or a header and some bars) and parses.

        Raises:
            AbcError: no try of ``1 + sampling.retries`` gave a tune that parses.
        """
        sampling = sampling or AbcSampling()
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        failures: list[str] = []
        for _ in range(sampling.retries + 1):
            continuation, ended = self.sample_text(prompt, sampling, rng)
            text = prompt + continuation
            if not ended:
                failures.append(f"no end after {sampling.max_chars} characters")
                continue
            if _has_body(prompt) and not any(ch in NOTE_LETTERS for ch in continuation):
                failures.append("the tune ended without a note more")
                continue
            try:
                parsed = parse_tune(text)
            except AbcError as exc:
                failures.append(str(exc))
                continue
            return GeneratedTune(text, parsed, len(failures), tuple(failures))
        raise AbcError(f"no tune that parses in {len(failures)} tries (last: {failures[-1]}); "
                       "lower the temperature or allow more retries")

    def seen(self, field: str, value: str) -> bool:
        """Whether the training tunes used this header value (``field``: meters, keys, rhythms, lengths)."""
        return value in self.conventions.get(field, {})

    def describe(self) -> dict[str, Any]:
        return {"vocabulary": len(self.vocabulary), "layers": self.num_layers, "hidden": self.hidden_size}

    def __repr__(self) -> str:
        return f"AbcModel({self.info.path.name!r}, {self.num_layers}x{self.hidden_size}, {len(self.vocabulary)} chars)"


def repeat_open(text: str) -> bool:
    """Whether the text's last repeat sign opens a repeat (``|:``, ``::``, ``:|:``) not yet closed by ``:|``."""
    sign = None
    for sign in _REPEAT_SIGN.findall(text):
        pass
    return sign is not None and sign != ":|"


def _has_body(prompt: str) -> bool:
    return any(ch in NOTE_LETTERS for line in prompt.splitlines() if not is_field_line(line) for ch in line)


def load_abc(path: str | Path, intra_op_num_threads: int = 1, inter_op_num_threads: int = 1) -> AbcModel:
    """Open an ABC step graph, refusing any other kind of model file.

    Raises:
        ModelError: as :func:`daemon.models.loader.load_model`, or the file holds another kind.
    """
    session, info = open_session(path, intra_op_num_threads, inter_op_num_threads)
    if info.kind != "abc":
        raise ModelError(f"{info.path} is a {info.kind!r} model; ABC tunes need an ABC model (presets/folk-abc.onnx)")
    model = AbcModel(session, info)
    log.info("loaded %r", model)
    return model
