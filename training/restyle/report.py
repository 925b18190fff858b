"""One validation of the restyle CycleGAN: both directions measured, a line to the log and
``metrics.csv``, a picture of source / transfer / round trip."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training.gan.plots import plot_rows
from training.restyle.metrics import chroma_similarity, cycle_error, onset_overlap

log = logging.getLogger(__name__)
PICTURE_BARS = 4


def direction_figures(source: np.ndarray, moved: np.ndarray, back: np.ndarray, spec: Any,
                      judged: np.ndarray | None, target: int | None) -> dict[str, float]:
    """The figures of one direction: judged-as-target share, chroma, onsets, cycle error, notes kept."""
    figures = {"chroma": float(np.nanmean(chroma_similarity(source, moved, spec))),
               "onsets": float(np.nanmean(onset_overlap(source, moved, spec))),
               **{f"cycle_{k}": v for k, v in cycle_error(source, back, spec).items()},
               "cells_ratio": float(moved.sum() / max(1, source.sum()))}
    if judged is not None and target is not None:
        figures["judged_target"] = float((judged == target).mean())
    return figures


def validate(out: Path, step: int, styles: list[str], valid: Any, nets: tuple[Any, Any], judge: Any,
             judge_families: list[str], transfer: Callable[[Any, np.ndarray], np.ndarray]) -> dict[str, float]:
    from training.restyle.judge import judge as verdicts

    spec = valid.spec
    row: dict[str, float] = {"step": step}
    pictures = []
    for (src, dst), g, back_g in (((styles[0], styles[1]), nets[0], nets[1]), ((styles[1], styles[0]), nets[1], nets[0])):
        source = valid.bars[src]
        moved = transfer(g, source)
        back = transfer(back_g, moved)
        judged = verdicts(judge, moved) if judge is not None else None
        target = judge_families.index(dst) if judge is not None and dst in judge_families else None
        for k, v in direction_figures(source, moved, back, spec, judged, target).items():
            row[f"{src}>{dst} {k}"] = v
        pick = np.linspace(0, len(source) - 1, PICTURE_BARS).astype(int)
        pictures += [source[pick], moved[pick], back[pick]]
    log.info("valid step %d: %s", step, "  ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "step"))
    csv_path = out / "metrics.csv"
    new = not csv_path.exists()
    out.mkdir(parents=True, exist_ok=True)
    with csv_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
    labels = [f"{styles[0]}", f"as {styles[1]}", "back", f"{styles[1]}", f"as {styles[0]}", "back"]
    plot_rows(pictures, spec, out / "samples" / f"step{step:06d}.png", labels, title=f"step {step}")
    return row
