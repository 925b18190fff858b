"""``antiphon train vae`` on a tiny corpus: files, resume, and the model's pieces."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from daemon.cli import build_parser
from daemon.music.events import NoteEventCodec
from tests.training.vae.corpus import write_corpus
from training.vae.checkpoint import load_vae, read_payload
from training.vae.data import batch_arrays
from training.vae.model import PhraseVAE, VAEConfig, kl_term

TINY = ["--latent", "8", "--encoder-hidden", "16", "--decoder-hidden", "16", "--batch-size", "8", "--samples", "2",
        "--warmup", "2", "--kl-anneal", "4", "--log-every", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    write_corpus(folder)
    return folder


def antiphon_train(*argv: str) -> int:
    args = build_parser().parse_args(["train", *argv])
    return int(args.handler(args))


def test_a_short_run_writes_checkpoints_metrics_and_sample_decodes(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert antiphon_train("vae", "--data", str(data), "--out", str(out), "--steps", "6", "--eval-every", "3", *TINY) == 0
    payload = read_payload(out / "best.pt")
    assert payload["kind"] == "vae" and payload["model_args"]["latent"] == 8
    assert payload["phrase"]["ticks"] == 96 and payload["training"]["command"].startswith("antiphon ")
    assert "resume" in read_payload(out / "last.pt") and "resume" not in payload
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert all(float(r["valid_nll"]) > 0 and 0 <= int(r["active_units"]) <= 8 for r in rows)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step000003.mid", "step000006.mid"]
    assert load_vae(out / "best.pt").codec == NoteEventCodec()


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(data: Path, tmp_path: Path) -> None:
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert antiphon_train("vae", "--data", str(data), "--out", str(whole), "--steps", "6", "--eval-every", "3", *TINY) == 0
    assert antiphon_train("vae", "--data", str(data), "--out", str(split), "--steps", "3", "--eval-every", "3", *TINY) == 0
    assert antiphon_train("vae", "--data", str(data), "--out", str(split), "--steps", "6", "--eval-every", "3",
                          "--resume", *TINY) == 0
    a, b = read_payload(whole / "last.pt")["state_dict"], read_payload(split / "last.pt")["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [int(r["step"]) for r in csv.DictReader((split / "metrics.csv").open())] == [3, 6]


def test_the_encoder_reads_a_padded_batch_as_it_reads_each_phrase_alone() -> None:
    torch.manual_seed(0)
    codec = NoteEventCodec()
    model = PhraseVAE(VAEConfig(vocab_sizes=codec.vocab_sizes, encoder_hidden=8, latent=4, decoder_hidden=8)).eval()
    phrases = [np.array([[0, 60, 6, 80], [6, 62, 6, 80], [6, 64, 12, 80], [0, 129, 0, 0]]),
               np.array([[12, 67, 24, 80], [0, 129, 0, 0]])]
    enc, lengths, _, _ = batch_arrays(phrases, codec)
    mu, logvar = model.encode(torch.from_numpy(enc), torch.from_numpy(lengths))
    for i, tokens in enumerate(phrases):
        alone_mu, alone_logvar = model.encode_one(torch.from_numpy(tokens[None, :-1]))
        assert torch.allclose(mu[i], alone_mu[0], atol=1e-6) and torch.allclose(logvar[i], alone_logvar[0], atol=1e-6)


def test_free_bits_floor_each_dimension_and_stop_its_gradient() -> None:
    mu = torch.tensor([[0.0, 3.0], [0.0, 3.0]], requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    term = kl_term(mu, logvar, free_nats=0.5)
    assert term.item() == pytest.approx(0.5 + 4.5)  # dimension 0 has KL 0 (floored), dimension 1 has 9 / 2
    term.backward()
    assert mu.grad is not None and (mu.grad[:, 0] == 0).all() and (mu.grad[:, 1] != 0).all()


def test_word_dropout_hides_inputs_after_the_first_with_bos_and_leaves_the_batch_alone() -> None:
    from training.vae.trainer import hide_inputs

    codec = NoteEventCodec()
    dec_in = np.tile(np.array([[5, 60, 6, 80]]), (200, 30, 1))
    hidden = hide_inputs(dec_in, 0.25, np.random.default_rng(0), codec)
    is_bos = (hidden == codec.bos()).all(axis=2)  # (B, T)
    assert not is_bos[:, 0].any() and 0.2 < is_bos[:, 1:].mean() < 0.3
    assert (hidden[~is_bos] == [5, 60, 6, 80]).all() and (dec_in[:, :, 1] == 60).all()
    assert hide_inputs(dec_in, 0.0, np.random.default_rng(0), codec) is dec_in
