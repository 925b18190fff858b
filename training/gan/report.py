"""What a GAN training run records after an epoch: the quick metric check, best.pt's score,
sample bars and the rows of ``metrics.csv``.

Called by :mod:`training.gan.train` on rank 0 only. Reads the networks, never changes them
(the evaluation draws its own seeded noise).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.gan.data import BarSet
from training.gan.evaluate import chain, evaluate, targets, track_indices
from training.gan.metrics import relative_gap
from training.gan.plots import plot_rows, write_bars_midi

CSV_FIELDS = ("epoch", "g_steps", "d_steps", "wall_s", "d_loss", "g_loss", "wasserstein", "gp")
QUICK_BARS = 512  # generated bars for the per-epoch metric check
SELECT_BARS = 2048  # generated bars for choosing best.pt against the validation split
SAMPLE_BARS = 4  # generated bars chained after each sample's real bar


def quick_metrics(generator: Any, train: BarSet, epoch: int, monophonic: Sequence[str],
                  any_row: bool = False) -> dict[str, float]:
    """The quick check's ``metrics.csv`` columns: each track's metrics of :data:`QUICK_BARS`
    conditioned, thresholded bars and the training bars' (``_real``), the tonal distances, and
    how often the bars keep the key (conditioned, unconditioned, real). Noise seeded by ``epoch``."""
    quick = evaluate(generator, train, QUICK_BARS, seed=epoch, binarisations=("threshold",), unconditioned=True,
                     monophonic=monophonic, any_row=any_row)
    generated = quick["generated"]["conditioned/threshold"]
    row: dict[str, float] = {}
    for track in train.spec.tracks:
        for metric, real in quick["reference"][track.name].items():
            if np.isfinite(real):  # the metrics that apply to the track
                row[f"{track.name}_{metric}"] = round(generated["metrics"][track.name][metric], 4)
                row[f"{track.name}_{metric}_real"] = round(real, 4)
    for pair, value in generated["metrics"]["TD"].items():
        row[f"TD_{pair}"] = round(value, 4)
    row["key_cond"] = round(generated["key_agreement"]["exact"], 4)
    row["key_uncond"] = round(quick["generated"]["unconditioned/threshold"]["key_agreement"]["exact"], 4)
    row["key_real"] = round(quick["reference_key_agreement"]["exact"], 4)
    return row


def selection_score(generator: Any, valid: BarSet, monophonic: Sequence[str], any_row: bool = False) -> tuple[int, float]:
    """How far ``generator``'s conditioned bars are from the validation bars: the number of
    metrics off target (per-track metrics beyond 10 %, TD beyond 0.1) and the summed gap
    (relative gaps in units of 10 %, TD gaps in units of 0.1, each capped at 3). Fixed noise,
    so epochs compare on the same draws. ``best.pt`` ranks the gap first: a count of misses
    flips on a metric's noise at the 10 % line, the summed gap moves smoothly."""
    result = evaluate(generator, valid, SELECT_BARS, seed=0, binarisations=("threshold",), unconditioned=False,
                      monophonic=monophonic, any_row=any_row)
    column = "conditioned/threshold"
    generated = result["generated"][column]["metrics"]
    gap = 0.0
    for track, metrics in result["reference"].items():
        for metric, ref in metrics.items():
            if not math.isfinite(ref):
                continue
            value = generated.get(track, {}).get(metric, math.nan)
            one = abs(value - ref) / 0.1 if track == "TD" else relative_gap(value, ref) / 0.1
            gap += min(3.0, one) if math.isfinite(one) else 3.0
    return len(targets(result, column)["misses"]), gap


def write_samples(generator: Any, train: BarSet, pairs: np.ndarray, stem: Path, seed: int,
                  monophonic: Sequence[str], any_row: bool = False, n_bars: int = SAMPLE_BARS) -> None:
    """For each chosen real pair: the real previous bar, then ``n_bars`` generated bars chained
    (each conditioned on the one before), as one PNG and one MIDI file."""
    mono = track_indices(train.spec, monophonic)
    rows = [chain(generator, train.spec, train.bars[train.previous[index]], n_bars + 1, seed * 100 + i, mono, any_row)
            for i, index in enumerate(pairs)]
    stem.parent.mkdir(parents=True, exist_ok=True)
    plot_rows(rows, train.spec, stem.with_suffix(".png"), labels=[f"#{i}" for i in range(len(rows))],
              title=f"{stem.name}: real bar, then {n_bars} generated bars, each conditioned on the previous")
    write_bars_midi(np.concatenate(rows), train.spec, stem.with_suffix(".mid"))


def append_row(path: Path, row: dict[str, Any], quick_keys: Sequence[str]) -> None:
    """Append ``row`` to ``metrics.csv`` (:data:`CSV_FIELDS`, then ``quick_keys``), with a header when new."""
    write_header = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*CSV_FIELDS, *quick_keys], extrasaction="ignore")
        if write_header:
            writer.writeheader()
        writer.writerow(row)
