"""Fixtures of the tests of the whole daemon through JACK (:mod:`tests.daemon.live.jack_daemon`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import presets
from benchmarks.jack_rig import Daemon, Peer
from daemon.control.presets import load_preset
from daemon.music.keys import Key
from tests.daemon.corpus_phrase import Phrase, load_phrase
from tests.daemon.live.jack_daemon import (
    ANSWER_CHANNEL,
    BUNDLED_LSTM,
    LIVE_PRESET,
    SEED,
    TINY_BPM,
    Setup,
    _sparse_threshold,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    from tests.export.tiny_gan import cached_tiny_gan
    from tests.export.tiny_lstm import cached_tiny_model

    folder = tmp_path_factory.mktemp("jack-presets")
    lstm = cached_tiny_model(tmp_path_factory, "events")[1]
    gan = cached_tiny_gan(tmp_path_factory, "grooves")[1]
    (folder / "live.toml").write_text(LIVE_PRESET.format(lstm=lstm, gan=gan, bpm=TINY_BPM,
                                                         threshold=_sparse_threshold(gan)))
    (folder / "broken.toml").write_text('[model]\nfile = "missing.onnx"\n')
    (folder / "garbage.onnx").write_text("this is not an ONNX file\n")
    (folder / "notonnx.toml").write_text('[model]\nfile = "garbage.onnx"\n')
    if BUNDLED_LSTM.is_file():
        default = load_preset("default", presets.PRESETS_DIR)
        beats = default.clock.numerator * 4 // default.clock.denominator
        return Setup(folder, "default", True, default.clock.bpm, default.midi.channel, default.respond.answer_bars,
                     beats, None)
    return Setup(folder, "live", False, TINY_BPM, ANSWER_CHANNEL, 1, 4, Key(5, False, 1.0))


@pytest.fixture(scope="module")
def rig(setup: Setup, jack_server: str) -> Iterator[tuple[Daemon, Peer]]:
    """The live daemon and a peer wired to it, for the tests that share them."""
    peer = Peer()
    daemon = Daemon("--preset", setup.preset, "--seed", SEED, env=setup.env())
    try:
        daemon.wait_for("ready")
        peer.wire(daemon)
        yield daemon, peer
    finally:
        daemon.stop()
        peer.close()
        assert "Traceback" not in daemon.stderr(), daemon.stderr()


@pytest.fixture(scope="module")
def phrase() -> Phrase:
    return load_phrase(beats=8)
