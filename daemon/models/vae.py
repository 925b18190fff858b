"""The phrase VAE runner: encode a 2-bar phrase to a latent code, decode a code to a phrase.

A VAE is two ONNX files side by side (``export/vae.py`` writes both):

* the decoder step graph (``antiphon.kind = "vae"``; the file a command is given):
  ``z (B, Z), token (B, 4), h, c (L, B, H), start (B, 1) -> logits_<field> (B, V_f), h_out, c_out``;
  with ``start`` 1 the graph ignores ``h`` and ``c`` and starts from the state ``z`` sets;
* the encoder graph (``antiphon.kind = "vae-encoder"``), named by the decoder file's
  ``antiphon.encoder`` metadata: ``tokens (1, T, 4) -> mu, logvar (1, Z)``.

Decoding follows :mod:`daemon.music.phrases`: BOS first, one event per step, stop at the end
event, at the phrase's end or after :data:`~daemon.music.phrases.MAX_PHRASE_EVENTS` events.
Each field is the argmax (``params=None``) or drawn with :func:`daemon.music.sampling.sample_index`
(temperature, top-k, top-p; the pitch field masked to ``params``' range and scale).

This module never imports torch, ``training`` or ``export``. Not thread-safe: one owner.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from daemon.errors import AntiphonError, ModelError
from daemon.models.onnx_file import ModelInfo, open_session
from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec
from daemon.music.notes import Note
from daemon.music.phrases import END_PITCH, MAX_PHRASE_EVENTS, phrase_tokens, tokens_to_phrase
from daemon.music.sampling import SamplingParams, sample_index

log = logging.getLogger(__name__)

KIND = "vae"
ENCODER_KIND = "vae-encoder"
ENCODER_INPUTS = ("tokens",)
ENCODER_OUTPUTS = ("mu", "logvar")
DECODER_INPUTS = ("z", "token", "h", "c", "start")
STATE_OUTPUTS = ("h_out", "c_out")
TONICS = 12  # an attribute by tonic has one direction per pitch class C..B


def decoder_outputs(fields: Sequence[str]) -> tuple[str, ...]:
    """Output names of the decoder step graph, logits per field then the state."""
    return (*(f"logits_{f}" for f in fields), *STATE_OUTPUTS)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from code ``a`` (t = 0) to ``b`` (t = 1); linear when they are
    parallel or one is zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return (1 - t) * a + t * b
    omega = float(np.arccos(np.clip(np.dot(a / na, b / nb), -1.0, 1.0)))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


class VaeModel:
    """An exported phrase VAE: :meth:`encode`, :meth:`decode`, :meth:`prior`.

    Attributes:
        codec: ``note-events/1`` as trained.
        latent: size of a code.
        phrase_ticks: length of a phrase in ticks (two 4/4 bars).
        attributes: attribute name -> ``(Z,)`` direction in the latent space (may be empty).
        attributes_by_tonic: attribute name -> ``(12, Z)``: one direction per tonic C..B, for the
            attributes whose direction depends on the key (major/minor); may be empty.
    """

    def __init__(self, session: ort.InferenceSession, info: ModelInfo, encoder: ort.InferenceSession | None = None) -> None:
        self.session = session
        self.info = info
        try:
            codec = codec_from_dict(info.representation)
        except AntiphonError as exc:
            raise ModelError(f"{info.path}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{info.path}: representation metadata is incomplete ({exc!r}); re-export it") from exc
        if not isinstance(codec, NoteEventCodec):
            raise ModelError(f"{info.path}: a phrase VAE reads note-events, not {codec.NAME!r}")
        self.codec = codec
        self.fields = tuple(codec.FIELDS)
        self.vocab_sizes = tuple(int(v) for v in codec.vocab_sizes)
        self._outputs = list(decoder_outputs(self.fields))
        names = [i.name for i in session.get_inputs()]
        if tuple(names) != DECODER_INPUTS:
            raise ModelError(f"{info.path}: VAE decoder inputs are {names}, expected {list(DECODER_INPUTS)}; re-export it")
        phrase = info.extra.get("phrase", {})
        try:
            self.latent = int(info.model_config["latent"])
            self.layers = int(info.model_config["decoder_layers"])
            self.hidden = int(info.model_config["decoder_hidden"])
            self.phrase_ticks = int(phrase["ticks"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{info.path}: VAE metadata lacks {exc}; re-export it") from exc
        try:
            self.attributes: dict[str, np.ndarray] = {
                name: np.asarray(vector, np.float32).reshape(self.latent)
                for name, vector in dict(info.extra.get("attributes", {})).items()}
            self.attributes_by_tonic: dict[str, np.ndarray] = {
                name: np.asarray(rows, np.float32).reshape(TONICS, self.latent)
                for name, rows in dict(info.extra.get("attributes_by_tonic", {})).items()}
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{info.path}: attribute vectors of the wrong shape ({exc}); re-export it") from exc
        self.encoder = encoder if encoder is not None else self._open_encoder()

    def _open_encoder(self) -> ort.InferenceSession:
        name = self.info.extra.get("encoder")
        if not isinstance(name, str):
            raise ModelError(f"{self.info.path}: no antiphon.encoder metadata naming the encoder file; re-export it")
        options = self.session.get_session_options()
        path = self.info.path.parent / name
        session, info = open_session(path, options.intra_op_num_threads, options.inter_op_num_threads)
        if info.kind != ENCODER_KIND:
            raise ModelError(f"{path} is a {info.kind!r} file, not the VAE encoder; re-export the VAE")
        if [o.name for o in session.get_outputs()][:2] != list(ENCODER_OUTPUTS):
            raise ModelError(f"{path}: encoder outputs are not {list(ENCODER_OUTPUTS)}; re-export the VAE")
        return session

    @property
    def kind(self) -> str:
        return KIND

    # ---- encoding ---------------------------------------------------------------------------

    def encode_tokens(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(T, 4)`` phrase tokens (no end event) -> ``mu, logvar`` each ``(Z,)``."""
        tokens = np.ascontiguousarray(tokens, np.int64).reshape(1, -1, 4)
        if tokens.shape[1] == 0:
            raise ModelError("an empty phrase has no code")
        if (tokens < 0).any() or (tokens >= np.array(self.vocab_sizes)).any():
            raise ModelError(f"a phrase token lies outside the vocabulary sizes {self.vocab_sizes}")
        mu, logvar = self.encoder.run(list(ENCODER_OUTPUTS), {"tokens": tokens})
        return mu[0], logvar[0]

    def encode(self, notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
        """A phrase (notes from tick 0, see :func:`daemon.music.phrases.cut_phrase`) -> ``mu, logvar``.

        A phrase of more than :data:`MAX_PHRASE_EVENTS` events keeps its first ones (logged).
        """
        tokens = phrase_tokens(self.codec, notes)[:-1]
        if len(tokens) > MAX_PHRASE_EVENTS:
            log.warning("the phrase has %d events; the VAE reads its first %d", len(tokens), MAX_PHRASE_EVENTS)
            tokens = tokens[:MAX_PHRASE_EVENTS]
        return self.encode_tokens(tokens)

    # ---- decoding ---------------------------------------------------------------------------

    def prior(self, rng: np.random.Generator, count: int = 1) -> np.ndarray:
        """``(count, Z)`` codes drawn from the prior N(0, I)."""
        return rng.standard_normal((count, self.latent)).astype(np.float32)

    def decode_tokens(self, z: np.ndarray, params: SamplingParams | None = None,
                      rng: np.random.Generator | None = None) -> np.ndarray:
        """Decode one code ``(Z,)`` into ``(N, 4)`` tokens (end event excluded).

        Args:
            z: the code.
            params: None for greedy (argmax) decoding, else how to sample each field.
            rng: the generator draws come from (needed when ``params`` is given).
        """
        z = np.asarray(z, np.float32).reshape(1, self.latent)
        if params is not None and rng is None:
            rng = np.random.default_rng()
        allowed_pitch = None
        if params is not None:
            allowed_pitch = np.ones(self.vocab_sizes[1], bool)
            allowed_pitch[:128] = params.allowed_pitches()
        h, c = self.initial_decoder_state()
        previous: np.ndarray = self.codec.bos()
        rows: list[list[int]] = []
        onset = 0
        for step in range(MAX_PHRASE_EVENTS):
            field_logits, h, c = self.decoder_step(z, previous, h, c, first=step == 0)
            token = []
            for f, logits in enumerate(field_logits):
                if params is None or rng is None:
                    token.append(int(np.argmax(logits)))
                else:
                    token.append(sample_index(logits, rng, params.temperature, params.top_k, params.top_p,
                                              allowed=allowed_pitch if f == 1 else None))
            if token[1] == END_PITCH:
                break
            onset += token[0]
            if onset >= self.phrase_ticks:
                break
            rows.append(token)
            previous = np.array(token, np.int64)
        return np.array(rows, np.int64).reshape(-1, 4)

    def decoder_step(self, z: np.ndarray, token: np.ndarray, h: np.ndarray, c: np.ndarray,
                     first: bool) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """One decoder step from code ``z``: each field's logits ``(V_f,)`` after ``token`` (``(4,)``;
        the BOS event with ``first``), and the new state ``h, c``."""
        feed = {"z": np.asarray(z, np.float32).reshape(1, self.latent), "token": np.asarray(token, np.int64).reshape(1, 4),
                "h": h, "c": c, "start": np.full((1, 1), float(first), np.float32)}
        out = self.session.run(self._outputs, feed)
        n = len(self.fields)
        return [o[0] for o in out[:n]], out[n], out[n + 1]

    def initial_decoder_state(self) -> tuple[np.ndarray, np.ndarray]:
        """The decoder state a phrase starts from (the code sets it inside the graph)."""
        state = np.zeros((self.layers, 1, self.hidden), np.float32)
        return state, state

    def decode(self, z: np.ndarray, params: SamplingParams | None = None, rng: np.random.Generator | None = None,
               channel: int = 0) -> list[Note]:
        """:meth:`decode_tokens` as notes from tick 0, cut at the phrase's end."""
        return tokens_to_phrase(self.codec, self.decode_tokens(z, params, rng), self.phrase_ticks, channel)

    def attribute(self, name: str, tonic: int | None = None) -> np.ndarray:
        """The latent direction of attribute ``name``: for a phrase on ``tonic`` (pitch class 0-11)
        its direction on that tonic when the file has one (:attr:`attributes_by_tonic`), else the one
        direction of :attr:`attributes`.

        Raises:
            ModelError: the file carries no such attribute (the message lists those it has).
        """
        if tonic is not None and name in self.attributes_by_tonic:
            return self.attributes_by_tonic[name][tonic % TONICS]
        if name not in self.attributes:
            have = ", ".join(sorted(self.attributes)) or "none"
            raise ModelError(f"{self.info.path.name} carries no attribute {name!r} (it has: {have})")
        return self.attributes[name]

    def __repr__(self) -> str:
        return f"VaeModel({self.info.path.name!r}, latent {self.latent}, {self.layers}x{self.hidden})"


def load_vae(path: str | Path, intra_op_num_threads: int = 1, inter_op_num_threads: int = 1) -> VaeModel:
    """Open a VAE's decoder file (and the encoder it names).

    Raises:
        ModelError: a missing or unreadable file, or a file of another kind.
    """
    session, info = open_session(path, intra_op_num_threads, inter_op_num_threads)
    if info.kind != KIND:
        hint = " (give the decoder file, not the encoder)" if info.kind == ENCODER_KIND else ""
        raise ModelError(f"{info.path} is a {info.kind!r} model, not a phrase VAE{hint}")
    model = VaeModel(session, info)
    log.info("loaded %r", model)
    return model

