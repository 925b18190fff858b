"""``antiphon export abc``: the step graph matches PyTorch step by step, and carries its metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from daemon.models.loader import load_model
from tests.training.abc.test_train import TUNES

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from dataclasses import asdict

    from export.abc import export_abc
    from training.abc.checkpoint import save_checkpoint
    from training.abc.model import AbcLSTM, AbcLSTMConfig, build_vocabulary

    folder = tmp_path_factory.mktemp("abc")
    torch.manual_seed(0)
    config = AbcLSTMConfig(vocabulary=build_vocabulary([t.text for t in TUNES]), embed_dim=8, hidden_size=16,
                           num_layers=2)
    checkpoint = folder / "tiny.pt"
    save_checkpoint(checkpoint, {"model": AbcLSTM(config).state_dict(), "config": asdict(config), "step": 0,
                                 "training": {"sources": ["airds"]}, "metrics": {}})
    return checkpoint, export_abc(checkpoint, folder / "tiny.onnx", TUNES)


def test_step_graph_matches_pytorch_over_every_character_of_a_tune(tiny: tuple[Path, Path]):
    from export.abc import check_abc_parity

    report = check_abc_parity(*tiny, text=TUNES[1].text)
    assert report.ok, report.summary()
    assert report.steps == len(TUNES[1].text) + 1
    assert report.max_logit_diff < 1e-4


def test_metadata_names_the_vocabulary_and_the_header_conventions(tiny: tuple[Path, Path]):
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tiny[1])).metadata_props}
    assert json.loads(meta["antiphon.kind"]) == "abc"
    rep = json.loads(meta["antiphon.representation"])
    assert rep["name"] == "abc-text" and rep["version"] == 1
    assert rep["vocabulary"].startswith(rep["bos"] + rep["eos"])
    assert rep["meters"] == {"6/8": 1, "4/4": 1}  # the training split only
    assert rep["rhythms"] == {"reel": 1}


def test_the_daemon_loads_it_by_kind_and_steps_it(tiny: tuple[Path, Path]):
    model = load_model(tiny[1])
    assert model.kind == "abc"
    logits, state = model.prime("M:6/8\n")
    assert logits.shape == (len(model.vocabulary),)
    assert np.isfinite(logits).all() and state.h.shape == (2, 1, 16)
