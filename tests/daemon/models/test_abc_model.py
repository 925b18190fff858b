"""The ABC model runner: the bundled folk-abc.onnx writes tunes that parse; retries are bounded and counted."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.models.abc import AbcModel, AbcSampling, load_abc
from daemon.music.abc import AbcError, bar_check
from daemon.music.sampling import SamplingError
from daemon.offline.abc_tunes import DEFAULT_ABC_MODEL


@pytest.fixture(scope="module")
def folk() -> AbcModel:
    return load_abc(DEFAULT_ABC_MODEL)


def test_the_bundled_model_writes_a_tune_that_parses_from_a_header(folk: AbcModel):
    header = "R:jig\nM:6/8\nL:1/8\nK:D\n"
    tune = folk.generate(header, AbcSampling(temperature=0.8, top_p=0.95), seed=7)
    assert tune.text.startswith(header)
    assert tune.parsed.meter == (6, 8) and tune.parsed.key.name() == "D"
    assert len(tune.parsed.notes) >= 8
    right, total = bar_check(tune.parsed)
    assert total >= 4 and right / total >= 0.75
    assert tune.retries == len(tune.failures)


def test_the_same_seed_gives_the_same_tune(folk: AbcModel):
    header = "M:4/4\nL:1/8\nK:G\n"
    assert folk.generate(header, seed=3).text == folk.generate(header, seed=3).text


def test_the_bundled_model_knows_the_collections_header_values(folk: AbcModel):
    assert folk.seen("meters", "6/8") and folk.seen("keys", "D") and folk.seen("rhythms", "reel")
    assert not folk.seen("keys", "C#lyd")


def test_a_character_the_model_never_saw_is_named(folk: AbcModel):
    with pytest.raises(AbcError, match="never saw"):
        folk.prime("M:6/8\nK:D\nAB@c|\n")


def test_tries_that_do_not_parse_are_retried_counted_and_bounded(folk: AbcModel, monkeypatch):
    scripted = iter([("AB [cd|\n", True), ("ABc", False), ("ABc def|]\n", True)])
    monkeypatch.setattr(folk, "sample_text", lambda prompt, sampling, rng: next(scripted))
    tune = folk.generate("M:6/8\nL:1/8\nK:D\n", AbcSampling(retries=2), seed=0)
    assert tune.retries == 2 and "not closed" in tune.failures[0] and "no end" in tune.failures[1]
    scripted = iter([("AB [cd|\n", True)] * 3)
    with pytest.raises(AbcError, match="3 tries"):
        folk.generate("M:6/8\nL:1/8\nK:D\n", AbcSampling(retries=2), seed=np.random.default_rng(0))


def test_sampling_settings_outside_their_ranges_are_refused():
    with pytest.raises(SamplingError):
        AbcSampling(temperature=0.0)
    with pytest.raises(SamplingError):
        AbcSampling(top_p=1.5)


@pytest.mark.parametrize(("text", "open_"), [
    ("|: AB cd :|", False), ("|: AB cd", True), ("AB :: cd", True), ("AB :|: cd", True), ("AB :|: cd :|", False),
    ("AB cd |]", False),
])
def test_a_repeat_is_open_from_its_start_sign_until_its_end_sign(text, open_):
    from daemon.models.abc import repeat_open

    assert repeat_open(text) is open_


def test_sampled_tunes_close_their_repeats_before_they_end(folk: AbcModel):
    from daemon.models.abc import repeat_open

    for seed in range(3):
        text, ended = folk.sample_text("M:6/8\nL:1/8\nK:G\n|:", AbcSampling(), np.random.default_rng(seed))
        assert ended and not repeat_open("|:" + text)
