"""Export of the GAN generator: onnxruntime reproduces PyTorch, and the file says what it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from daemon.errors import ModelError
from daemon.models.gan import GanModel, load_gan, open_gan
from daemon.models.onnx_file import open_session
from daemon.music.bar_features import condition_features
from daemon.music.voices import decode_voices
from export.gan import check_gan_parity, export_gan
from tests.export.tiny_gan import cached_tiny_gan
from training.gan.data import groove_spec


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return cached_tiny_gan(tmp_path_factory, "grooves")


def test_onnxruntime_reproduces_pytorch_bar_for_bar(tiny: tuple[Path, Path]) -> None:
    checkpoint, model = tiny
    report = check_gan_parity(checkpoint, model, bars=32, chained_bars=8)
    assert report.ok, report.summary()
    assert report.max_abs_diff <= 1e-4
    assert report.chained_equal
    assert report.flipped_cells == 0


def test_parity_holds_with_voice_decoding(tmp_path_factory: pytest.TempPathFactory) -> None:
    checkpoint, model = cached_tiny_gan(tmp_path_factory, "chorales")
    assert open_gan(model).monophonic == (0, 1, 2)
    report = check_gan_parity(checkpoint, model, bars=16, chained_bars=8)
    assert report.ok, report.summary()
    bars = open_gan(model).sample_bars(4, None, np.random.default_rng(0), threshold=None)
    assert (bars.active[:, :3].sum(axis=3) <= 1).all()  # Bernoulli draws too: one note per step per voice


def test_a_voice_switch_cost_travels_in_the_file_with_parity(tmp_path_factory: pytest.TempPathFactory,
                                                            tmp_path: Path) -> None:
    checkpoint, _ = cached_tiny_gan(tmp_path_factory, "chorales")
    model = export_gan(checkpoint, tmp_path / "lines.onnx", switch_cost=1.5)
    gan = open_gan(model)
    assert gan.switch_costs == (1.5, 1.5, 1.5)  # soprano, alto, tenor: the tiny model's voices
    assert gan.metadata["training"]["voice_switch_cost"] == {"soprano": 1.5, "alto": 1.5, "tenor": 1.5}
    report = check_gan_parity(checkpoint, model, bars=16, chained_bars=8, switch_cost=1.5)
    assert report.ok, report.summary()
    for threshold in (0.5, None):
        bars = gan.sample_bars(4, None, np.random.default_rng(0), threshold=threshold)
        assert (bars.active[:, :3].sum(axis=3) <= 1).all()
    onnx_model = onnx.load(str(model))
    for prop in onnx_model.metadata_props:
        if prop.key == "antiphon.training":
            data = json.loads(prop.value)
            data["voice_switch_cost"] = -1
            prop.value = json.dumps(data)
    bad = tmp_path / "negative.onnx"
    onnx.save(onnx_model, str(bad))
    with pytest.raises(ModelError, match="voice switch cost -1 must be a finite number"):
        open_gan(bad)
    with pytest.raises(ModelError, match="voice switch cost"):
        export_gan(checkpoint, tmp_path / "x.onnx", switch_cost=-0.5)
    with pytest.raises(ModelError, match="name bass, which this model does not decode as voices"):
        export_gan(checkpoint, tmp_path / "x.onnx", switch_cost="soprano=1,bass=0.5")
    per_voice = open_gan(export_gan(checkpoint, tmp_path / "per-voice.onnx", switch_cost="alto=0.5,soprano=2"))
    assert per_voice.switch_costs == (2.0, 0.5, 0.0)
    assert check_gan_parity(checkpoint, tmp_path / "per-voice.onnx", bars=8, chained_bars=4,
                            switch_cost={"soprano": 2, "alto": 0.5}).ok


def test_the_file_carries_the_gan_contract_in_its_metadata(tiny: tuple[Path, Path]) -> None:
    _, model = tiny
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(model)).metadata_props}
    assert meta["antiphon.format"] == "1"
    assert meta["antiphon.kind"] == "gan"
    assert meta["antiphon.representation"] == groove_spec().to_dict()
    assert meta["antiphon.inputs"] == ["noise", "previous", "condition"]
    assert meta["antiphon.outputs"] == ["roll"]
    assert meta["antiphon.model_config"]["z_dim"] == 4
    assert meta["antiphon.training"]["sources"] == ["synthetic"]
    assert "antiphon.metrics" in meta


def test_the_daemon_samples_any_batch_and_masks_rows_a_track_lacks(tiny: tuple[Path, Path]) -> None:
    _, path = tiny
    model = open_gan(path)
    rng = np.random.default_rng(0)
    roll = model.roll(None, rng, n=5)  # (5, T, S, P)
    assert roll.shape == (5, *groove_spec().bar_shape)
    assert ((roll >= 0) & (roll <= 1)).all()
    assert not roll[:, 0, :, 9:].any()  # drums have 9 rows
    assert not roll[:, 1, :, 48:].any()  # bass has 48
    bars = model.sample_bars(3, None, np.random.default_rng(1), threshold=None)
    assert bars.active.shape == (3, *groove_spec().bar_shape)


def test_load_gan_reads_model_info_and_raw_metadata_alike(tiny: tuple[Path, Path]) -> None:
    _, path = tiny
    session, info = open_session(path)
    from_info = load_gan(session, info)
    from_raw = load_gan(session, session.get_modelmeta().custom_metadata_map)
    assert from_info.spec == from_raw.spec == groove_spec()
    assert from_info.z_dim == from_raw.z_dim == 4


def test_an_unknown_representation_version_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    _, path = tiny
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "antiphon.representation":
            data = json.loads(prop.value)
            data["version"] = 2
            prop.value = json.dumps(data)
    bad = tmp_path / "future.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ModelError, match="version 2 is not known"):
        open_gan(bad)


def test_the_voice_decoding_a_model_was_trained_for_travels_in_its_file(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    _, path = cached_tiny_gan(tmp_path_factory, "chorales")
    assert open_gan(path).any_row is False  # no voice neurons in training: the likeliest row, as thresholded
    model = onnx.load(str(path))
    for decoding, expected in (("any-row", True), ("loudest", None)):
        for prop in model.metadata_props:
            if prop.key == "antiphon.training":
                data = json.loads(prop.value)
                data["voice_decoding"] = decoding
                prop.value = json.dumps(data)
        changed = tmp_path / f"{decoding}.onnx"
        onnx.save(model, str(changed))
        if expected is None:
            with pytest.raises(ModelError, match="voice decoding 'loudest'"):
                open_gan(changed)
        else:
            gan = open_gan(changed)
            assert gan.any_row is expected
            bars = gan.sample_bars(4, None, np.random.default_rng(0))
            assert (bars.active[:, :3].sum(axis=3) <= 1).all()


def test_an_lstm_file_is_not_taken_for_a_gan(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.export.tiny_lstm import cached_tiny_model

    _, lstm = cached_tiny_model(tmp_path_factory, "chords")
    with pytest.raises(ModelError, match="not a GAN"):
        open_gan(lstm)


def test_exporting_a_missing_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        export_gan(tmp_path / "nothing.pt", tmp_path / "x.onnx")


def test_the_trained_weights_export_with_parity_and_say_so(tmp_path: Path) -> None:
    import torch

    from training.gan.checkpoint import load_checkpoint, save_checkpoint
    from training.gan.model import Critic, GanConfig, Generator

    spec = groove_spec()
    config = GanConfig(n_tracks=3, n_steps=16, n_pitches=60, track_rows=(9, 48, 60), z_dim=4, g_channels=8,
                       d_channels=8, enc_channels=4)
    torch.manual_seed(1)
    average, trained, critic = Generator(config).eval(), Generator(config).eval(), Critic(config)
    state = {k: v.detach().clone() for k, v in trained.state_dict().items()}
    run = save_checkpoint(tmp_path / "checkpoint.pt", config, spec, average, critic, {"sources": ["synthetic"]},
                          {}, {"generator_train": state})
    best = save_checkpoint(tmp_path / "best.pt", config, spec, average, critic, {"sources": ["synthetic"]}, {})

    loaded = load_checkpoint(run, "trained")
    assert all(torch.equal(loaded.generator.state_dict()[k], v) for k, v in state.items())
    assert not torch.equal(load_checkpoint(run).generator.project.weight, trained.project.weight)
    model = export_gan(run, tmp_path / "trained.onnx", "trained")
    assert check_gan_parity(run, model, bars=8, chained_bars=4, weights="trained").ok
    assert not check_gan_parity(run, model, bars=8, chained_bars=4).ok  # the average is another model
    assert open_gan(model).metadata["training"]["generator_weights"] == "trained"
    with pytest.raises(ModelError, match="keeps only the generator's moving average"):
        load_checkpoint(best, "trained")
    with pytest.raises(ModelError, match="unknown generator weights"):
        load_checkpoint(run, "newest")


def _with_training(path: Path, out: Path, **changes: object) -> Path:
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "antiphon.training":
            prop.value = json.dumps({**json.loads(prop.value), **changes})
    onnx.save(model, str(out))
    return out


def test_candidates_travel_in_the_file_with_the_critic_and_the_daemon_plays_the_best(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    checkpoint, plain = cached_tiny_gan(tmp_path_factory, "chorales")
    model = export_gan(checkpoint, tmp_path / "best-of-4.onnx", switch_cost=0.3, candidates=4)
    gan = open_gan(model)
    assert gan.candidates == 4 and gan.metadata["training"]["candidates"] == 4
    assert [o.name for o in gan.session.get_outputs()] == ["roll", "score"]
    report = check_gan_parity(checkpoint, model, bars=16, chained_bars=8, switch_cost=0.3)
    assert report.ok, report.summary()  # critic scores and chosen chains agree with PyTorch
    previous = gan.sample_bars(3, None, np.random.default_rng(1)).active  # (3, T, S, P)
    roll, scores = gan.scored(np.repeat(previous, 4, axis=0), np.random.default_rng(2), 12)
    assert roll.shape == (12, *gan.spec.bar_shape) and scores.shape == (12,)
    best = scores.reshape(3, 4).argmax(axis=1)
    decoded = decode_voices(roll, gan.monophonic, False, gan.switch_costs, 0.5) > 0.5
    chosen = gan.sample_batch(previous, np.random.default_rng(2)).active
    assert np.array_equal(chosen, decoded.reshape(3, 4, *gan.spec.bar_shape)[np.arange(3), best])
    one = gan.sample_batch(None, np.random.default_rng(2), n=3).active  # nothing before: one candidate
    assert np.array_equal(one, open_gan(tmp_path / "best-of-4.onnx").sample_batch(None, np.random.default_rng(2),
                                                                                    n=3).active)
    assert open_gan(plain).candidates == 1 and [o.name for o in open_gan(plain).session.get_outputs()] == ["roll"]


def test_a_choice_among_candidates_that_cannot_work_is_refused(tmp_path_factory: pytest.TempPathFactory,
                                                                tmp_path: Path) -> None:
    checkpoint, plain = cached_tiny_gan(tmp_path_factory, "chorales")
    with pytest.raises(ModelError, match="--candidates must be from 1 to 64"):
        export_gan(checkpoint, tmp_path / "x.onnx", candidates=0)
    with pytest.raises(ModelError, match="give --candidates 2 or more"):
        export_gan(checkpoint, tmp_path / "x.onnx", length_prior=0.1)
    with pytest.raises(ModelError, match="give --data"):
        export_gan(checkpoint, tmp_path / "x.onnx", candidates=4, length_prior=0.1)
    grooves, _ = cached_tiny_gan(tmp_path_factory, "grooves")
    with pytest.raises(ModelError, match="weighs voices; this model has none"):
        export_gan(grooves, tmp_path / "x.onnx", candidates=4, length_prior=0.1, data=tmp_path)
    with pytest.raises(ModelError, match="no 'score' output to choose by"):
        open_gan(_with_training(plain, tmp_path / "no-critic.onnx", candidates=4))
    with pytest.raises(ModelError, match="expected a whole number from 1 to 64"):
        open_gan(_with_training(plain, tmp_path / "half.onnx", candidates=2.5))
    scored = export_gan(checkpoint, tmp_path / "scored.onnx", candidates=2)
    prior = {"weight": 0.5, "log_p": {"soprano": [-2.0] * 16, "alto": [-3.0] * 16}}
    gan = open_gan(_with_training(scored, tmp_path / "prior.onnx", note_length_prior=prior))
    assert gan.length_tracks == (0, 1) and gan.length_weight == 0.5 and gan.length_log_p[1, 0] == -3.0
    with pytest.raises(ModelError, match="note-length prior"):
        open_gan(_with_training(scored, tmp_path / "bad-prior.onnx", note_length_prior={"weight": 1, "log_p": 3}))


def test_a_pitch_class_floor_travels_in_the_graph_with_parity(tmp_path_factory: pytest.TempPathFactory,
                                                             tmp_path: Path) -> None:
    import torch

    checkpoint, _ = cached_tiny_gan(tmp_path_factory, "grooves")
    data = torch.load(checkpoint, weights_only=False)
    bias = data["generator"]["out.bias"].view(12, 3)  # (semitone, track): random weights leave every cell
    bias[:, 2] = 0.0  # under 0.5; lift the chords to it, the bass only for a few bars
    bias[:, 1] = -0.3
    lifted = tmp_path / "lifted.pt"
    torch.save(data, lifted)
    plain = open_gan(export_gan(lifted, tmp_path / "plain.onnx"))
    floored = open_gan(export_gan(lifted, tmp_path / "floored.onnx", pitch_class_floor="chords=0.5"))
    assert floored.metadata["training"]["pitch_class_floor"] == {"chords": 0.5}
    assert "pitch_class_floor" not in plain.metadata["training"]
    report = check_gan_parity(lifted, tmp_path / "floored.onnx", bars=16, chained_bars=4)
    assert report.ok, report.summary()
    feed_rng = np.random.default_rng(3)
    previous = feed_rng.random((8, *plain.spec.bar_shape)) < 0.08
    before, after = (gan.roll(previous, np.random.default_rng(4)) for gan in (plain, floored))
    np.testing.assert_array_equal(after[:, :2], before[:, :2])  # drums and bass untouched
    chords = before[:, 2]  # (B, S, P); the chord rows start on a C
    kept = np.isclose(after[:, 2], chords) | (after[:, 2] == 0)
    assert kept.all()  # a chord row is kept whole or dropped whole
    weight = np.stack([np.where(chords > 0.5, chords, 0)[..., c::12].sum(axis=(1, 2)) for c in range(12)], 1)
    present = np.stack([chords[..., c::12].any(axis=(1, 2)) for c in range(12)], 1)  # (B, 12)
    in_bass = np.stack([(before[:, 1, :, c:48:12] > 0.5).any(axis=(1, 2)) for c in range(12)], 1)  # bass from C1
    dropped = present & np.stack([~after[:, 2, :, c::12].any(axis=(1, 2)) for c in range(12)], 1)
    assert dropped.any() and in_bass.any()
    np.testing.assert_array_equal(dropped, present & ~in_bass & (weight < 0.5 * weight.max(axis=1, keepdims=True)))
    with pytest.raises(ModelError, match="not a pitched track"):
        export_gan(lifted, tmp_path / "x.onnx", pitch_class_floor="drums=0.2")


def test_a_plain_graph_computes_no_shapes_and_a_candidate_graph_shares_the_previous_bar(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    import onnx

    checkpoint, plain = cached_tiny_gan(tmp_path_factory, "chorales")
    ops = [node.op_type for node in onnx.load(str(plain)).graph.node]
    assert "Shape" not in ops  # sizes after the batch axis are constants of the graph
    scored = open_gan(export_gan(checkpoint, tmp_path / "best-of-3.onnx", candidates=3))
    assert scored.noise_per_bar and len(scored.session.get_inputs()[0].shape) == 3
    assert not open_gan(plain).noise_per_bar
    rng = np.random.default_rng(5)
    previous = rng.random((4, *scored.spec.bar_shape)) < 0.08
    prev, cond = condition_features(previous, scored.spec)
    noise = rng.standard_normal((4, 3, scored.z_dim)).astype(np.float32)
    roll, score = scored.session.run(["roll", "score"], {"noise": noise, "previous": prev, "condition": cond})
    assert roll.shape == (4, 3, *scored.spec.bar_shape) and score.shape == (4, 3)
    (alone,) = open_gan(plain).session.run(["roll"], {"noise": noise.reshape(12, -1), "previous": np.repeat(prev, 3, 0),
                                                      "condition": np.repeat(cond, 3, 0)})
    np.testing.assert_allclose(roll.reshape(alone.shape), alone, rtol=0, atol=2e-6)  # the same bars, made once


def _lifted(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, track: int) -> Path:
    """The tiny groove checkpoint with ``track``'s output bias at 0: its cells near 0.5, on either side."""
    import torch

    checkpoint, _ = cached_tiny_gan(tmp_path_factory, "grooves")
    data = torch.load(checkpoint, weights_only=False)
    data["generator"]["out.bias"].view(12, 3)[:, track] = 0.0
    lifted = tmp_path / "lifted.pt"
    torch.save(data, lifted)
    return lifted


def _plain_and_floored(checkpoint: Path, tmp_path: Path, **floor: str) -> tuple[GanModel, GanModel]:
    """The checkpoint exported plainly and with ``floor`` (one keyword of export_gan), with parity."""
    plain = open_gan(export_gan(checkpoint, tmp_path / "plain.onnx"))
    floored = open_gan(export_gan(checkpoint, tmp_path / "floored.onnx", **floor))  # type: ignore[arg-type]
    report = check_gan_parity(checkpoint, tmp_path / "floored.onnx", bars=16, chained_bars=4)
    assert report.ok, report.summary()
    return plain, floored


def test_a_restart_floor_travels_in_the_graph_with_parity(tmp_path_factory: pytest.TempPathFactory,
                                                          tmp_path: Path) -> None:
    lifted = _lifted(tmp_path_factory, tmp_path, 0)  # drums near 0.5: about 75 cells of 144 pass
    plain, floored = _plain_and_floored(lifted, tmp_path, restart_floor="drums=75")
    assert floored.metadata["training"]["restart_floor"] == {"drums": 75}
    previous = np.random.default_rng(3).random((24, *plain.spec.bar_shape)) < 0.08
    previous[:16, 0] = False  # two thirds of the previous bars without drums
    before, after = (gan.roll(previous, np.random.default_rng(4)) for gan in (plain, floored))
    cells = (before[:, 0] > 0.5).sum(axis=(1, 2))
    dropped = ~after[:, 0].any(axis=(1, 2))  # random weights leave no drum cell at 0
    assert dropped.any() and (cells[:16] >= 75).any()
    np.testing.assert_array_equal(dropped, (np.arange(24) < 16) & (cells < 75))
    kept = ~dropped
    np.testing.assert_array_equal(after[kept], before[kept])
    np.testing.assert_array_equal(after[:, 1:], before[:, 1:])  # bass and chords untouched
    nothing_before = [gan.roll(None, np.random.default_rng(5), n=8) for gan in (plain, floored)]
    np.testing.assert_array_equal(*nothing_before)  # unconditioned bars are free
    with pytest.raises(ModelError, match="not a track"):
        export_gan(lifted, tmp_path / "x.onnx", restart_floor="cowbell=2")


def test_a_model_that_hears_chords_takes_a_chord_input_with_parity_and_its_chain_rules(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from daemon.models.gan_chain import chain_rules_of
    from daemon.music.harmony import chord_vector, parse_chord

    checkpoint, onnx_path = cached_tiny_gan(tmp_path_factory, "grooves-chords")
    report = check_gan_parity(checkpoint, onnx_path, bars=16, chained_bars=8)
    assert report.ok, report.summary()
    gan = open_gan(onnx_path)
    assert gan.hears_chords and "chord" in {i.name for i in gan.session.get_inputs()}
    assert gan.metadata["inputs"] == ["noise", "previous", "condition", "chord"]
    rules = chain_rules_of(gan)
    assert rules is not None and rules.revive_after == (1, 2, 2) and rules.candidates == 3
    rng = np.random.default_rng(0)
    c_major, f_sharp = chord_vector([parse_chord("C")]), chord_vector([parse_chord("F#")])
    a = gan.roll(None, np.random.default_rng(1), 2, c_major)
    b = gan.roll(None, np.random.default_rng(1), 2, f_sharp)
    assert not np.allclose(a, b), "the chord reaches the bars"
    assert gan.candidate_bars(None, rng, 0.5, 3, 2, c_major).shape == (2, 3, *gan.spec.bar_shape)


def test_a_chained_model_that_hears_chords_makes_its_candidates_in_one_run_as_bar_by_bar(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from daemon.music.harmony import chord_vector, parse_chord

    checkpoint, onnx_path = cached_tiny_gan(tmp_path_factory, "grooves-chords")  # chain rules: 3 candidates
    gan = open_gan(onnx_path)
    assert gan.noise_per_bar and gan.candidates == 1, "the candidate form, without the critic's score"
    plain = export_gan(checkpoint, tmp_path_factory.mktemp("plain") / "plain.onnx")  # no chain rules: one bar a run
    one_by_one = open_gan(plain)
    assert not one_by_one.noise_per_bar
    previous = np.random.default_rng(2).random((2, *gan.spec.bar_shape)) < 0.08
    chord = chord_vector([parse_chord("Am")])
    together = gan.roll(previous, np.random.default_rng(3), 2, chord, each=4)  # (2 * 4, T, S, P)
    apart = one_by_one.roll(previous, np.random.default_rng(3), 2, chord, each=4)
    np.testing.assert_allclose(together, apart, atol=1e-5)


def test_a_hold_floor_travels_in_the_graph_with_parity(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from training.gan.floors import HELD

    checkpoint = _lifted(tmp_path_factory, tmp_path, 1)  # bass near 0.5
    plain, held = _plain_and_floored(checkpoint, tmp_path, hold_floor="bass=0.3")
    assert held.metadata["training"]["hold_floor"] == {"bass": 0.3}
    previous = np.random.default_rng(3).random((24, *plain.spec.bar_shape)) < 0.08
    before, after = (gan.roll(previous, np.random.default_rng(4)) for gan in (plain, held))
    bass = 1
    on, likely = before[:, bass] > 0.5, before[:, bass] > 0.3
    expected = on.copy()
    for step in range(1, expected.shape[1]):  # a note goes on through the likely steps after it, step by step
        expected[:, step] |= expected[:, step - 1] & likely[:, step]
    assert (expected & ~on).any(), "some bass notes are held"
    np.testing.assert_array_equal(after[:, bass] > 0.5, expected)
    np.testing.assert_allclose(after[:, bass][expected & ~on], HELD)
    np.testing.assert_array_equal(after[:, [0, 2]], before[:, [0, 2]])  # drums and chords untouched
    with pytest.raises(ModelError, match="not a pitched track"):
        export_gan(checkpoint, tmp_path / "x.onnx", hold_floor="drums=0.3")
