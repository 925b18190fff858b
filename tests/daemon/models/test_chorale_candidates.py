"""The bundled chorale model plays the best of its candidates (onnxruntime on the bundled file, no torch)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from daemon.models.gan import GanModel, open_gan
from daemon.music.voices import note_lengths

CHORALES = Path(__file__).resolve().parents[3] / "presets" / "gan-chorales.onnx"
BARS = 96


@pytest.fixture(scope="module")
def chorales() -> GanModel:
    return open_gan(CHORALES)


def test_the_bundled_chorale_file_chooses_among_candidates_with_a_length_prior(chorales: GanModel) -> None:
    assert chorales.candidates > 1
    assert [o.name for o in chorales.session.get_outputs()] == ["roll", "score"]
    voices = {chorales.spec.tracks[t].name for t in chorales.length_tracks}
    assert voices == {"soprano", "alto", "tenor", "bass"} and chorales.length_weight > 0
    assert np.allclose(np.exp(chorales.length_log_p).sum(axis=1), 1.0, atol=1e-4)
    assert (chorales.length_log_p[:, 3] > chorales.length_log_p[:, 0]).all()  # quarter notes: far likelier than sixteenths


def test_the_chosen_bars_sing_fewer_one_step_notes_than_one_candidate_alone(chorales: GanModel) -> None:
    previous = chorales.sample_bars(BARS, None, np.random.default_rng(0)).active  # the model's own bars to answer
    single = dataclasses.replace(chorales, candidates=1)
    chosen = chorales.sample_batch(previous, np.random.default_rng(1)).active
    first = single.sample_batch(previous, np.random.default_rng(1)).active
    tracks = list(chorales.length_tracks)

    def one_step_share(active: np.ndarray) -> float:
        counts = note_lengths(active, tracks).sum(axis=(0, 1))
        return float(counts[1] / counts.sum())

    print(f"one-step notes: {one_step_share(first):.3f} of the notes with one candidate, "
          f"{one_step_share(chosen):.3f} with the best of {chorales.candidates}")
    assert one_step_share(chosen) < 0.75 * one_step_share(first)
    assert (chosen[:, tracks].sum(axis=3) <= 1).all()  # still one note at a time
    assert chosen[:, tracks].any(axis=(2, 3)).mean() > 0.95  # and the voices sing
