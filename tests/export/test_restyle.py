"""Export of the restyle generators: both directions in one file, onnxruntime reproduces PyTorch,
and the daemon's runner reads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from daemon.cli import main as antiphon
from daemon.errors import ModelError
from daemon.models.loader import load_model
from daemon.models.onnx_file import open_session
from daemon.models.restyle import RestyleError, RestyleModel, open_restyle, row_mask, with_velocities
from daemon.music.pianoroll import Bars
from export.restyle import check_restyle_parity, export_restyle
from tests.export.tiny_gan import cached_tiny_gan
from training.data.checkpoint_files import CheckpointError
from training.gan.data import groove_spec
from training.restyle import checkpoint
from training.restyle.model import Critic, Generator, RestyleConfig

SPEC = groove_spec()  # drums (9 rows), bass from C1 (24), chords from C2 (36)
STYLES = ["rock", "latin"]
C_MAJOR = np.isin(np.arange(128) % 12, (0, 2, 4, 5, 7, 9, 11))


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A restyle checkpoint of random tiny networks, as `antiphon train restyle` writes it."""
    torch.manual_seed(seed)
    config = RestyleConfig(*SPEC.bar_shape, tuple(t.rows for t in SPEC.tracks), g_channels=16, g_blocks=2,
                           d_channels=16, c_channels=16)
    g_ab, g_ba, d_a, d_b = Generator(config), Generator(config), Critic(config), Critic(config)
    checkpoint.save(path, checkpoint.RESTYLE_KIND, config, g_ab=g_ab.state_dict(), g_ba=g_ba.state_dict(),
                    d_a=d_a.state_dict(), d_b=d_b.state_dict(), step=3, styles=STYLES, spec=SPEC.to_dict(),
                    training={"note": "random weights"}, files={"rock": ["stdlib/rock"], "latin": ["stdlib/samba"]})
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tiny-restyle")
    ckpt = save_tiny_checkpoint(folder / "last.pt")
    return ckpt, export_restyle(ckpt, folder / "restyle.onnx")


def sparse_bars(n: int, seed: int = 0, density: float = 0.05) -> np.ndarray:
    """Bool bars with nothing in the rows a track lacks."""
    bars = np.random.default_rng(seed).random((n, *SPEC.bar_shape)) < density
    for t, track in enumerate(SPEC.tracks):
        bars[:, t, :, track.rows:] = False
    return bars


def test_onnxruntime_reproduces_pytorch_both_ways(tiny: tuple[Path, Path]) -> None:
    ckpt, model = tiny
    parity = check_restyle_parity(ckpt, model, bars=32)
    assert parity["bars"] == 32
    assert parity["max_abs_diff"] < 1e-4
    assert parity["cells_flipped"] == 0.0


def test_the_daemon_loads_the_file_as_a_restyle_model_of_its_two_styles(tiny: tuple[Path, Path]) -> None:
    _, path = tiny
    model = load_model(path)
    assert isinstance(model, RestyleModel)
    assert model.kind == "restyle"
    assert model.styles == ("rock", "latin")
    assert model.spec == SPEC
    assert [o.name for o in model.session.get_outputs()] == ["to_latin", "to_rock"]
    assert [i.name for i in model.session.get_inputs()] == ["bar"]
    assert "rock <-> latin" in repr(model)


def test_the_file_carries_the_restyle_contract_in_its_metadata(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, path = tiny
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert meta["antiphon.kind"] == "restyle"
    assert meta["antiphon.representation"] == SPEC.to_dict()
    assert meta["antiphon.styles"] == STYLES
    assert meta["antiphon.outputs"] == ["to_latin", "to_rock"]
    assert meta["antiphon.files"] == {"rock": ["stdlib/rock"], "latin": ["stdlib/samba"]}
    assert meta["antiphon.threshold"] == 0.5
    assert meta["antiphon.model_config"]["g_channels"] == 16
    assert meta["antiphon.training"] == {"note": "random weights", "step": 3}
    assert meta["antiphon.metrics"] == {}
    figures = tmp_path / "eval.json"
    figures.write_text(json.dumps({"rock -> latin": {"judged_target": 0.5}}))
    with_metrics = export_restyle(ckpt, tmp_path / "with-metrics.onnx", figures)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(with_metrics)).metadata_props}
    assert meta["antiphon.metrics"] == {"rock -> latin": {"judged_target": 0.5}}


def test_each_output_is_the_generator_that_makes_its_style(tiny: tuple[Path, Path]) -> None:
    ckpt, path = tiny
    model = open_restyle(path)
    g_ab, g_ba = checkpoint.generators(checkpoint.load(ckpt, checkpoint.RESTYLE_KIND))
    bars = sparse_bars(4, seed=2)
    with torch.no_grad():
        as_latin, as_rock = (g(torch.from_numpy(bars.astype(np.float32))).numpy() for g in (g_ab, g_ba))
    np.testing.assert_allclose(model.probabilities(bars, "latin"), as_latin, atol=1e-5)
    np.testing.assert_allclose(model.probabilities(bars, "rock"), as_rock, atol=1e-5)
    assert not np.allclose(as_latin, as_rock, atol=1e-3)


def test_auto_means_the_pairs_second_style_and_names_are_case_blind(tiny: tuple[Path, Path]) -> None:
    model = open_restyle(tiny[1])
    assert model.target("auto") == "latin"
    assert model.target("AUTO") == "latin"
    assert model.target(None) == "latin"
    assert model.target("Rock") == "rock"
    assert model.target(" latin ") == "latin"


def test_a_style_the_model_does_not_make_is_refused_naming_both_it_makes(tiny: tuple[Path, Path]) -> None:
    model = open_restyle(tiny[1])
    with pytest.raises(RestyleError, match="restyles to rock or latin, not 'swing'"):
        model.target("swing")
    with pytest.raises(RestyleError, match="rock or latin"):
        model.restyle(sparse_bars(1), "polka")


def test_bars_of_another_shape_are_refused(tiny: tuple[Path, Path]) -> None:
    model = open_restyle(tiny[1])
    with pytest.raises(RestyleError, match="do not match the model's"):
        model.probabilities(np.zeros((1, 3, 12, 60), bool), "latin")
    with pytest.raises(RestyleError, match="do not match the model's"):
        model.probabilities(np.zeros((3, 16, 60), bool), "latin")


def test_an_empty_bar_stays_empty_beside_a_played_one(tiny: tuple[Path, Path]) -> None:
    model = open_restyle(tiny[1])
    bars = np.zeros((3, *SPEC.bar_shape), bool)
    bars[1] = sparse_bars(1, seed=3)[0]
    for to in STYLES:
        out = model.restyle(bars, to)
        assert isinstance(out, Bars) and out.active.shape == bars.shape
        assert not out.active[0].any() and not out.active[2].any()
        assert not out.onset[0].any() and not out.velocity[0].any()
        assert out.active[1].any()  # the content path keeps a played bar's notes at initialisation


def test_a_key_mask_keeps_every_drum_row_and_silences_pitched_rows_out_of_the_key() -> None:
    mask = row_mask(SPEC, C_MAJOR)
    assert mask.shape == (1, 3, 1, 60) and mask.dtype == np.float32
    assert (mask[0, 0, 0] == 1).all()  # drums are not pitches
    for t, track in enumerate(SPEC.tracks[1:], start=1):
        pitches = track.lowest_pitch + np.arange(60)
        np.testing.assert_array_equal(mask[0, t, 0], C_MAJOR[pitches].astype(np.float32), err_msg=track.name)
    assert mask[0, 1, 0, 0] == 1 and mask[0, 1, 0, 1] == 0  # bass C1 kept, C#1 masked
    assert (row_mask(SPEC, None) == 1).all()


def test_a_key_mask_reaching_past_the_midi_range_masks_those_rows() -> None:
    short = np.ones(60, bool)  # allows pitches 0-59 only
    mask = row_mask(SPEC, short)
    chords = SPEC.tracks[2].lowest_pitch + np.arange(60)
    np.testing.assert_array_equal(mask[0, 2, 0], (chords < 60).astype(np.float32))


def test_restyling_in_a_key_plays_no_pitch_outside_it(tiny: tuple[Path, Path]) -> None:
    model = open_restyle(tiny[1])
    bars = sparse_bars(8, seed=4, density=0.1)  # chromatic: every pitch class
    free = model.restyle(bars, "latin").active
    keyed = model.restyle(bars, "latin", allowed_pitches=C_MAJOR).active
    outside = row_mask(SPEC, C_MAJOR) == 0  # (1, T, 1, P)
    assert (free & outside).any()  # without the mask, the random model keeps out-of-key notes
    assert not (keyed & outside).any()
    np.testing.assert_array_equal(keyed[:, 0], free[:, 0])  # the drums are untouched


def test_restyled_notes_take_the_source_tracks_median_velocity() -> None:
    source_active = np.zeros((1, *SPEC.bar_shape), bool)
    source_onset = np.zeros_like(source_active)
    source_velocity = np.zeros(source_active.shape, np.uint8)
    for step, velocity in ((0, 40), (4, 100), (8, 60)):  # bass onsets: median 60
        source_active[0, 1, step, 12] = source_onset[0, 1, step, 12] = True
        source_velocity[0, 1, step, 12] = velocity
    moved_active = np.zeros_like(source_active)
    moved_onset = np.zeros_like(source_active)
    moved_velocity = np.zeros_like(source_velocity)
    for track, step in ((1, 2), (1, 6), (2, 0)):
        moved_active[0, track, step, 5] = moved_onset[0, track, step, 5] = True
        moved_velocity[0, track, step, 5] = 90
    out = with_velocities(Bars(moved_active, moved_onset, moved_velocity), Bars(source_active, source_onset,
                                                                                 source_velocity))
    assert out.velocity[0, 1, 2, 5] == out.velocity[0, 1, 6, 5] == 60
    assert out.velocity[0, 2, 0, 5] == 90  # no chord onset in the source: the model's own velocity
    assert out.velocity[~moved_onset].max() == 0
    np.testing.assert_array_equal(out.active, moved_active)


def test_a_file_of_another_kind_is_not_taken_for_a_restyle_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    _, gan = cached_tiny_gan(tmp_path_factory, "grooves")
    session, info = open_session(gan)
    with pytest.raises(ModelError, match="is a 'gan' model, not a restyle model"):
        RestyleModel(session, info)
    with pytest.raises(ModelError, match="not a restyle model"):
        open_restyle(gan)


def test_a_file_whose_styles_do_not_match_its_outputs_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model = onnx.load(str(tiny[1]))
    for prop in model.metadata_props:
        if prop.key == "antiphon.styles":
            prop.value = json.dumps(["rock", "swing"])
    bad = tmp_path / "mislabelled.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ModelError, match="do not match the graph's outputs"):
        open_restyle(bad)


def test_exporting_a_checkpoint_of_another_kind_says_so(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        export_restyle(tmp_path / "nothing.pt", tmp_path / "x.onnx")
    config = RestyleConfig(*SPEC.bar_shape, (9, 48, 60), c_channels=16, n_styles=2)
    checkpoint.save(tmp_path / "best.pt", checkpoint.CLASSIFIER_KIND, config, state={})
    with pytest.raises(CheckpointError, match="is not a restyle checkpoint"):
        export_restyle(tmp_path / "best.pt", tmp_path / "x.onnx")


def test_the_export_command_writes_the_file_and_reports_parity(tiny: tuple[Path, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, _ = tiny
    out = tmp_path / "cli" / "restyle-grooves.onnx"
    assert antiphon(["export", "restyle", str(ckpt), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "parity OK over 64 random bars both ways" in printed
    assert load_model(out).styles == ("rock", "latin")
    assert antiphon(["export", "restyle", str(tmp_path / "none.pt"), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
