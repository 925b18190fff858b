"""Restyle: one bar on the live path, onnxruntime beside PyTorch eager (one thread).

Each timed bar is a bar of a real groove of the restyle model's test split (``casio/slowrock``
and ``stdlib/bossanova``, rendered with mma) heard by a :class:`daemon.live.restyle.Restyler`
note by note; the time is :meth:`~daemon.live.restyle.Restyler.make_bar`: the bar laid out as
the model's roll, restyled both ways' file asked for the other style, binarised, masked to the
bar's key and written as notes on the band's channels. The bare onnxruntime call on one bar and,
where the checkpoint is here (``runs/restyle/last.pt``), the generator in PyTorch eager are timed
beside it. Live, a bar is made :data:`~daemon.live.restyle.RESTYLE_LEAD_S` (60 ms) before the
line it plays from, and the scheduler hands notes over 40 ms ahead: 20 ms is the budget.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import Section, Timing

NAME = "restyle_speed"
TITLE = "Restyle: one bar played, restyled on the live path (1 thread)"
REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED = REPO_ROOT / "presets" / "restyle-grooves.onnx"
CHECKPOINT = REPO_ROOT / "runs" / "restyle" / "last.pt"
GROOVES = (("casio/slowrock", "SlowRock", "latin"), ("stdlib/bossanova", "BossaNova", "rock"))
BARS_QUICK, BARS_FULL = 200, 2000
WARMUP = 20
LIVE_ROW = "onnxruntime: one bar on the live path (notes in, notes out)"
ORT_ROW = "onnxruntime: the model alone, one bar"
EAGER_ROW = "PyTorch eager: the generator alone, one bar"
BUDGET_MS = 20.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--restyle-bars", type=int, default=None, help="bars timed per row (restyle_speed)")


def _played_bars(notes: list[str]) -> list[tuple[list, str]]:
    """(notes of one bar on the pulse grid from tick 0, target style) for every bar of the grooves.

    Raises:
        AntiphonError: mma is not installed.
    """
    import shutil

    from daemon.errors import AntiphonError
    from daemon.music.grid import MIDI_CLOCK_PPQN
    from daemon.music.midi_files import read_midi
    from daemon.music.notes import Note
    from training.data.sources import grooves

    if shutil.which("mma") is None or not grooves.MMA_LIB.is_dir():
        raise AntiphonError(f"the restyle benchmark plays real grooves rendered with mma: {grooves.INSTALL_HINT}")
    scale = MIDI_CLOCK_PPQN // 12
    out = []
    with tempfile.TemporaryDirectory(prefix="antiphon-bench-") as tmp:
        for library_file, groove, to in GROOVES:
            midi, complaint = grooves.render(grooves.MMA_LIB / f"{library_file}.mma", [groove], Path(tmp))
            if midi is None:
                raise AntiphonError(f"mma could not render {library_file}: {complaint}")
            piece = read_midi(midi, ticks_per_beat=12)
            length = piece.grid.ticks_per_bar
            for bar in range(8):
                played = [Note((n.start - bar * length) * scale, n.pitch, n.duration * scale, n.velocity, n.channel)
                          for n in piece.notes if bar * length <= n.start < (bar + 1) * length]
                if played:
                    out.append((played, to))
    notes.append(f"{len(out)} bars of mma's {', '.join(g[0] for g in GROOVES)} (test split, rendered with mma), "
                 "cycled")
    return out


def run(args: argparse.Namespace, quick: bool) -> Section:
    from daemon.live.restyle import Restyler
    from daemon.models.restyle import open_restyle
    from daemon.music.bar_features import assign_tracks
    from daemon.music.grid import MIDI_CLOCK_PPQN, Grid
    from daemon.music.pianoroll import notes_to_bars

    count = getattr(args, "restyle_bars", None) or (BARS_QUICK if quick else BARS_FULL)
    section = Section(NAME, TITLE)
    model = open_restyle(BUNDLED)
    bars = _played_bars(section.notes)
    grid = Grid(MIDI_CLOCK_PPQN)
    bar_ticks = grid.ticks_per_bar
    rng = np.random.default_rng(0)
    live = np.empty(count + WARMUP)
    styles = {"style": "latin"}
    restyler = Restyler(model, lambda: styles)
    for i in range(count + WARMUP):
        played, styles["style"] = bars[i % len(bars)]
        origin = i * bar_ticks
        for n in played:
            restyler.note_on(origin + n.start, n.channel, n.pitch, n.velocity)
            restyler.note_off(origin + n.end, n.channel, n.pitch)
        t0 = time.perf_counter_ns()
        restyler.make_bar(origin + bar_ticks - 1, grid, rng, 0.5, (9, 1, 2))
        live[i] = time.perf_counter_ns() - t0
    spec = model.spec
    rolls = []
    for played, to in bars:
        small = [type(n)(n.start // 2, n.pitch, max(1, n.duration // 2), n.velocity, n.channel) for n in played]
        rolls.append((notes_to_bars(assign_tracks(small, spec), spec, n_bars=1).active.astype(np.float32), to))
    ort = np.empty(count + WARMUP)
    for i in range(count + WARMUP):
        roll, to = rolls[i % len(rolls)]
        t0 = time.perf_counter_ns()
        model.probabilities(roll, to)
        ort[i] = time.perf_counter_ns() - t0
    section.timings = [Timing(LIVE_ROW, live[WARMUP:] * 1e-9, rate=False), Timing(ORT_ROW, ort[WARMUP:] * 1e-9,
                                                                                  rate=False)]
    if CHECKPOINT.is_file():
        try:
            import torch

            from training.restyle import checkpoint

            torch.set_num_threads(1)
            payload = checkpoint.load(CHECKPOINT, checkpoint.RESTYLE_KIND)
            g_ab, g_ba = checkpoint.generators(payload)
            by_style = {payload["styles"][1]: g_ab, payload["styles"][0]: g_ba}
            eager = np.empty(count + WARMUP)
            with torch.inference_mode():
                for i in range(count + WARMUP):
                    roll, to = rolls[i % len(rolls)]
                    t0 = time.perf_counter_ns()
                    by_style[to](torch.from_numpy(roll)).numpy()
                    eager[i] = time.perf_counter_ns() - t0
            section.timings.append(Timing(EAGER_ROW, eager[WARMUP:] * 1e-9, rate=False))
            section.derived["onnxruntime speed-up over PyTorch eager (median)"] = (
                float(np.median(eager[WARMUP:]) / np.median(ort[WARMUP:])))
        except ImportError:
            section.derived[EAGER_ROW] = "not measured: torch is not installed"
    else:
        section.derived[EAGER_ROW] = f"not measured: no checkpoint at {CHECKPOINT.relative_to(REPO_ROOT)}"
    p99 = float(np.percentile(live[WARMUP:], 99)) * 1e-6
    section.derived[f"live path p99 within the {BUDGET_MS:g} ms budget (60 ms lead - 40 ms hand-over)"] = p99 <= BUDGET_MS
    section.notes.append(f"{count} timed bars per row after {WARMUP} warm-up bars; onnxruntime intra/inter-op "
                         "threads 1, torch.set_num_threads(1)")
    return section
