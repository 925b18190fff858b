"""The bundled chorale-soprano phrase VAE through onnxruntime, on real chorales of the test split
(music21's Bach chorales, parsed as the training data step parses them; none trained on)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from daemon.control.presets import load_preset
from daemon.models.vae import load_vae
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams

REAL_FILE = Path(__file__).resolve().parents[3] / "presets" / "chorale-vae.onnx"
CHORALES = 6  # test-split chorales read
pytest.importorskip("music21")


def test_chorale_phrases() -> list[list[Note]]:
    """Two-bar soprano phrases (every other bar line) of the first test-split chorales in 4/4."""
    from training.data.records import split_of
    from training.data.sources.bach import list_items, parse_item
    from training.lstm.data import piece_notes
    from training.vae.data import tune_phrases

    items, _ = list_items(12)
    phrases: list[list[Note]] = []
    read = 0
    for item in items:
        if split_of(item.label) != "test":
            continue
        pieces = parse_item(item).pieces
        if not pieces or (pieces[0].grid.numerator, pieces[0].grid.denominator) != (4, 4):
            continue
        piece = pieces[0]
        skipped: Counter[str] = Counter()
        phrases += [p.notes for p in tune_phrases(piece.id, piece_notes(piece, "soprano"), piece.grid,
                                                   NoteEventCodec(Grid(12)), 2, skipped)]
        read += 1
        if read == CHORALES:
            break
    return phrases


test_chorale_phrases.__test__ = False  # a helper, not a test


def test_the_chorale_vae_rebuilds_real_test_soprano_phrases_through_onnxruntime(report) -> None:
    model = load_vae(REAL_FILE)
    assert model.info.training.get("sources") == ["bach"] and model.info.training.get("voices") == "soprano"
    phrases = test_chorale_phrases()
    assert len(phrases) >= 20
    exact = total = 0
    for phrase in phrases:
        mu, _ = model.encode(phrase)
        rebuilt = model.decode(mu)
        got = {(n.start, n.pitch, n.duration) for n in rebuilt}
        exact += sum((n.start, n.pitch, n.duration) in got for n in phrase)
        total += len(phrase)
    report(f"chorale VAE, {len(phrases)} soprano phrases of {CHORALES} test chorales: {exact}/{total} notes "
           f"rebuilt exactly (greedy from the code's mean)")
    assert exact / total >= 0.5
    sampled = [model.decode(z, SamplingParams(temperature=0.8, top_p=0.95), np.random.default_rng(0))
               for z in model.prior(np.random.default_rng(1), 4)]
    assert all(len(s) >= 2 for s in sampled)


def test_the_morph_chorales_preset_names_the_bundled_file() -> None:
    preset = load_preset("morph-chorales")
    assert preset.model_path == REAL_FILE and preset.model_path.is_file()
    assert preset.model_path.with_name("chorale-vae.encoder.onnx").is_file()


def test_the_preset_answers_two_real_phrases_from_between_them_in_their_key(report) -> None:
    from daemon.control.presets import live_values
    from daemon.models.vae_answer import VaeContinuator
    from daemon.music.sampling import resolve_key

    preset = load_preset("morph-chorales")
    model = load_vae(preset.model_path)
    first, second = test_chorale_phrases()[:2]
    continuator = VaeContinuator(model)
    continuator.feed_notes(first)
    assert next(continuator.answer_steps(96, resolve_key(preset.sampling, first), 0, 1, Grid(12)))
    continuator.reset(192)
    continuator.feed_notes([Note(n.start + 192, n.pitch, n.duration, n.velocity, n.channel) for n in second])
    params = resolve_key(preset.sampling, second)
    answer = next(continuator.answer_steps(96, params, 1, 1, Grid(12)))
    assert continuator.previous is not None and live_values(preset)["morph"] == 0.5
    assert answer and all(preset.sampling.pitch_low <= n.pitch <= preset.sampling.pitch_high for n in answer)
    in_key = sum(params.in_scale(n.pitch % 12) for n in answer) / len(answer)
    report(f"morph-chorales preset: two test-split soprano phrases ({len(first)} and {len(second)} notes), the "
           f"second answered from morph 0.5 between them with {len(answer)} notes, {in_key:.0%} in the key")
    assert in_key == 1.0
