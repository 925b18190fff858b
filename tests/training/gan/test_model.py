"""The GAN model, its losses, its data pipeline and a short training run on synthetic bars."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import itertools

from daemon.errors import ModelError
from training.gan import data as gan_data
from training.gan.data import (
    build_bar_set,
    chorale_spec,
    groove_spec,
    make_batch,
    monophonic_tracks,
    synthetic_pieces,
    transpose_rolls,
)
from training.gan.floors import HoldFloor, PitchClassFloor, RestartFloor
from training.gan.model import (
    Critic,
    GanConfig,
    Generator,
    bar_statistics,
    binary_neuron,
    from_cells,
    gradient_penalty,
    likeliest_rows,
    onsets_per_step,
    pair_steps,
    split_steps,
    statistics_loss,
    to_cells,
)

SPEC = groove_spec()


def config(**kwargs: object) -> GanConfig:
    base: dict[str, object] = {"n_tracks": 3, "n_steps": 16, "n_pitches": 60, "track_rows": (9, 48, 60), "z_dim": 4,
                               "g_channels": 8, "d_channels": 8, "enc_channels": 4}
    base.update(kwargs)
    return GanConfig(**base)  # type: ignore[arg-type]


def test_cells_and_step_pairs_are_lossless_reshapes() -> None:
    x = torch.rand(2, 3, 16, 60)
    assert torch.equal(from_cells(to_cells(x), 3), x)
    cells = to_cells(x)  # (B, S, O, 36)
    assert cells.shape == (2, 16, 5, 36)
    assert cells[1, 7, 2, 5 * 3 + 1] == x[1, 1, 7, 2 * 12 + 5]  # semitone-major, track-minor
    assert torch.equal(split_steps(pair_steps(cells)), cells)


def test_the_generator_makes_masked_probability_rolls_and_the_critic_scores_them() -> None:
    generator, critic = Generator(config()), Critic(config(spectral_norm=True))
    noise, prev, cond = torch.randn(5, 4), torch.zeros(5, *SPEC.bar_shape), torch.zeros(5, 13)
    roll = generator(noise, prev, cond)
    assert roll.shape == (5, *SPEC.bar_shape)
    assert float(roll.detach().min()) >= 0 and float(roll.detach().max()) <= 1
    assert not roll[:, 0, :, 9:].any() and not roll[:, 1, :, 48:].any()
    assert critic(roll, prev, cond).shape == (5,)
    assert Critic(config(critic_stats=True))(roll, prev, cond).shape == (5,)


def test_the_gradient_penalty_of_a_linear_critic_is_its_slope_off_one() -> None:
    weight = torch.full((1, *SPEC.bar_shape), 0.01)

    def critic(bar: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return (bar * weight).flatten(1).sum(1)

    real, fake = torch.rand(4, *SPEC.bar_shape), torch.rand(4, *SPEC.bar_shape)
    slope = 0.01 * np.sqrt(np.prod(SPEC.bar_shape))  # ||grad|| everywhere
    penalty = gradient_penalty(critic, real, fake, real, torch.zeros(4, 13))  # type: ignore[arg-type]
    assert float(penalty) == pytest.approx((slope - 1) ** 2, rel=1e-5)


def test_binary_neurons_binarise_forward_and_pass_gradients_straight_through() -> None:
    probs = torch.tensor([0.2, 0.7, 0.5, 0.9], requires_grad=True)
    out = binary_neuron(probs, "deterministic")
    assert out.tolist() == [0.0, 1.0, 0.0, 1.0]
    (out * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert probs.grad is not None and probs.grad.tolist() == [1.0, 2.0, 3.0, 4.0]
    drawn = binary_neuron(torch.tensor([0.0, 1.0]), "stochastic")
    assert drawn.tolist() == [0.0, 1.0]
    assert binary_neuron(probs, "none") is probs


def test_voice_neurons_give_the_critic_each_voice_as_the_daemon_decodes_it() -> None:
    from daemon.music.voices import one_per_step

    torch.manual_seed(0)
    probs = torch.rand(64, 3, 16, 60) ** 4  # mostly small, some steps hesitant between rows
    probs[:, 1, :, 48:] = 0.0
    out = binary_neuron(probs.clone().requires_grad_(True), "deterministic", voices=(1,))
    daemon_side = one_per_step(probs.numpy(), [1], any_row=True) > 0.5
    assert (out[:, 1].detach().numpy() == daemon_side[:, 1]).all()
    assert (out[:, 1].sum(dim=-1) <= 1).all() and out[:, 1].sum() > 0
    assert torch.equal(out[:, 2], (probs[:, 2] > 0.5).float())  # other tracks: the plain threshold


def test_onset_summaries_count_the_notes_that_start_at_each_step() -> None:
    held = torch.zeros(1, 3, 16, 60)
    held[0, 1, :, 10] = 1.0  # one whole-bar note
    repeated = held.clone()
    repeated[0, 1, 1::2, 10] = 0.0  # eight sixteenths
    assert onsets_per_step(held)[0, 1].tolist() == [1.0] + [0.0] * 15
    assert onsets_per_step(repeated)[0, 1].tolist() == [1.0, 0.0] * 8
    critic = Critic(config(critic_stats=True, critic_onsets=True))
    previous, condition = torch.zeros(2, 3, 16, 60), torch.zeros(2, 13)
    assert critic(torch.cat([held, repeated]), previous, condition).shape == (2,)
    with pytest.raises(ValueError, match="voices"):
        config(voices=(3,))


def test_bar_statistics_count_rows_note_starts_pitch_classes_and_empty_bars() -> None:
    bars = torch.zeros(2, 3, 16, 60)
    bars[0, 1, :8, 10] = 1.0  # bass: a half note on pitch class 10 ...
    bars[0, 1, 8:, 22] = 1.0  # ... then the same class an octave up
    bars[0, 2, ::4, 0] = 1.0  # chords: four quarter-bar blips on class 0 ...
    bars[0, 2, 0, 4] = 1.0  # ... one of them with class 4
    stats = bar_statistics(bars).reshape(2, 3, 34)  # per track: 16 rows sounding, 16 starts, classes, empty
    assert stats[0, 1, :16].tolist() == [1.0] * 16
    assert stats[0, 1, 16:32].tolist() == [1.0] + [0.0] * 7 + [1.0] + [0.0] * 7
    assert stats[0, 1, 32:].tolist() == [1.0, 0.0]  # one pitch class, not empty
    assert stats[0, 2, 32:].tolist() == [2.0, 0.0]
    assert stats[0, 0, 32:].tolist() == [0.0, 1.0] and stats[1, :, 32:].tolist() == [[0.0, 1.0]] * 3
    # transposing a pitched track leaves every statistic as it was
    moved = bars.clone()
    moved[:, 1] = torch.roll(bars[:, 1], 5, dims=2)
    assert torch.equal(bar_statistics(moved), bar_statistics(bars))


def test_the_statistics_loss_is_zero_at_the_target_and_pulls_a_lone_pitch_class_away() -> None:
    bars = torch.zeros(4, 3, 16, 60)
    bars[:, 2, :, 0] = 1.0
    mean, scale = bar_statistics(bars).mean(0), torch.ones(3 * 34)
    assert float(statistics_loss(bars, mean, scale)) == 0.0
    blip = bars.clone().requires_grad_(True)
    with torch.no_grad():
        blip[:, 2, 3, 7] = 1.0  # a one-step note on a class of its own: one class too many
    loss = statistics_loss(blip, mean, scale)
    assert float(loss.detach()) > 0.0
    loss.backward()
    assert blip.grad is not None and float(blip.grad[0, 2, 3, 7]) > 0.0  # descent turns it off


def test_configs_refuse_shapes_the_networks_cannot_build() -> None:
    with pytest.raises(ValueError, match="multiple of 12"):
        config(n_pitches=50)
    with pytest.raises(ValueError, match="binary_neuron"):
        config(binary_neuron="sometimes")


def test_bar_sets_keep_four_four_pieces_in_order_and_count_the_rest() -> None:
    pieces = synthetic_pieces(3, 4) + synthetic_pieces(2, 3, meter=(3, 4), seed=9)
    bars = build_bar_set(pieces, SPEC)
    assert len(bars) == 12 and len(bars.piece_ids) == 3
    assert bars.counts["pieces skipped (meter)"] == 2
    assert bars.counts["bars skipped (meter 3/4)"] == 6
    assert bars.previous.tolist() == [-1, 0, 1, 2, -1, 4, 5, 6, -1, 8, 9, 10]
    assert bars.counts["pairs (bar with a previous bar)"] == 9


def test_transposition_moves_pitched_tracks_by_octave_folding_and_leaves_drums() -> None:
    roll = np.zeros((2, *SPEC.bar_shape), bool)
    roll[:, 0, 0, 3] = True  # a drum hit
    roll[:, 1, 0, 46] = True  # bass A#4 (row 46 of 48)
    roll[:, 2, 0, 0] = True  # chords C2
    moved = transpose_rolls(roll, np.array([3, -2]), SPEC)
    assert moved[:, 0].sum() == 2 and moved[0, 0, 0, 3] and moved[1, 0, 0, 3]
    assert moved[0, 1, 0, 46 + 3 - 12] and moved[1, 1, 0, 44]  # up 3 folds an octave down
    assert moved[0, 2, 0, 3] and moved[1, 2, 0, 10]  # down 2 folds an octave up


def test_batches_drop_the_condition_at_the_asked_rate() -> None:
    bars = build_bar_set(synthetic_pieces(4, 6), SPEC)
    rng = np.random.default_rng(0)
    with_prev = bars.pair_indices
    kept = make_batch(bars, with_prev, rng, transpose=True, cond_dropout=0.0)
    assert (kept.condition[:, -1] == 1).all() and kept.previous.any(axis=(1, 2, 3)).all()
    np.testing.assert_allclose(kept.condition[:, :12].sum(1), 1.0, rtol=1e-5)
    dropped = make_batch(bars, with_prev, rng, cond_dropout=0.999)
    assert not dropped.condition.any() and not dropped.previous.any()
    first = make_batch(bars, np.flatnonzero(bars.previous < 0), rng)
    assert not first.condition.any()


def test_chorales_use_four_voices_of_four_octaves_each_on_aligned_pitch_classes_one_note_at_a_time() -> None:
    spec = chorale_spec()
    assert [t.name for t in spec.tracks] == ["soprano", "alto", "tenor", "bass"]
    assert spec.bar_shape == (4, 16, 48)
    assert {t.lowest_pitch % 12 for t in spec.tracks} == {0}  # row r: one pitch class in every voice
    bars = build_bar_set(synthetic_pieces(2, 3, kind="chorales"), spec)
    assert bars.bars.any(axis=(0, 2, 3)).all()
    assert monophonic_tracks(bars) == ["soprano", "alto", "tenor", "bass"]
    assert monophonic_tracks(build_bar_set(synthetic_pieces(2, 3), SPEC)) == ["bass"]  # chords are chords


def _synthetic_training(monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """``antiphon train gan``'s parser, its data loader answering with synthetic pieces."""
    from training.gan import train as train_gan

    pieces = synthetic_pieces(6, 6)
    monkeypatch.setattr(gan_data, "load_bar_set",
                        lambda data, sources, split, spec=None, max_bars=None: build_bar_set(pieces, spec or SPEC))
    parser = argparse.ArgumentParser()
    train_gan.configure(parser)
    return parser


def test_a_short_training_run_writes_checkpoint_log_and_samples_and_resumes(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from training.gan import train as train_gan
    from training.gan.checkpoint import load_checkpoint

    parser = _synthetic_training(monkeypatch)
    out = tmp_path / "run"
    common = ["--out", str(out), "--batch-size", "8", "--n-critic", "2", "--z-dim", "4", "--g-channels", "8",
              "--d-channels", "8", "--enc-channels", "4", "--binary-neuron", "deterministic"]
    assert train_gan.main(parser.parse_args([*common, "--epochs", "1"])) == 0
    assert (out / "checkpoint.pt").is_file() and (out / "samples" / "epoch_001.png").is_file()
    assert (out / "samples" / "epoch_001.mid").is_file() and (out / "train.log").is_file()
    assert train_gan.main(parser.parse_args([*common, "--epochs", "2", "--resume"])) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert "bass_UPC" in rows[0] and "key_cond" in rows[0]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.training["epochs"] == 2 and ckpt.config.binary_neuron == "deterministic"
    assert int(rows[1]["g_steps"]) == ckpt.resume["g_steps"] > int(rows[0]["g_steps"])


def test_training_stops_at_the_asked_step_evaluates_at_the_asked_epochs_and_keeps_the_best(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.gan import train as train_gan
    from training.gan.checkpoint import load_checkpoint

    parser = _synthetic_training(monkeypatch)
    out = tmp_path / "run"
    args = ["--out", str(out), "--batch-size", "4", "--n-critic", "1", "--z-dim", "4", "--g-channels", "8",
            "--d-channels", "8", "--enc-channels", "4", "--steps", "40", "--eval-every", "2", "--sample-every", "0", "--keep-best"]
    assert train_gan.main(parser.parse_args(args)) == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.training["g_steps"] == ckpt.resume["g_steps"] == 40  # not the epoch's end: the step asked for
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    evaluated = [int(r["epoch"]) for r in rows if r["key_cond"]]
    assert len(rows) == 5 and evaluated == [1, 2, 4, 5]  # 9 steps an epoch; the last one always
    scored = [(float(r["select_gap"]), int(r["select_misses"]), int(r["epoch"])) for r in rows if r["select_misses"]]
    assert [e for _, _, e in scored] == evaluated
    best = load_checkpoint(out / "best.pt")
    assert best.training["best"]["epoch"] == min(scored)[2] == best.training["epochs"]


def test_the_training_loop_and_the_speed_benchmark_take_the_same_steps(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import training_speed
    from training.gan import steps
    from training.gan import train as train_gan

    taken: list[str] = []

    def counted(name: str) -> Any:
        real = getattr(steps, name)

        def step(*args: Any, **kwargs: Any) -> Any:
            taken.append(name)
            return real(*args, **kwargs)
        return step

    for name in ("critic_step", "generator_step"):
        monkeypatch.setattr(steps, name, counted(name))
    timed = training_speed._gan(torch, tmp_path / "no-data", [torch.device("cpu")], steps=1)
    assert len(timed["cpu"]["times_s"]) == 1
    assert taken == ["critic_step", "critic_step", "critic_step", "generator_step"]  # n_critic 3, 2 warm-up steps
    taken.clear()
    parser = _synthetic_training(monkeypatch)
    args = ["--out", str(tmp_path / "run"), "--batch-size", "4", "--n-critic", "2", "--z-dim", "4", "--g-channels",
            "8", "--d-channels", "8", "--enc-channels", "4", "--steps", "2", "--sample-every", "0"]
    assert train_gan.main(parser.parse_args(args)) == 0
    assert taken == ["critic_step", "critic_step", "generator_step"] * 2


def test_likeliest_rows_keep_one_row_per_step_of_a_voice_as_the_daemon_plays_it() -> None:
    from daemon.music.voices import one_per_step

    probs = torch.rand(3, 4, 16, 48, generator=torch.Generator().manual_seed(1))
    hard = binary_neuron(probs, "deterministic")
    played = hard * likeliest_rows(probs, [0, 3])
    daemon = one_per_step(probs.numpy(), [0, 3]) > 0.5
    assert torch.equal(played.bool(), torch.from_numpy(daemon))
    assert torch.equal(played[:, 1:3], hard[:, 1:3])  # tracks that are not voices keep every row
    assert int(played[:, 0].sum(dim=-1).max()) == 1


def test_training_with_statistics_matching_records_the_weight_and_refuses_a_negative_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.errors import AntiphonError
    from training.gan import train as train_gan
    from training.gan.checkpoint import load_checkpoint

    parser = _synthetic_training(monkeypatch)
    out = tmp_path / "run"
    args = ["--out", str(out), "--batch-size", "4", "--n-critic", "1", "--z-dim", "4", "--g-channels", "8",
            "--d-channels", "8", "--enc-channels", "4", "--steps", "6", "--sample-every", "0"]
    assert train_gan.main(parser.parse_args([*args, "--match-stats", "5"])) == 0
    assert load_checkpoint(out / "checkpoint.pt").training["match_stats"] == 5.0
    assert "statistics gap" in (out / "train.log").read_text()
    with pytest.raises(AntiphonError, match="--match-stats"):
        train_gan.main(parser.parse_args([*args, "--out", str(tmp_path / "bad"), "--match-stats", "-1"]))


def test_chained_bars_go_on_from_their_own_previous_bar() -> None:
    from training.gan.evaluate import chained_bars

    torch.manual_seed(0)
    generator = Generator(config()).eval()
    starts = build_bar_set(synthetic_pieces(2, 3), SPEC).bars[:3]
    bars, before = chained_bars(generator, SPEC, starts, n_bars=7, chain_length=3, seed=1)
    assert bars.shape == before.shape == (9, *SPEC.bar_shape) and bars.dtype == bool
    assert (before[:3] == starts).all()  # position 1 answers the real bar
    assert (before[3:] == bars[:6]).all()  # position k answers the model's own bar k-1


def test_the_generator_sees_a_thinned_previous_bar_for_the_asked_share_of_pairs() -> None:
    from training.gan.conditioning import thinned_previous

    bars = build_bar_set(synthetic_pieces(4, 6), SPEC)
    batch = make_batch(bars, np.concatenate([bars.pair_indices[:6], np.flatnonzero(bars.previous < 0)[:2]]),
                       np.random.default_rng(0), transpose=False)
    assert not batch.condition[-2:].any()  # the last two pairs have no previous bar
    prev, cond = torch.from_numpy(batch.previous), torch.from_numpy(batch.condition)
    torch.manual_seed(0)
    seen, seen_cond = thinned_previous(prev, cond, share=0.5, max_rate=0.9, spec=SPEC)
    assert torch.equal(seen[4:], prev[4:]) and torch.equal(seen_cond[4:], cond[4:])  # the other half untouched
    assert (seen[:4] <= prev[:4]).all() and seen[:4].sum() < prev[:4].sum()  # notes only removed
    assert (seen_cond[:4, -1] == 1).all()  # still a previous bar
    assert thinned_previous(prev, cond, share=0.0, max_rate=0.5, spec=SPEC)[0] is prev


def test_the_generator_sees_a_thickened_previous_bar_for_the_pairs_after_the_thinned_ones() -> None:
    from training.gan.conditioning import thickened_previous

    bars = build_bar_set(synthetic_pieces(4, 6), SPEC)
    batch = make_batch(bars, np.concatenate([bars.pair_indices[:6], np.flatnonzero(bars.previous < 0)[:2]]),
                       np.random.default_rng(0), transpose=False)
    prev, cond = torch.from_numpy(batch.previous), torch.from_numpy(batch.condition)
    torch.manual_seed(0)
    seen, seen_cond = thickened_previous(prev, cond, start=0.25, share=0.5, max_rate=1.0, spec=SPEC)
    untouched = [0, 1, 6, 7]
    assert torch.equal(seen[untouched], prev[untouched]) and torch.equal(seen_cond[untouched], cond[untouched])
    assert (seen[2:6] >= prev[2:6]).all() and seen[2:6].sum() > prev[2:6].sum()  # notes only added
    for i in range(2, 6):  # every added note is one of the bar's own, moved by one or two steps
        added = (seen[i] > prev[i]).nonzero()
        assert len(added) and all(any(prev[i, t, (s - d) % SPEC.steps_per_bar, p] for d in (-2, -1, 1, 2))
                                  for t, s, p in added.tolist())
    assert not torch.equal(seen_cond[2:6], cond[2:6]) and (seen_cond[2:6, -1] == 1).all()
    empty, empty_cond = thickened_previous(prev, cond, start=0.75, share=0.25, max_rate=1.0, spec=SPEC)
    assert not empty[6:].any() and not empty_cond[6:].any()  # no previous bar: nothing to thicken
    assert thickened_previous(prev, cond, start=0.25, share=0.0, max_rate=1.0, spec=SPEC)[0] is prev


def test_beat_chroma_summaries_say_which_pitch_classes_sound_in_each_beat() -> None:
    from training.gan.model import chroma_per_beat

    x = torch.zeros(1, 3, 16, 60)
    x[0, 2, 0:4, 12 + 4] = 1.0  # chords: row 4 of the second octave for the whole first beat
    x[0, 2, 4:6, 7] = 1.0  # half of the second beat on row 7
    beats = chroma_per_beat(x)
    assert beats.shape == (1, 3, 4, 12)
    assert beats[0, 2, 0, 4] == 1.0 and beats[0, 2, 1, 7] == 0.5 and beats.sum() == 1.5
    critic = Critic(config(critic_stats=True, critic_beats=True))
    assert critic(x, torch.zeros_like(x), torch.zeros(1, 13)).shape == (1,)


def test_the_command_line_offers_exactly_the_binary_neurons_the_model_knows() -> None:
    from training.gan import model as gan
    from training.gan import train as train_gan

    assert train_gan.BINARY_NEURONS == gan.BINARY_NEURONS


def tiny_chorale_eval(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Any], argparse.ArgumentParser]:
    """The tiny chorale checkpoint, the synthetic pieces its corpus reads as (change them in place)
    and the ``gan-eval`` parser."""
    from tests.export.tiny_gan import cached_tiny_gan
    from training.gan import evaluate as evaluate_gan

    checkpoint, _ = cached_tiny_gan(tmp_path_factory, "chorales")
    pieces = synthetic_pieces(4, 9, kind="chorales")
    monkeypatch.setattr(gan_data, "load_bar_set",
                        lambda data, sources, split, spec=None, max_bars=None: build_bar_set(pieces, spec))
    parser = argparse.ArgumentParser()
    evaluate_gan.configure(parser)
    return checkpoint, pieces, parser


def test_gan_eval_writes_the_table_and_decodes_voices_as_asked(tmp_path: Path,
                                                              tmp_path_factory: pytest.TempPathFactory,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from training.gan import evaluate as evaluate_gan

    checkpoint, pieces, parser = tiny_chorale_eval(tmp_path_factory, monkeypatch)
    shapes, raw = {}, {}
    for cost in ("0", "2"):
        out = tmp_path / cost
        args = parser.parse_args(["--checkpoint", str(checkpoint), "--bars", "64", "--chain", "4",
                                  "--voice-switch-cost", cost, "--out", str(out)])
        assert evaluate_gan.main(args) == 0
        result = json.loads((out / "eval.json").read_text())
        assert result["voice_switch_cost"] == dict.fromkeys(("soprano", "alto", "tenor"), float(cost))
        assert (out / "compare.png").is_file()
        markdown = (out / "eval.md").read_text()
        assert ("switch costs soprano 2, alto 2, tenor 2" in markdown) is (cost == "2")
        assert "## Silent tracks stay silent" in markdown
        assert set(result["generated"]["conditioned/threshold"]["silence_kept"]) == {"soprano", "alto", "tenor", "bass"}
        assert "silence_kept" not in result["generated"]["unconditioned/threshold"]  # no previous bar to keep
        rows = [line for line in markdown.splitlines() if line.startswith("|")]
        for header, rule in itertools.pairwise(rows):
            if set(rule) <= set("|-"):  # every table's rule has as many columns as its header
                assert rule.count("|") == header.count("|"), header
        shapes[cost] = result["generated"]["conditioned/bernoulli"]["note_shapes"]
        raw[cost] = result["generated"]["conditioned/threshold, no voice decoding"]["note_shapes"]
    np.testing.assert_equal(raw["2"], raw["0"])  # the column without voice decoding is the model's own
    pieces[:] = synthetic_pieces(4, 4, kind="chorales")  # no piece long enough for the picture's 8 bars
    assert evaluate_gan.main(parser.parse_args(["--checkpoint", str(checkpoint), "--bars", "16", "--chain", "0",
                                                "--out", str(tmp_path / "short")])) == 0
    assert (tmp_path / "short" / "eval.md").is_file() and not (tmp_path / "short" / "compare.png").exists()
    np.testing.assert_equal(shapes["2"], shapes["0"])  # Bernoulli draws each step on its own, whatever the cost
    with pytest.raises(Exception, match="voice switch cost"):
        evaluate_gan.main(parser.parse_args(["--checkpoint", str(checkpoint), "--voice-switch-cost", "-1"]))


def test_gan_eval_measures_bars_chosen_among_candidates_as_the_daemon_chooses(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from daemon.music.voices import note_length_log_p, note_lengths
    from training.gan import evaluate as evaluate_gan
    from training.gan.checkpoint import choose_among, load_checkpoint

    checkpoint, pieces, parser = tiny_chorale_eval(tmp_path_factory, monkeypatch)
    results = {}
    for name, extra in (("one", []), ("best", ["--candidates", "4", "--length-prior", "0.5"])):
        args = parser.parse_args(["--checkpoint", str(checkpoint), "--bars", "64", "--chain", "4", "--out",
                                  str(tmp_path / name), *extra])
        assert evaluate_gan.main(args) == 0
        results[name] = json.loads((tmp_path / name / "eval.json").read_text())
    assert results["best"]["candidates"] == 4 and results["best"]["length_prior"] == 0.5
    assert "best of 4 candidates each" in (tmp_path / "best" / "eval.md").read_text()
    one, best = results["one"]["generated"], results["best"]["generated"]
    for column in ("conditioned/bernoulli", "unconditioned/threshold", "conditioned/threshold, no voice decoding"):
        assert one[column] == best[column]  # these draw one bar, with or without candidates

    ckpt = choose_among(load_checkpoint(checkpoint), 4, 50.0, "data")
    with torch.no_grad():  # random weights leave every cell under the threshold: lift them to it
        ckpt.generator.out.bias.fill_(0.0)
    selection = evaluate_gan.Selection.of(ckpt)
    assert selection.candidates == 4 and selection.tracks == (0, 1, 2) and selection.weight == 50.0
    bars = build_bar_set(pieces, ckpt.spec).bars
    np.testing.assert_allclose(selection.log_p, note_length_log_p(bars, [0, 1, 2]), atol=1e-6)  # kept to 6 places
    previous = bars[:32]
    chosen = evaluate_gan.thresholded_bars(ckpt.generator, ckpt.spec, previous, 32, 5, [0, 1, 2], selection=selection)
    first = evaluate_gan.thresholded_bars(ckpt.generator, ckpt.spec, previous, 32, 5, [0, 1, 2])

    def likelihood(active: np.ndarray) -> float:
        return float((note_lengths(active, [0, 1, 2])[:, :, 1:] * selection.log_p[None]).sum())

    assert first.any(axis=(1, 2, 3)).all()
    assert likelihood(chosen) > likelihood(first)  # the prior outweighs the critic at this weight


class _FixedRolls(torch.nn.Module):
    """A stand-in generator that returns the same rolls whatever the noise."""

    def __init__(self, rolls: np.ndarray) -> None:
        super().__init__()
        self.config = config()
        self.rolls = torch.from_numpy(rolls)

    def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.rolls.clone()


def test_a_pitch_class_floor_drops_the_classes_a_bar_barely_plays() -> None:
    from training.gan.checkpoint import pitch_class_floors

    chords, bass = 2, 1  # groove rows: chords from C2 (row r is pitch class r % 12), bass from C1
    rolls = np.zeros((2, *SPEC.bar_shape), np.float32)
    bar = rolls[0]
    bar[chords, 0:4, 24] = 0.9  # C: four steps ...
    bar[chords, 8, 36] = 0.9  # ... and one an octave up: weight 4.5
    bar[chords, 4:6, 31] = 0.8  # G: 1.6, above 0.15 x 4.5
    bar[chords, 12, 30] = 0.6  # F#: 0.6, below 0.675
    bar[chords, 0:16, 26] = 0.4  # D: under the threshold everywhere, weight 0
    bar[chords, 14, 28] = 0.55  # E: as weak as the F#, but the bass plays it
    bar[bass, 6:8, 4] = 0.9
    bar[bass, 3, 13] = 0.55  # a lone weak C# in the bass: the bass has no floor
    rolls[1, bass, :, 12] = 0.9  # a bar with silent chords: nothing to drop
    floored = PitchClassFloor(_FixedRolls(rolls), {chords: 0.15}, tuple(t.lowest_pitch for t in SPEC.tracks),
                              pitched=(bass, chords))
    with torch.no_grad():
        out = floored(torch.zeros(2, 4), torch.zeros(2, *SPEC.bar_shape), torch.zeros(2, 13)).numpy()
    np.testing.assert_array_equal(out[0, chords, :, [24, 36, 31, 28]], bar[chords, :, [24, 36, 31, 28]])
    assert not out[0, chords, :, [30, 26]].any()
    np.testing.assert_array_equal(out[:, :chords], rolls[:, :chords])  # drums and bass as they were
    np.testing.assert_array_equal(out[1], rolls[1])
    assert pitch_class_floors("chords=0.15, bass=0", SPEC) == {"chords": 0.15}
    assert pitch_class_floors("", SPEC) == {} and pitch_class_floors(None, SPEC) == {}
    for bad, message in (("drums=0.1", "not a pitched track"), ("chords=1", "from 0 to below 1"),
                         ("chords", "give track=number"), ("chords=lots", "give track=number")):
        with pytest.raises(ModelError, match=message):
            pitch_class_floors(bad, SPEC)


def test_candidates_of_a_previous_bar_are_the_bars_of_the_bar_repeated() -> None:
    torch.manual_seed(0)
    generator = Generator(config()).eval()
    for layer in (generator.bn0, generator.bn1, generator.bn2):  # running statistics other than the initial ones
        layer.norm.running_mean.uniform_(-0.5, 0.5)
        layer.norm.running_var.uniform_(0.5, 2.0)
    previous = (torch.rand(3, *SPEC.bar_shape) < 0.1).float() * generator.row_mask
    previous[1, 0] = 0.0  # the second without drums: the restart floor at work
    condition = torch.rand(3, 13)
    condition[2] = 0.0  # the third unconditioned
    condition[:2, -1] = 1.0
    floored = RestartFloor(HoldFloor(PitchClassFloor(generator, {2: 0.3}, tuple(t.lowest_pitch for t in SPEC.tracks),
                                                     pitched=(1, 2)), {1: 0.3}), {0: 3, 1: 2})
    for k in (1, 5):
        noise = torch.randn(3, k, 4)
        repeated = (noise.reshape(-1, 4), previous.repeat_interleave(k, 0), condition.repeat_interleave(k, 0))
        with torch.no_grad():
            for model in (generator, floored):
                shared = model.candidates(noise, previous, condition)
                assert shared.shape == (3 * k, *SPEC.bar_shape)
                torch.testing.assert_close(shared, model(*repeated), rtol=0, atol=2e-6)


def test_a_restart_floor_keeps_a_silent_track_silent_unless_it_comes_back_with_a_pattern() -> None:
    from training.gan.checkpoint import restart_floors

    drums = 0
    rolls = np.zeros((4, *SPEC.bar_shape), np.float32)
    rolls[:, drums, 0:3, 2] = 0.9  # three hits in every bar: under a floor of 4 cells
    rolls[:, drums, 5, 3] = 0.45  # and one cell under the threshold, which does not count
    rolls[1, drums, 8:12, 4] = 0.8  # bar 1: seven hits, a pattern
    rolls[:, 1, 0, 5] = 0.9  # the bass is not floored
    previous = torch.zeros(4, *SPEC.bar_shape)
    previous[2, drums, 0, 0] = 1.0  # bar 2 follows a bar with drums
    condition = torch.zeros(4, 13)
    condition[:3, -1] = 1.0  # bar 3: nothing before (unconditioned)
    floored = RestartFloor(_FixedRolls(rolls), {drums: 4})
    with torch.no_grad():
        out = floored(torch.zeros(4, 4), previous, condition).numpy()
    assert not out[0, drums].any(), "silent before, three hits: stray, dropped"
    np.testing.assert_array_equal(out[1:], rolls[1:])  # a pattern, drums before, nothing before: as they were
    np.testing.assert_array_equal(out[:, 1:], rolls[:, 1:])
    assert restart_floors("drums=8", SPEC) == {"drums": 8} and restart_floors("drums=0", SPEC) == {}
    for bad, message in (("flute=2", "not a track"), ("drums=-1", "whole number"), ("drums=1.5", "give track=cells"),
                         ("drums", "give track=cells")):
        with pytest.raises(ModelError, match=message):
            restart_floors(bad, SPEC)


def test_a_hold_floor_lets_a_begun_note_go_on_while_its_row_stays_likely() -> None:
    from training.gan.checkpoint import hold_floors
    from training.gan.floors import HELD, HoldFloor

    bass = 1
    rolls = np.zeros((2, *SPEC.bar_shape), np.float32)
    rolls[0, bass, 0:8, 5] = [0.9, 0.4, 0.35, 0.2, 0.4, 0.9, 0.45, 0.1]  # a note, held two steps, a break, ...
    rolls[0, bass, 9:12, 7] = [0.4, 0.45, 0.4]  # likely, but no note began: untouched
    rolls[1, bass, 14:16, 3] = [0.6, 0.31]  # held into the bar's last step
    rolls[:, 2, 0:4, 9] = [0.9, 0.4, 0.4, 0.4]  # the chord track is not floored
    floored = HoldFloor(_FixedRolls(rolls), {bass: 0.3})
    with torch.no_grad():
        out = floored(torch.zeros(2, 4), torch.zeros(2, *SPEC.bar_shape), torch.zeros(2, 13)).numpy()
    np.testing.assert_allclose(out[0, bass, 0:8, 5], [0.9, HELD, HELD, 0.2, 0.4, 0.9, HELD, 0.1])
    np.testing.assert_array_equal(out[0, bass, 9:12, 7], rolls[0, bass, 9:12, 7])
    np.testing.assert_allclose(out[1, bass, 14:16, 3], [0.6, HELD])
    np.testing.assert_array_equal(out[:, 2], rolls[:, 2])
    changed = out != rolls
    assert changed.sum() == 4, "only the cells that continue a note change"
    assert hold_floors("bass=0.3", SPEC) == {"bass": 0.3} and hold_floors("", SPEC) == {}
    for bad, message in (("drums=0.3", "not a pitched track"), ("bass=0.6", "below the threshold"),
                         ("bass", "give track=number")):
        with pytest.raises(ModelError, match=message):
            hold_floors(bad, SPEC)
