"""The phrase VAE runner: slerp, greedy and masked sampled decoding, encoding, the real file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daemon.errors import ModelError
from daemon.models.vae import VaeModel, load_vae, slerp
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams

REAL_FILE = Path(__file__).resolve().parents[3] / "presets" / "folk-vae.onnx"  # bundled, its encoder beside it


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> VaeModel:
    pytest.importorskip("torch")
    from tests.export.tiny_vae import tiny_vae

    return load_vae(tiny_vae(tmp_path_factory.mktemp("vae"), seed=2)[1])


def test_slerp_starts_and_ends_at_the_codes_and_keeps_equal_norms() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    for t in (0.25, 0.5, 0.75):
        assert np.linalg.norm(slerp(a, b, t)) == pytest.approx(np.linalg.norm(a))
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel codes: linear


def test_sampled_decoding_keeps_to_the_pitch_range_and_the_phrase(tiny: VaeModel) -> None:
    params = SamplingParams(temperature=1.5, pitch_low=60, pitch_high=62)
    rng = np.random.default_rng(1)
    notes = [n for z in tiny.prior(rng, 6) for n in tiny.decode(z, params, rng)]
    assert notes and all(60 <= n.pitch <= 62 for n in notes)
    assert all(n.end <= tiny.phrase_ticks for n in notes)


def test_encoding_is_deterministic_and_reads_at_most_the_longest_phrase(tiny: VaeModel) -> None:
    phrase = [Note(i * 6, 60 + i % 12, 6) for i in range(16)]
    mu, logvar = tiny.encode(phrase)
    again, _ = tiny.encode(phrase)
    assert mu.shape == logvar.shape == (tiny.latent,) and np.array_equal(mu, again)
    crowded = [Note(i, 60 + i % 5, 1) for i in range(96)] * 3  # 288 notes, more than a phrase holds
    assert np.isfinite(tiny.encode(crowded)[0]).all()


def test_an_empty_phrase_or_a_token_outside_the_vocabulary_is_refused(tiny: VaeModel) -> None:
    with pytest.raises(ModelError, match="empty"):
        tiny.encode([])
    with pytest.raises(ModelError, match="vocabulary"):
        tiny.encode_tokens(np.array([[0, 300, 6, 80]]))


def test_an_attribute_the_file_lacks_names_those_it_has(tiny: VaeModel) -> None:
    with pytest.raises(ModelError, match="no attribute 'density'"):
        tiny.attribute("density")


def test_the_trained_folk_vae_rebuilds_a_folk_phrase_through_onnxruntime() -> None:
    model = load_vae(REAL_FILE)
    # the first two bars of a reel in D: eighth notes up and down the scale
    pitches = [62, 66, 69, 66, 74, 69, 66, 69, 67, 71, 74, 71, 69, 66, 64, 62]
    phrase = [Note(i * 6, p, 6) for i, p in enumerate(pitches)]
    mu, _ = model.encode(phrase)
    rebuilt = model.decode(mu)
    assert len(rebuilt) >= 8 and all(n.end <= 96 for n in rebuilt)
    same = sum(a.pitch == b.pitch and a.start == b.start for a, b in zip(phrase, rebuilt))
    assert same >= len(phrase) // 2, rebuilt
    sampled = [model.decode(z, SamplingParams(temperature=1.0, top_p=0.9), np.random.default_rng(0))
               for z in model.prior(np.random.default_rng(0), 4)]
    assert all(len(s) >= 2 for s in sampled)
