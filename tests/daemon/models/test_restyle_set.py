"""The bundled restyle files played as one (rock <-> latin, rock <-> swing), through onnxruntime on
real bars: a bar of a test-split rock groove (never trained on) restyled to each style by the file
that makes it, live and offline, and the styles nobody makes refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daemon.control.presets import load_preset
from daemon.errors import ModelError
from daemon.live.model_store import ModelStore, models_for
from daemon.live.restyle import Restyler
from daemon.models.restyle import BUNDLED_RESTYLE_FILES, RestyleError, RestyleSet, open_restyle
from daemon.music.bar_features import assign_tracks
from daemon.music.pianoroll import notes_to_bars
from tests.daemon.mma_groove import ROCK_TEST, one_bar, render

PRESETS = Path(__file__).resolve().parents[3] / "presets"


@pytest.fixture(scope="module")
def files() -> tuple[object, object]:
    return open_restyle(PRESETS / "restyle-grooves.onnx"), open_restyle(PRESETS / "restyle-swing.onnx")


@pytest.fixture(scope="module")
def rock_bar(tmp_path_factory: pytest.TempPathFactory, files: tuple[object, object]) -> np.ndarray:
    """Bar 2 of the rock test groove as the model's bar, ``(1, T, S, P)``."""
    latin, _ = files
    notes = one_bar(render(*ROCK_TEST, tmp_path_factory.mktemp("mma")), bar=1)
    return notes_to_bars(assign_tracks(notes, latin.spec), latin.spec, n_bars=1).active  # type: ignore[attr-defined]


def test_every_bundled_restyle_file_is_there_and_small() -> None:
    for name in BUNDLED_RESTYLE_FILES:
        path = PRESETS / name
        assert path.is_file() and path.stat().st_size < 20e6, name


def test_each_style_is_made_by_the_file_that_makes_it(files: tuple[object, object], rock_bar: np.ndarray) -> None:
    latin, swing = files
    both = RestyleSet([latin, swing])  # type: ignore[list-item]
    assert both.styles == ("rock", "latin", "swing")
    assert both.target("auto") == "latin" and both.target("Swing") == "swing"
    assert both.maker("swing") is swing and both.maker("rock") is latin and both.maker("latin") is latin
    as_swing = both.restyle(rock_bar, "swing")
    assert np.array_equal(as_swing.active, swing.restyle(rock_bar, "swing").active)  # type: ignore[attr-defined]
    as_latin = both.restyle(rock_bar, "latin")
    assert as_swing.active.any() and as_latin.active.any()
    assert not np.array_equal(as_swing.active, as_latin.active), "swing and latin made the same bar"


def test_a_style_no_file_makes_is_refused_with_the_styles_they_make(files: tuple[object, object]) -> None:
    both = RestyleSet(list(files))  # type: ignore[arg-type]
    with pytest.raises(RestyleError, match=r"rock, latin, swing, not 'polka'"):
        both.target("polka")
    with pytest.raises(ModelError, match="at least one"):
        RestyleSet([])


def test_the_restyle_presets_reach_all_three_styles_live(rock_bar: np.ndarray) -> None:
    store = ModelStore()
    for preset, own in (("restyle", "latin"), ("restyle-swing", "swing")):
        band = models_for(load_preset(preset), "restyle", store).gan
        assert isinstance(band, RestyleSet)
        assert set(band.styles) == {"rock", "latin", "swing"} and band.target("auto") == own
        for style in ("latin", "swing"):
            assert Restyler(band, lambda style=style: {"style": style}).style() == style  # type: ignore[misc]
