"""``antiphon train eval``: an LSTM checkpoint on the test split, against n-gram baselines.

Example::

    antiphon train eval --checkpoint runs/bach-events/best.pt --data data/ --out runs/bach-events/eval.json

Two parts, printed as markdown tables (and written to ``--markdown``, by default ``eval.md``
beside the checkpoint):

1. Likelihood on the test pieces, each from its first event: bits per note (every predicted
   event's bits, REST events included, divided by the number of note events; see
   :meth:`training.lstm.metrics.TokenScores.summary`), perplexity, and per head bits, perplexity
   and top-1/top-5 accuracy, for the model and for unigram and bigram baselines fitted on the
   training split and scored on the very same targets. ``note-events`` models read a whole
   piece with one running state (as the daemon does); ``chord`` models predict each event
   from the ``window`` events before it (as they were trained).
2. Continuations: the first 4 bars of held-out pieces in, 4 bars out (the daemon's own
   generation loop), with key agreement, pitch-class entropy, scale and groove consistency,
   polyphony and density next to the same figures for what the composer wrote. Prompts come
   from the test split, topped up from the validation split (never trained on) when the test
   split has fewer long-enough pieces than ``--continuations`` (the Bach chorales: 40).

torch is imported only inside :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec
from training.lstm import metrics as M
from training.lstm.data import SplitData, encode_split, load_pieces, note_event_mask, targets_of

if TYPE_CHECKING:
    from training.lstm.model import EventLSTM

log = logging.getLogger(__name__)

DEFAULT_CONTINUATIONS = 64


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint from `antiphon train lstm`")
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--out", type=Path, default=None, help="write the full report as JSON here")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the tables here (default: eval.md beside the checkpoint)")
    parser.add_argument("--continuations", type=int, default=DEFAULT_CONTINUATIONS,
                        help="held-out prompts to continue (0: likelihood only)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of continuations")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass of continuations")
    parser.add_argument("--no-valid-top-up", dest="top_up_with_valid", action="store_false",
                        help="continue test prompts only, even when the test split has fewer long pieces "
                             "than --continuations (by default the validation split fills the gap)")
    parser.add_argument("--max-repeats", type=int, default=0,
                        help="the daemon's repetition guard for continuations (0: off, the model alone)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--write-back", action="store_true",
                        help="store the test figures in the checkpoint's metrics (exported into the ONNX file)")


def main(args: argparse.Namespace) -> int:
    import torch

    from training.lstm.checkpoint import load_checkpoint, read_payload, save_checkpoint

    torch.set_num_threads(max(1, args.threads))
    loaded = load_checkpoint(args.checkpoint)
    training = loaded.training
    sources = list(training.get("sources", []))
    voices = str(training.get("voices", "all"))
    codec = loaded.codec
    started = time.monotonic()

    train_pieces, train_notes = load_pieces(args.data, sources, "train", voices)
    test_pieces, test_notes = load_pieces(args.data, sources, "test", voices)
    train = encode_split(codec, train_pieces, train_notes)
    test = encode_split(codec, test_pieces, test_notes)
    window = int(training.get("sequence", {}).get("window", 0)) if isinstance(codec, ChordCodec) else 0
    rows = likelihood_rows(loaded.model, codec, train, test, window)
    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "representation": codec.NAME,
        "sources": sources,
        "test": {"pieces": len(test_pieces), "events": test.n_events, "notes": test.n_note_events},
        "context": f"sliding window of {window} events" if window else "whole piece, one running state",
        "likelihood": rows,
    }
    if args.continuations > 0:
        from daemon.music.sampling import SamplingParams

        params = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_repeats=args.max_repeats)
        held_out = [test]
        if args.top_up_with_valid:
            valid_pieces, valid_notes = load_pieces(args.data, sources, "valid", voices)
            held_out.append(SplitData(valid_pieces, valid_notes, []))
        report["continuations"] = continuation_report(loaded.model, codec, held_out, args.continuations, params,
                                                      args.seed)
        report["continuations"]["sampling"] = {"temperature": args.temperature, "top_p": args.top_p,
                                               "max_repeats": args.max_repeats, "seed": args.seed}
    report["seconds"] = round(time.monotonic() - started, 1)

    markdown = render_markdown(report, tuple(codec.FIELDS))
    print(markdown)
    md_path = args.markdown or args.checkpoint.with_name("eval.md")
    md_path.write_text(markdown + "\n")
    log.info("tables written to %s", md_path)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        log.info("report written to %s", args.out)
    if args.write_back:
        payload = read_payload(args.checkpoint)
        test_metrics = {"test_" + k: v for k, v in rows["model"].items()}
        test_metrics.update({"test_bigram_bits_per_note": rows["bigram"]["bits_per_note"],
                             "test_unigram_bits_per_note": rows["unigram"]["bits_per_note"]})
        save_checkpoint(args.checkpoint, loaded.model, codec, payload.get("training", {}),
                        {**payload.get("metrics", {}), **test_metrics}, payload.get("resume"))
        log.info("test figures stored in %s", args.checkpoint)
    return 0


# --------------------------------------------------------------------------------------------
# Likelihood
# --------------------------------------------------------------------------------------------


def model_log_probs(model: EventLSTM, tokens: np.ndarray, window: int = 0) -> list[np.ndarray]:
    """Natural-log probabilities of every event after the first of one piece.

    Args:
        model: the LSTM (eval mode).
        tokens: ``(N, F)`` the piece's events.
        window: 0 reads the piece with one running state; ``W`` > 0 predicts event ``t`` from
            events ``t-W .. t-1`` only, from a zero state.

    Returns:
        per field ``(N - 1, V_f)``.
    """
    import torch

    with torch.no_grad():
        x = torch.as_tensor(tokens[:-1], dtype=torch.long)  # (N - 1, F)
        logits, _ = model(x[None])  # [(1, N - 1, V_f)]
        out = [torch.log_softmax(lg[0].float(), -1) for lg in logits]
        if window and len(x) > window:
            starts = torch.arange(1, len(x) - window + 1)
            windows = x[starts[:, None] + torch.arange(window)[None]]  # (N - 1 - W, W, F)
            tail, _ = model(windows)
            for f, lg in enumerate(tail):
                out[f][window:] = torch.log_softmax(lg[:, -1].float(), -1)
    return [lp.numpy() for lp in out]


def likelihood_rows(model: EventLSTM, codec: NoteEventCodec | ChordCodec, train: SplitData, test: SplitData,
                    window: int = 0) -> dict[str, dict[str, float]]:
    """Summaries (see :meth:`~training.lstm.metrics.TokenScores.summary`) of the model, unigram and bigram."""
    fields = tuple(codec.FIELDS)
    sizes = tuple(codec.vocab_sizes)
    unigram = M.UnigramBaseline(sizes).fit([targets_of(codec, t[1:]) for t in train.tokens])
    bigram = M.BigramBaseline(sizes).fit([t[:-1] for t in train.tokens], [targets_of(codec, t[1:]) for t in train.tokens])
    scores: dict[str, list[M.TokenScores]] = {"model": [], "unigram": [], "bigram": []}
    for tokens in test.tokens:
        if len(tokens) < 2:
            continue
        targets = targets_of(codec, tokens[1:])  # (N - 1, F)
        is_note = note_event_mask(codec, tokens[1:])
        contexts = tokens[:-1]
        for name, log_probs in (("model", model_log_probs(model, tokens, window)),
                                ("unigram", unigram.log_probs(contexts)),
                                ("bigram", bigram.log_probs(contexts))):
            scores[name].append(M.score_tokens(fields, log_probs, targets, is_note))
    return {name: M.TokenScores.concatenate(parts).summary() for name, parts in scores.items()}


# --------------------------------------------------------------------------------------------
# Continuations
# --------------------------------------------------------------------------------------------


def continuation_report(model: EventLSTM, codec: NoteEventCodec | ChordCodec, held_out: Sequence[SplitData], n: int,
                        params: Any, seed: int) -> dict[str, Any]:
    """Musical figures of ``n`` model continuations of held-out prompts and of the real continuations.

    Prompts come from the first split of ``held_out`` (the test split), then from the next
    ones (the validation split: never trained on, only used to pick the epoch) while fewer than
    ``n`` pieces were long enough.
    """
    from training.lstm.continuation import TorchStepModel, continue_case, split_prompt

    step_model = TorchStepModel(model, codec)
    generated_rows: list[dict[str, float]] = []
    real_rows: list[dict[str, float]] = []
    prompt_rows: list[dict[str, float]] = []
    per_split: list[int] = []
    for split in held_out:
        per_split.append(0)
        for piece, notes in zip(split.pieces, split.notes):
            if len(generated_rows) >= n:
                break
            case = split_prompt(piece.id, notes, piece.grid, piece.bpm)
            if case is None:
                continue
            generated = continue_case(step_model, case, params, seed + len(generated_rows))
            prompt_key = M.estimate_key(case.prompt)
            bar = case.grid.ticks_per_bar
            generated_rows.append(M.continuation_figures(generated, bar, case.boundary, case.n_bars, prompt_key))
            real_rows.append(M.continuation_figures(case.real, bar, case.boundary, case.n_bars, prompt_key))
            prompt_rows.append(M.continuation_figures(case.prompt, bar, case.origin, case.prompt_bars, prompt_key))
            per_split[-1] += 1
    if len(generated_rows) < n:
        log.warning("only %d held-out pieces are long enough for a 4-bar prompt and a 4-bar continuation",
                    len(generated_rows))
    return {"cases": len(generated_rows), "cases_per_split": per_split, "model": M.mean_figures(generated_rows),
            "real": M.mean_figures(real_rows), "prompt": M.mean_figures(prompt_rows)}


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

CONTINUATION_LABELS = {
    "key_agreement": "same key as the prompt (K-S, share)",
    "key_related": "same or closely related key (share)",
    "pitch_class_entropy": "pitch-class entropy (bits)",
    "scale_consistency": "scale consistency",
    "groove_consistency": "groove consistency",
    "polyphony": "polyphony (notes sounding)",
    "notes_per_bar": "notes per bar",
}


def render_markdown(report: Mapping[str, Any], fields: Sequence[str]) -> str:
    """The report as markdown tables."""
    rows = report["likelihood"]
    test = report["test"]
    if report["representation"] == NoteEventCodec.NAME:
        unit = "note"
        counting = ("Bits per note: every predicted event's bits (REST events included, with their shift and "
                    "pitch) over the number of note events; perplexity = 2^(bits per note).")
    else:
        unit = "event"
        counting = ("Bits per event: chord + duration bits of every predicted (chord, duration) event, rests "
                    "included, over the number of events; perplexity = 2^(bits per event).")
    bigram = rows["bigram"]["bits_per_note"]
    lines = [
        f"## {report['checkpoint']}: {report['representation']} on the test split of {'+'.join(report['sources'])}",
        "",
        (f"{test['pieces']} pieces, {test['events']} events ({test['notes']} notes); context: {report['context']}. "
         + counting),
        "",
        f"| model | bits/{unit} | perplexity | vs bigram |",
        "|---|---:|---:|---:|",
    ]
    for name in ("model", "unigram", "bigram"):
        r = rows[name]
        lines.append(f"| {name} | {r['bits_per_note']:.3f} | {r['perplexity']:.1f} | "
                     f"{100 * (r['bits_per_note'] - bigram) / bigram:+.1f}% |")
    lines += ["", f"| head | model | bits/{unit} | perplexity | top-1 | top-5 |", "|---|---|---:|---:|---:|---:|"]
    for f in fields:
        for name in ("model", "unigram", "bigram"):
            r = rows[name]
            lines.append(f"| {f} | {name} | {r[f + '_bits']:.3f} | {r[f + '_perplexity']:.2f} | "
                         f"{100 * r[f + '_top1']:.1f}% | {100 * r[f + '_top5']:.1f}% |")
    cont = report.get("continuations")
    if cont:
        s = cont["sampling"]
        splits = cont.get("cases_per_split", [cont["cases"]])
        origin = f"{splits[0]} test" + (f" + {splits[1]} validation" if len(splits) > 1 and splits[1] else "")
        intro = (f"Continuations of {cont['cases']} held-out prompts ({origin} pieces; 4 bars in, 4 bars out, "
                 "the daemon's generation "
                 f"loop; temperature {s['temperature']}, top-p {s['top_p']}, repetition guard "
                 f"{s['max_repeats'] or 'off'}, seed {s['seed']}); mean ± sd over pieces. 'real' is what the "
                 "composer wrote after the same prompt; 'prompt' the prompt's own 4 bars.")
        lines += ["", intro, "", "| figure | model | real | prompt |", "|---|---:|---:|---:|"]
        for key, label in CONTINUATION_LABELS.items():
            cells = []
            for side in ("model", "real", "prompt"):
                mean, sd, _ = cont[side][key]
                cells.append("-" if side == "prompt" and key.startswith("key_") else f"{mean:.3f} ± {sd:.3f}")
            lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines)
