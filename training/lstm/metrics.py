"""Evaluation figures in numpy: token likelihoods, n-gram baselines and musical statistics.

* Token scores: negative log-likelihood in bits, perplexity and top-k accuracy per field of a
  tokenised sequence, from any model that gives a log-probability per class (the LSTM and the
  baselines here go through the same code, so the figures are comparable).
* Baselines fitted on the training split: a unigram and a Witten-Bell interpolated bigram per
  field (each field conditioned on the same field of the previous event).
* Musical statistics of a list of notes, in the spirit of MusPy's metrics (re-implemented here):
  Krumhansl-Schmuckler key, pitch-class entropy, scale consistency, groove consistency,
  polyphony.

No torch here, and no plotting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from daemon.music import keys as daemon_keys
from daemon.music.notes import Note

PAD = -100  # ignored target (see training.lstm.data.PAD)
LN2 = float(np.log(2.0))

# --------------------------------------------------------------------------------------------
# Token scores
# --------------------------------------------------------------------------------------------


@dataclass
class TokenScores:
    """Per-target scores of one model on a set of token sequences.

    Attributes:
        fields: field names, in token order.
        nll_bits: ``(N, F)`` negative log2-likelihood of each target field; 0 where ignored.
        top1: ``(N, F)`` bool, the target is the most likely class.
        top5: ``(N, F)`` bool, the target is among the five most likely classes.
        valid: ``(N, F)`` bool, the field is a target (not padding, not a "none" field).
        is_note: ``(N,)`` bool, the target event is a note (not a REST).
    """

    fields: tuple[str, ...]
    nll_bits: np.ndarray
    top1: np.ndarray
    top5: np.ndarray
    valid: np.ndarray
    is_note: np.ndarray

    @classmethod
    def concatenate(cls, parts: Sequence[TokenScores]) -> TokenScores:
        if not parts:
            raise ValueError("no scores to concatenate")
        return cls(parts[0].fields, *(np.concatenate([getattr(p, name) for p in parts])
                                      for name in ("nll_bits", "top1", "top5", "valid", "is_note")))

    def summary(self) -> dict[str, float]:
        """Headline figures.

        ``bits_per_note`` is the total information of every predicted event -- notes and
        REST events alike, each with the fields it has -- divided by the number of note events:
        what it costs, in bits, to code the music one note at a time. ``perplexity`` is
        ``2 ** bits_per_note``. Per field: ``{field}_bits`` (that field's share of
        ``bits_per_note``), ``{field}_perplexity`` (``2 ** `` mean bits over that field's
        targets), ``{field}_top1`` and ``{field}_top5`` (accuracy over that field's targets).
        """
        n_notes = max(1, int(self.is_note.sum()))
        total = float(self.nll_bits[self.valid].sum())
        out: dict[str, float] = {
            "events": float(len(self.is_note)),
            "notes": float(self.is_note.sum()),
            "bits_per_note": total / n_notes,
            "bits_per_event": total / max(1, len(self.is_note)),
            "perplexity": float(2.0 ** (total / n_notes)),
        }
        for f, name in enumerate(self.fields):
            valid = self.valid[:, f]
            n = max(1, int(valid.sum()))
            bits = float(self.nll_bits[valid, f].sum())
            out[f"{name}_bits"] = bits / n_notes
            out[f"{name}_perplexity"] = float(2.0 ** (bits / n))
            out[f"{name}_top1"] = float(self.top1[valid, f].sum()) / n
            out[f"{name}_top5"] = float(self.top5[valid, f].sum()) / n
        return out


def score_field(log_probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score one field.

    Args:
        log_probs: ``(N, V)`` natural-log probabilities (normalised rows).
        targets: ``(N,)`` class indices, :data:`PAD` where ignored.

    Returns:
        ``(nll_bits, top1, top5, valid)``, each ``(N,)``; ``nll_bits`` is 0 where not valid.
    """
    valid = targets != PAD
    safe = np.where(valid, targets, 0)
    target_lp = np.take_along_axis(log_probs, safe[:, None], axis=1)[:, 0]  # (N,)
    better = (log_probs > target_lp[:, None]).sum(axis=1)  # (N,) classes strictly more likely
    nll_bits = np.where(valid, -target_lp / LN2, 0.0)
    return nll_bits, valid & (better < 1), valid & (better < 5), valid


def score_tokens(fields: Sequence[str], log_probs: Sequence[np.ndarray], targets: np.ndarray,
                 is_note: np.ndarray) -> TokenScores:
    """Score all fields: ``log_probs[f]`` is ``(N, V_f)``, ``targets`` ``(N, F)``, ``is_note`` ``(N,)``."""
    parts = [score_field(lp, targets[:, f]) for f, lp in enumerate(log_probs)]
    stacked = [np.stack([p[k] for p in parts], axis=1) for k in range(4)]
    return TokenScores(tuple(fields), stacked[0], stacked[1], stacked[2], stacked[3], np.asarray(is_note, bool))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise natural-log softmax of ``(..., V)`` logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------
# n-gram baselines
# --------------------------------------------------------------------------------------------


class UnigramBaseline:
    """Per field, the add-one smoothed frequency of each class in the training targets."""

    name = "unigram"

    def __init__(self, vocab_sizes: Sequence[int]) -> None:
        self.vocab_sizes = tuple(vocab_sizes)
        self.log_p = [np.full(v, -np.log(v)) for v in self.vocab_sizes]

    def fit(self, targets: Sequence[np.ndarray]) -> UnigramBaseline:
        """Fit on ``(N_i, F)`` target arrays (:data:`PAD` ignored)."""
        stacked = np.concatenate(targets)
        for f, v in enumerate(self.vocab_sizes):
            col = stacked[:, f]
            counts = np.bincount(col[col != PAD], minlength=v)[:v].astype(np.float64) + 1.0
            self.log_p[f] = np.log(counts / counts.sum())
        return self

    def log_probs(self, contexts: np.ndarray) -> list[np.ndarray]:
        """``(N, F)`` previous events -> per field ``(N, V_f)`` natural-log probabilities."""
        return [np.broadcast_to(lp, (len(contexts), len(lp))) for lp in self.log_p]


class BigramBaseline:
    """Per field, P(class | same field of the previous event), Witten-Bell interpolated.

    ``P(w | h) = (c(h, w) + T(h) * P1(w)) / (c(h) + T(h))``, where ``T(h)`` is the number of
    distinct classes seen after ``h`` and ``P1`` the add-one unigram; an unseen ``h`` gives
    ``P1``.
    """

    name = "bigram"

    def __init__(self, vocab_sizes: Sequence[int]) -> None:
        self.vocab_sizes = tuple(vocab_sizes)
        self.unigram = UnigramBaseline(vocab_sizes)
        self.tables: list[np.ndarray] = []

    def fit(self, contexts: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> BigramBaseline:
        """Fit on paired ``(N_i, F)`` arrays: the previous events and the targets (:data:`PAD` ignored)."""
        self.unigram.fit(targets)
        ctx = np.concatenate(contexts)
        tgt = np.concatenate(targets)
        self.tables = []
        for f, v in enumerate(self.vocab_sizes):
            keep = tgt[:, f] != PAD
            counts = np.zeros((v, v), np.float64)  # (context class, target class)
            np.add.at(counts, (ctx[keep, f], tgt[keep, f]), 1.0)
            seen = counts.sum(1, keepdims=True)  # c(h)
            types = (counts > 0).sum(1, keepdims=True).astype(np.float64)  # T(h)
            p1 = np.exp(self.unigram.log_p[f])[None]  # (1, V)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.where(seen > 0, (counts + types * p1) / (seen + types), p1)
            self.tables.append(np.log(p))
        return self

    def log_probs(self, contexts: np.ndarray) -> list[np.ndarray]:
        """``(N, F)`` previous events -> per field ``(N, V_f)`` natural-log probabilities."""
        return [table[contexts[:, f]] for f, table in enumerate(self.tables)]


# --------------------------------------------------------------------------------------------
# Musical statistics of notes
# --------------------------------------------------------------------------------------------

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Key:
    """A key estimate: tonic pitch class (0 = C), ``major`` or ``minor``, and its correlation."""

    tonic: int
    mode: str
    correlation: float

    def __str__(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"

    def same_as(self, other: Key) -> bool:
        return self.tonic == other.tonic and self.mode == other.mode

    def related_to(self, other: Key) -> bool:
        """The same key, its relative, or a key a fifth away and their relatives (e.g. C major:
        A minor, G major, E minor, F major, D minor) -- where a phrase usually modulates."""
        def signature(key: Key) -> int:  # sharps (+) or flats (-) of the key signature
            major_tonic = key.tonic if key.mode == "major" else (key.tonic + 3) % 12
            return (major_tonic * 7 + 6) % 12 - 6
        distance = abs(signature(self) - signature(other))
        return min(distance, 12 - distance) <= 1


def pitch_class_histogram(notes: Sequence[Note], weight: str = "count") -> np.ndarray:
    """``(12,)`` pitch-class totals, each note counted once (``count``) or by its ticks (``duration``)."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration if weight == "duration" else 1.0
    return hist


def estimate_key(notes: Sequence[Note]) -> Key | None:
    """Krumhansl-Schmuckler key, as the daemon estimates it (:func:`daemon.music.keys.estimate_key`):
    the major/minor profile rotation best correlated with the duration-weighted pitch-class
    histogram. None for no notes or a single pitch class."""
    key = daemon_keys.estimate_key(notes)
    return None if key is None else Key(key.root, "minor" if key.minor else "major", key.correlation)


def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Shannon entropy in bits of the pitch-class histogram of note onsets (0 to log2 12 = 3.58)."""
    hist = pitch_class_histogram(notes)
    if hist.sum() == 0:
        return float("nan")
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Sequence[Note]) -> float:
    """Largest fraction of notes that fit one major scale (any of the 12; minor modes included)."""
    hist = pitch_class_histogram(notes)
    if hist.sum() == 0:
        return float("nan")
    return float(max(hist[np.roll(MAJOR_SCALE, root)].sum() for root in range(12)) / hist.sum())


def groove_consistency(notes: Sequence[Note], ticks_per_bar: int, origin: int, n_bars: int) -> float:
    """1 minus the mean Hamming distance (as a fraction of a bar's ticks) between the onset
    patterns of consecutive bars from ``origin``; 1.0 means every bar has the same rhythm."""
    if n_bars < 2:
        return float("nan")
    onsets = np.zeros((n_bars, ticks_per_bar), bool)
    for n in notes:
        t = n.start - origin
        if 0 <= t < n_bars * ticks_per_bar:
            onsets[t // ticks_per_bar, t % ticks_per_bar] = True
    distance = (onsets[1:] != onsets[:-1]).sum(axis=1) / ticks_per_bar
    return float(1.0 - distance.mean())


def polyphony(notes: Sequence[Note]) -> float:
    """Mean number of notes sounding, over the ticks where at least one sounds."""
    if not notes:
        return float("nan")
    first = min(n.start for n in notes)
    last = max(n.end for n in notes)
    sounding = np.zeros(last - first, np.int64)
    for n in notes:
        sounding[n.start - first:n.end - first] += 1
    active = sounding[sounding > 0]
    return float(active.mean()) if len(active) else float("nan")


def continuation_figures(notes: Sequence[Note], ticks_per_bar: int, origin: int, n_bars: int,
                         prompt_key: Key | None) -> dict[str, float]:
    """Statistics of ``n_bars`` of music from ``origin``, and whether its key agrees with the prompt's.

    ``key_agreement`` is 1.0 when the Krumhansl-Schmuckler key of these notes equals the
    prompt's (tonic and mode), 0.0 when not, NaN when either has no key; ``key_related`` the
    same for a closely related key (see :meth:`Key.related_to`).
    """
    key = estimate_key(notes)
    known = key is not None and prompt_key is not None
    return {
        "key_agreement": float(key.same_as(prompt_key)) if known else float("nan"),  # type: ignore[union-attr,arg-type]
        "key_related": float(key.related_to(prompt_key)) if known else float("nan"),  # type: ignore[union-attr,arg-type]
        "pitch_class_entropy": pitch_class_entropy(notes),
        "scale_consistency": scale_consistency(notes),
        "groove_consistency": groove_consistency(notes, ticks_per_bar, origin, n_bars),
        "polyphony": polyphony(notes),
        "notes_per_bar": len(notes) / max(1, n_bars),
    }


def mean_figures(rows: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float, int]]:
    """Per key: (mean, standard deviation, count) over rows, NaNs left out."""
    out: dict[str, tuple[float, float, int]] = {}
    for key in rows[0] if rows else ():
        values = np.array([r[key] for r in rows], np.float64)
        values = values[~np.isnan(values)]
        out[key] = (float(values.mean()) if len(values) else float("nan"),
                    float(values.std()) if len(values) else float("nan"), len(values))
    return out
