"""``antiphon train lstm`` and ``antiphon train eval`` end to end on a tiny synthetic corpus."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from daemon.cli import build_parser
from tests.training import synthetic
from training.lstm import trainer as lstm_trainer
from training.lstm.checkpoint import load_checkpoint, read_payload
from training.lstm.data import PAD, TrainingDataError
from training.lstm.model import EventLSTM, LSTMConfig
from training.lstm.trainer import field_losses

TINY = ["--hidden", "32", "--layers", "1", "--embed", "4,8,4,2", "--window", "48", "--batch-size", "8",
        "--samples", "1", "--threads", "1", "--seed", "1"]


@pytest.fixture(scope="module")
def chorales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder as `antiphon train data` writes it, of synthetic chorales (train 12, valid 3, test 3)."""
    from training.data.corpus import write_source
    from training.data.records import PieceRecord

    data = tmp_path_factory.mktemp("data")
    pieces = [PieceRecord(**{f.name: getattr(p, f.name) for f in dataclasses.fields(p)})
              for split in synthetic.corpus_by_hash("chorale").values() for p in split]
    write_source(data, "bach", pieces, transpose=0)
    return data


def antiphon_train(*argv: str) -> int:
    args = build_parser().parse_args(["train", *argv])
    return int(args.handler(args))


def test_one_epoch_writes_checkpoints_metrics_and_samples(chorales: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert antiphon_train("lstm", "--data", str(chorales), "--source", "bach", "--out", str(out),
                          "--epochs", "1", *TINY) == 0
    payload = read_payload(out / "best.pt")
    assert payload["kind"] == "lstm"
    assert payload["model_args"]["hidden_size"] == 32
    assert payload["representation"]["name"] == "note-events"
    assert payload["training"]["sources"] == ["bach"] and payload["training"]["pieces"]["train"] == 12
    assert payload["training"]["command"].startswith("antiphon ")
    assert "resume" not in payload and "resume" in read_payload(out / "last.pt")
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1 and float(rows[0]["valid_bits_per_note"]) > 0
    assert {p.suffix for p in (out / "samples" / "epoch001").iterdir()} == {".mid", ".png"}

    loaded = load_checkpoint(out / "best.pt")
    assert loaded.codec.to_dict() == payload["representation"]
    from export.lstm_checkpoint import load_lstm_checkpoint  # the exporter reads the same file

    assert load_lstm_checkpoint(out / "best.pt").config == loaded.model.config

    report = tmp_path / "report.json"
    assert antiphon_train("eval", "--checkpoint", str(out / "best.pt"), "--data", str(chorales),
                          "--out", str(report), "--continuations", "2", "--threads", "1") == 0
    table = (out / "eval.md").read_text()
    assert "| bigram |" in table and "| pitch | model |" in table and "same key as the prompt" in table


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(
        chorales: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["--data", str(chorales), "--source", "bach", *TINY, "--samples", "0", "--patience", "9",
              "--epochs", "2"]
    antiphon_train("lstm", *common, "--out", str(straight))

    def interrupted(*args: object) -> None:  # Ctrl-C right after epoch 1 is saved
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(lstm_trainer, "_write_samples", interrupted)
        with pytest.raises(KeyboardInterrupt):
            antiphon_train("lstm", *common, "--out", str(resumed))
    assert read_payload(resumed / "last.pt")["training"]["epochs"] == 1
    antiphon_train("lstm", *common, "--out", str(resumed), "--resume")
    a, b = read_payload(straight / "last.pt"), read_payload(resumed / "last.pt")
    assert b["training"]["epochs"] == 2
    assert len(list(csv.DictReader((resumed / "metrics.csv").open()))) == 2
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key]), key


def test_the_training_loop_and_the_speed_benchmark_take_the_same_step(
        chorales: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import training_speed

    stepped: list[int] = []
    real_step = lstm_trainer.train_step

    def counted(*args: object, **kwargs: object) -> object:
        stepped.append(1)
        return real_step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lstm_trainer, "train_step", counted)
    antiphon_train("lstm", "--data", str(chorales), "--source", "bach", "--out", str(tmp_path / "run"),
                   "--epochs", "1", *TINY, "--samples", "0")
    assert stepped, "the epoch loop steps through training.lstm.trainer.train_step"
    stepped.clear()
    timed = training_speed._lstm(torch, tmp_path / "no-data", [torch.device("cpu")], steps=1)
    assert len(timed["cpu"]["times_s"]) == 1 and len(stepped) == training_speed.WARMUP_STEPS + 1


def test_a_second_run_into_the_same_folder_needs_resume(chorales: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    common = ["lstm", "--data", str(chorales), "--source", "bach", "--out", str(out), "--epochs", "1", *TINY]
    antiphon_train(*common, "--samples", "0")
    with pytest.raises(TrainingDataError, match="--resume"):
        antiphon_train(*common)


def test_a_missing_data_folder_says_to_build_the_data_first(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="antiphon train data"):
        antiphon_train("lstm", "--data", str(tmp_path / "nowhere"), "--source", "bach", "--out", str(tmp_path / "r"))


def test_the_chord_model_trains_on_windows_of_32(chorales: Path, tmp_path: Path) -> None:
    out = tmp_path / "chords"
    antiphon_train("lstm", "--data", str(chorales), "--source", "bach", "--representation", "chord",
                   "--out", str(out), "--epochs", "1", "--hidden", "32", "--layers", "1", "--embed", "8,4",
                   "--samples", "1", "--max-chords", "50")
    payload = read_payload(out / "best.pt")
    assert payload["representation"]["name"] == "chord"
    assert payload["training"]["sequence"]["window"] == 32 and payload["training"]["sequence"]["transpose"] is None
    assert payload["model_args"]["vocab_sizes"][0] <= 50


def test_the_loss_falls_on_a_sequence_the_model_can_memorise() -> None:
    torch.manual_seed(0)
    pattern = np.array([[0, 129, 0, 0], *([[3 * (i % 2), 60 + (i * 5) % 12, 3 + i % 3, 80] for i in range(23)])])
    tokens = torch.as_tensor(pattern)[None]  # (1, 24, 4)
    targets = tokens[:, 1:].clone()
    targets[..., 2:][targets[..., 2:] == 0] = PAD
    model = EventLSTM(LSTMConfig((49, 130, 193, 128), (8, 16, 8, 4), hidden_size=64, num_layers=1, dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        logits, _ = model(tokens[:, :-1])
        sums, counts = field_losses(logits, targets)
        loss = (sums / counts).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_windowed_evaluation_predicts_each_event_from_the_window_before_it() -> None:
    from training.lstm.evaluate import model_log_probs

    torch.manual_seed(0)
    model = EventLSTM(LSTMConfig((20, 6), (4, 2), hidden_size=16, num_layers=1, dropout=0.0)).eval()
    tokens = np.stack([np.arange(30) % 20, np.arange(30) % 6], axis=1)  # (30, 2)
    window = 5
    log_probs = model_log_probs(model, tokens, window)  # per field (29, V)
    for t in (2, 4, 5, 17, 28):  # predicting event t + 1 from events max(0, t - 4) .. t
        context = torch.as_tensor(tokens[max(0, t - window + 1):t + 1])[None]
        with torch.no_grad():
            logits, _ = model(context)
        for f in range(2):
            expected = torch.log_softmax(logits[f][0, -1], -1).numpy()
            assert np.allclose(log_probs[f][t], expected, atol=1e-5)
