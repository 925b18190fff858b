"""Export of the LSTM step graph: parity with PyTorch, the metadata contract, refusals, int8."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from daemon.cli import main as antiphon
from daemon.errors import ModelError
from daemon.models.loader import load_model
from daemon.models.lstm import load_lstm
from daemon.music.events import NoteEventCodec
from export.lstm import int8_path
from export.lstm_parity import check_lstm_parity, compare_quantized
from export.onnx_file import OPSET
from tests.export.tiny_lstm import cached_tiny_model, make_tiny_model, tiny_chord_codec

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return cached_tiny_model(tmp_path_factory, "events")


def _rewrite_metadata(src: Path, dst: Path, **changes: object) -> Path:
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        key = prop.key.removeprefix("antiphon.")
        if key in changes:
            prop.value = json.dumps(changes[key])
    onnx.save(model, str(dst))
    return dst


def test_step_graph_matches_pytorch_over_64_stateful_steps(tiny: tuple[Path, Path]) -> None:
    checkpoint, onnx_path = tiny
    report = check_lstm_parity(checkpoint, onnx_path, steps=64, rtol=1e-3, atol=1e-5, seed=0)
    assert report.ok, report.summary()
    assert report.steps == 64
    assert report.max_abs_logit_diff < 1e-5 and report.max_abs_state_diff < 1e-5


def test_dynamic_batch_matches_pytorch(tiny: tuple[Path, Path]) -> None:
    checkpoint, onnx_path = tiny
    report = check_lstm_parity(checkpoint, onnx_path, steps=16, batch=3, seed=1)
    assert report.ok, report.summary()


def test_chord_model_exports_with_parity(tmp_path: Path) -> None:
    checkpoint, onnx_path = make_tiny_model(tmp_path, tiny_chord_codec())
    report = check_lstm_parity(checkpoint, onnx_path, steps=64)
    assert report.ok, report.summary()
    model = load_lstm(onnx_path)
    assert model.field_names == ("chord", "duration")
    assert model.vocab_sizes == tiny_chord_codec().vocab_sizes


def test_metadata_and_graph_follow_the_contract(tiny: tuple[Path, Path]) -> None:
    _, onnx_path = tiny
    model = onnx.load(str(onnx_path))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props if p.key.startswith("antiphon.")}
    assert meta["antiphon.format"] == "1"
    assert meta["antiphon.kind"] == "lstm"
    assert meta["antiphon.representation"] == NoteEventCodec().to_dict()
    assert meta["antiphon.model_config"]["hidden_size"] == 32
    assert meta["antiphon.inputs"] == ["token", "h", "c"]
    assert meta["antiphon.outputs"] == ["logits_shift", "logits_pitch", "logits_duration", "logits_velocity",
                                        "h_out", "c_out"]
    assert meta["antiphon.training"]["data"].startswith("none")
    assert meta["antiphon.metrics"] == {}
    assert meta["antiphon.quantization"] == "none"
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= OPSET >= 17
    inputs = {i.name: i for i in model.graph.input}
    assert inputs["token"].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert inputs["h"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    batch_dims = [inputs["token"].type.tensor_type.shape.dim[0], inputs["h"].type.tensor_type.shape.dim[1]]
    assert all(d.dim_param for d in batch_dims), "the batch axis must be dynamic"
    assert {t.data_type for t in model.graph.initializer} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    assert any(node.op_type == "LSTM" for node in model.graph.node)


def test_daemon_reads_metadata_back(tiny: tuple[Path, Path]) -> None:
    _, onnx_path = tiny
    model = load_model(onnx_path)
    assert model.codec == NoteEventCodec()
    assert (model.num_layers, model.hidden_size) == (2, 32)
    assert model.info.training["seed"] == 0
    options = model.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


def test_unknown_representation_version_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx_path = tiny
    representation = dict(NoteEventCodec().to_dict(), version=2)
    bad = _rewrite_metadata(onnx_path, tmp_path / "future.onnx", representation=representation)
    with pytest.raises(ModelError, match="version 2 is not known"):
        load_model(bad)


def test_unknown_format_and_kind_are_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx_path = tiny
    with pytest.raises(ModelError, match="format 7"):
        load_model(_rewrite_metadata(onnx_path, tmp_path / "f.onnx", format="7"))
    with pytest.raises(ModelError, match="'transformer' model"):
        load_model(_rewrite_metadata(onnx_path, tmp_path / "k.onnx", kind="transformer"))
    with pytest.raises(ModelError, match="needs an LSTM"):
        load_lstm(_rewrite_metadata(onnx_path, tmp_path / "g.onnx", kind="gan"))


def test_missing_and_non_onnx_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"MThd this is a MIDI file, not a model")
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_model(junk)


def test_onnx_without_antiphon_metadata_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx_path = tiny
    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelError, match="no Antiphon metadata"):
        load_model(tmp_path / "bare.onnx")


def test_token_outside_the_vocabulary_is_refused(tiny: tuple[Path, Path]) -> None:
    model = load_lstm(tiny[1])
    state = model.initial_state()
    with pytest.raises(ModelError, match="outside the vocabulary"):
        model.step(np.array([0, -1, 0, 0]), state)  # onnxruntime would wrap -1 silently
    with pytest.raises(ModelError, match="outside the vocabulary"):
        model.step(np.array([0, 130, 0, 0]), state)


def test_int8_twin_keeps_metadata_and_stays_close(tiny: tuple[Path, Path]) -> None:
    _, onnx_path = tiny
    q_path = int8_path(onnx_path)
    assert q_path.name == "tiny.int8.onnx" and q_path.is_file()
    quantized = load_lstm(q_path)
    assert quantized.info.extra["quantization"] == "int8-dynamic"
    report = compare_quantized(onnx_path, q_path, n_sequences=2, length=32)
    assert report.max_abs_logit_diff < 0.5, report.summary()
    assert abs(report.nll_change) < 0.05 * report.nll_fp32, report.summary()


def test_checkpoint_that_contradicts_its_representation_is_refused(tmp_path: Path) -> None:
    import torch

    from export.lstm import export_lstm
    from export.lstm_checkpoint import random_lstm_checkpoint

    path = random_lstm_checkpoint(tmp_path / "c.pt", NoteEventCodec(), hidden_size=8, num_layers=1,
                                  embed_dims=(2, 2, 2, 2))
    data = torch.load(path, weights_only=True)
    data["representation"] = NoteEventCodec(max_shift_ticks=24).to_dict()
    torch.save(data, path)
    with pytest.raises(ModelError, match="do not match"):
        export_lstm(path, tmp_path / "c.onnx")


def test_export_command_prints_parity_and_int8_costs(tiny: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint, _ = tiny
    out = tmp_path / "cli.onnx"
    assert antiphon(["export", "lstm", str(checkpoint), "-o", str(out), "--quantize", "int8"]) == 0
    printed = capsys.readouterr().out
    assert "parity over 64 stateful steps" in printed and ": OK;" in printed
    assert "int8 vs fp32" in printed and "median step time" in printed
    assert out.is_file() and int8_path(out).is_file()


def test_export_command_reports_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert antiphon(["export", "lstm", str(tmp_path / "none.pt"), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_daemon_loads_and_steps_without_torch(tiny: tuple[Path, Path]) -> None:
    _, onnx_path = tiny
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import daemon.models.loader, daemon.music.sampling, daemon.models.continuator, daemon.control.presets
        import daemon.offline.continuation
        from daemon.models.loader import load_model
        from daemon.models.continuator import continue_notes
        from daemon.music.notes import Note
        from daemon.music.sampling import SamplingParams
        model = load_model({str(onnx_path)!r})
        logits, state = model.step(model.codec.bos(), model.initial_state())
        assert [x.shape for x in logits] == [(49,), (130,), (193,), (128,)]
        notes = continue_notes(model, [Note(0, 60, 6), Note(6, 62, 6)], 1, SamplingParams(), seed=0)
        assert 'torch' not in sys.modules, 'the daemon imported torch'
        print('ok', len(notes))
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
