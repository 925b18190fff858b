"""``antiphon train restyle-eval``: the restyle model file judged on the test bars of both styles.

Example (the figures of ``docs/models/restyle-grooves.md``)::

    antiphon train restyle-eval --model presets/restyle-grooves.onnx \\
        --classifier runs/style-classifier/best.pt --data data/ --out runs/restyle/eval

The bars are the test split (by library file, never trained on) of the model's two styles. Each
is restyled by the *exported* file through onnxruntime, as the daemon plays it, then sent back
the other way. For each direction:

* **style**: the share of transferred bars the classifier (trained on real bars of every family)
  judges as the target style; beside it the share of real target bars judged so (the ceiling)
  and of the untouched source bars (the floor);
* **content kept**: chroma similarity and onset overlap between source and transfer
  (:mod:`training.restyle.metrics`), beside those of a source bar and a random bar of the target
  style;
* **cycle**: the round trip's error against the source;
* notes per bar of source, transfer and real target bars.

Also the classifier's own test accuracy per family. Writes ``eval.json``, ``eval.md`` and
``restyle.png`` (source / transfer / round trip of a few test bars each way).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
PICTURE_BARS = 4
SEED = 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=Path("presets/restyle-grooves.onnx"), help="restyle .onnx file")
    parser.add_argument("--classifier", type=Path, required=True, help="style-classifier checkpoint (best.pt)")
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--split", default="test", choices=("valid", "test"))
    parser.add_argument("--out", type=Path, required=True, help="folder for eval.json, eval.md, restyle.png")


def measure(model: Any, judge: Any, families: list[str], bars: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every figure of both directions (see the module docstring)."""
    from training.restyle.judge import judge as verdicts
    from training.restyle.metrics import chroma_similarity, cycle_error, note_count, onset_overlap

    spec = model.spec
    rng = np.random.default_rng(SEED)
    out: dict[str, Any] = {}
    for src, dst in ((model.styles[0], model.styles[1]), (model.styles[1], model.styles[0])):
        source, target_bars = bars[src], bars[dst]
        moved = model.restyle(source, dst).active
        back = model.restyle(moved, src).active
        target = families.index(dst)
        pairs = target_bars[rng.integers(0, len(target_bars), len(source))]
        out[f"{src} -> {dst}"] = {
            "bars": len(source),
            "judged_target": float((verdicts(judge, moved) == target).mean()),
            "ceiling_real_target": float((verdicts(judge, target_bars) == target).mean()),
            "floor_source": float((verdicts(judge, source) == target).mean()),
            "chroma_kept": float(np.nanmean(chroma_similarity(source, moved, spec))),
            "chroma_random_pairs": float(np.nanmean(chroma_similarity(source, pairs, spec))),
            "onsets_kept": float(np.nanmean(onset_overlap(source, moved, spec))),
            "onsets_random_pairs": float(np.nanmean(onset_overlap(source, pairs, spec))),
            "cycle": cycle_error(source, back, spec),
            "notes_per_bar": {"source": float(note_count(source, spec).mean()),
                              "transfer": float(note_count(moved, spec).mean()),
                              "real_target": float(note_count(target_bars, spec).mean())},
            "empty_transfers": float((~moved.reshape(len(moved), -1).any(axis=1)).mean()),
        }
    return out


def table(result: dict[str, Any]) -> str:
    header = ("| direction | bars | judged target: transfer / real target (ceiling) / source (floor) "
              "| chroma kept / random pairs | onsets kept / random pairs | cycle 1-IoU / cells wrong "
              "| notes a bar: source / transfer / real target |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for name, r in result["directions"].items():
        n = r["notes_per_bar"]
        lines.append(f"| {name} | {r['bars']} | {r['judged_target']:.3f} / {r['ceiling_real_target']:.3f} / "
                     f"{r['floor_source']:.3f} | {r['chroma_kept']:.3f} / {r['chroma_random_pairs']:.3f} | "
                     f"{r['onsets_kept']:.3f} / {r['onsets_random_pairs']:.3f} | "
                     f"{r['cycle']['one_minus_iou']:.3f} / {r['cycle']['cells_wrong']:.4f} | "
                     f"{n['source']:.1f} / {n['transfer']:.1f} / {n['real_target']:.1f} |")
    acc = result["classifier_accuracy"]
    lines.append("")
    lines.append(f"Classifier accuracy on real {result['split']} bars: " + ", ".join(f"{f} {a:.3f}" for f, a in acc.items()))
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    from daemon.models.restyle import open_restyle
    from training.gan.plots import plot_rows
    from training.restyle import checkpoint
    from training.restyle.data import load_style_bars
    from training.restyle.judge import judge as verdicts

    model = open_restyle(args.model)
    payload = checkpoint.load(args.classifier, checkpoint.CLASSIFIER_KIND)
    judge, families = checkpoint.classifier(payload), list(payload["families"])
    missing = [s for s in model.styles if s not in families]
    if missing:
        raise SystemExit(f"the classifier knows {', '.join(families)}, not {', '.join(missing)}")
    data = load_style_bars(args.data, args.split, families)
    log.info("%s", data.describe(args.split))
    result: dict[str, Any] = {
        "model": args.model.name, "split": args.split,
        "bars": {f: len(b) for f, b in data.bars.items()},
        "files": {f: len(v) for f, v in data.files.items()},
        "classifier_accuracy": {f: float((verdicts(judge, data.bars[f]) == i).mean()) for i, f in enumerate(families)},
        "directions": measure(model, judge, families, data.bars)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (args.out / "eval.md").write_text(table(result), encoding="utf-8")
    print(table(result))
    rows, labels = [], []
    for src, dst in ((model.styles[0], model.styles[1]), (model.styles[1], model.styles[0])):
        source = data.bars[src]
        pick = source[np.linspace(0, len(source) - 1, PICTURE_BARS).astype(int)]
        moved = model.restyle(pick, dst).active
        rows += [pick, moved, model.restyle(moved, src).active]
        labels += [f"{src} (test)", f"as {dst}", f"back to {src}"]
    plot_rows(rows, model.spec, args.out / "restyle.png", labels, title=f"{model.styles[0]} <-> {model.styles[1]}")
    return 0
