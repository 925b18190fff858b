"""``antiphon export vae``: both graphs match PyTorch, carry their metadata and load in the daemon."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from daemon.errors import ModelError
from daemon.models.loader import load_model
from daemon.models.vae import VaeModel, load_vae
from tests.export.tiny_vae import LATENT, tiny_vae

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_vae(tmp_path_factory.mktemp("vae"), attributes=True)


def test_encoder_and_decoder_steps_match_pytorch(tiny: tuple[Path, Path]) -> None:
    from export.vae import check_vae_parity

    report = check_vae_parity(*tiny, phrases=4, seed=1)
    assert report.ok, report.summary()
    assert report.steps > 4 * 3 and report.greedy_same == 4


def test_the_decoder_names_its_encoder_and_carries_phrase_and_attributes(tiny: tuple[Path, Path]) -> None:
    _, decoder = tiny
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(decoder)).metadata_props}
    assert meta["antiphon.kind"] == "vae" and meta["antiphon.encoder"] == "tiny-vae.encoder.onnx"
    assert meta["antiphon.phrase"]["ticks"] == 96 and meta["antiphon.representation"]["name"] == "note-events"
    assert len(meta["antiphon.attributes"]["density"]) == LATENT
    encoder = {p.key: json.loads(p.value) for p in onnx.load(str(decoder.with_name("tiny-vae.encoder.onnx"))).metadata_props}
    assert encoder["antiphon.kind"] == "vae-encoder"


def test_the_loader_gives_the_vae_runner_and_it_decodes_the_same_code_the_same_way(tiny: tuple[Path, Path]) -> None:
    model = load_model(tiny[1])
    assert isinstance(model, VaeModel) and model.latent == LATENT and model.phrase_ticks == 96
    z = np.linspace(-1, 1, LATENT)
    first, again = model.decode_tokens(z), model.decode_tokens(z)
    assert np.array_equal(first, again) and len(first) <= 64
    assert np.allclose(model.attribute("density")[0], 1.0)


def test_an_attribute_by_tonic_gives_the_direction_of_the_phrases_tonic(tiny: tuple[Path, Path]) -> None:
    model = load_vae(tiny[1])
    assert set(model.attributes_by_tonic) == {"major"} and model.attributes_by_tonic["major"].shape == (12, LATENT)
    assert np.argmax(model.attribute("major", 3)) == 3 and np.argmax(model.attribute("major", 11)) == 11 % LATENT
    assert np.array_equal(model.attribute("density", 3), model.attribute("density"))  # one direction for every key
    with pytest.raises(ModelError, match=r"no attribute 'major' \(it has: density\)"):
        model.attribute("major")  # no key, and no one direction for it


def test_the_pytorch_sessions_run_the_daemons_decoding_as_onnxruntime_does(tiny: tuple[Path, Path]) -> None:
    from export.vae import torch_vae_model

    checkpoint, decoder = tiny
    model = load_vae(decoder)
    eager = torch_vae_model(checkpoint, model)
    tokens = np.array([[0, 60, 6, 80], [6, 62, 6, 80], [6, 64, 12, 80]], np.int64)
    assert np.allclose(eager.encode_tokens(tokens)[0], model.encode_tokens(tokens)[0], atol=1e-5)
    z = np.linspace(-1, 1, LATENT)
    assert np.array_equal(eager.decode_tokens(z), model.decode_tokens(z))


def test_a_vae_whose_encoder_file_is_missing_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    lonely = tmp_path / "tiny-vae.onnx"
    lonely.write_bytes(tiny[1].read_bytes())
    with pytest.raises(ModelError, match="does not exist"):
        load_vae(lonely)


def test_attribute_vectors_of_the_wrong_size_are_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from export.vae import export_vae

    bad = tmp_path / "attributes.json"
    bad.write_text(json.dumps({"attributes": {"density": [1.0, 2.0]}}), encoding="utf-8")
    with pytest.raises(ModelError, match="2 values"):
        export_vae(tiny[0], tmp_path / "out.onnx", bad)
    bad.write_text(json.dumps({"attributes": {}, "attributes_by_tonic": {"major": [[0.0] * LATENT] * 11}}),
                   encoding="utf-8")
    with pytest.raises(ModelError, match="not 12 vectors"):
        export_vae(tiny[0], tmp_path / "out.onnx", bad)
