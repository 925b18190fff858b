"""The daemon's per-bar counts (daemon.music.bar_stats) give the bar metrics of training.gan.metrics
over any run of bars, so a chain steered by them is steered by the metrics it is judged on."""

from __future__ import annotations

import numpy as np

from daemon.music.bar_stats import STATISTICS, bar_counts, ratios
from training.gan.data import build_bar_set, groove_spec, synthetic_pieces
from training.gan.metrics import tonal_distance, track_metrics

SPEC = groove_spec()


def test_summed_bar_counts_are_the_metrics_of_the_bars() -> None:
    rng = np.random.default_rng(0)
    random_bars = rng.random((64, *SPEC.bar_shape)) < 0.06
    for t, track in enumerate(SPEC.tracks):
        random_bars[:, t, :, track.rows:] = False
    random_bars[::5, 1] = False  # some empty bass bars
    for bars in (random_bars, build_bar_set(synthetic_pieces(4, 6), SPEC).bars):
        got = ratios(bar_counts(bars, SPEC).sum(axis=0))  # (T, 6)
        want = track_metrics(bars, SPEC)
        for t, track in enumerate(SPEC.tracks):
            for k, name in enumerate(STATISTICS[:-1]):
                np.testing.assert_allclose(got[t, k], want[track.name][name], equal_nan=True, err_msg=f"{track.name} {name}")
        np.testing.assert_allclose(got[2, STATISTICS.index("TD")], tonal_distance(bars, SPEC)["bass-chords"])


def test_a_summary_gives_each_tracks_cells_pitch_classes_and_chroma() -> None:
    from daemon.music.bar_features import pitch_class_matrix
    from daemon.music.bar_stats import summarise

    bars = np.random.default_rng(1).random((16, *SPEC.bar_shape)) < 0.05
    for t, track in enumerate(SPEC.tracks):
        bars[:, t, :, track.rows:] = False
    bars[::3, 2] = False
    summary = summarise(bars, SPEC)
    chroma = np.einsum("ntsp,tpc->ntc", bars.astype(np.float64), pitch_class_matrix(SPEC))
    np.testing.assert_array_equal(summary.cells, bars.sum(axis=(2, 3)))
    np.testing.assert_array_equal(summary.chroma, chroma)
    np.testing.assert_array_equal(summary.pitch_classes, (chroma > 0).sum(axis=2))
    np.testing.assert_array_equal(summary.counts, bar_counts(bars, SPEC))
