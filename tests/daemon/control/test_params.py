"""The live-parameter table and its validation: types, ranges, edge/internal forms."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.control.params import (
    PARAMS,
    SPECS,
    Kind,
    ParamRangeError,
    ParamTypeError,
    UnknownParamError,
    defaults,
    edge_args,
    invalid_example,
    key_name,
    live_attributes,
    parse_key,
    to_edge,
    validate,
    validate_args,
)
from daemon.errors import AntiphonError
from daemon.music.scales import SCALES

REQUIRED = {
    "temperature", "top_k", "top_p", "mode", "answer_bars", "phrase_end_beats", "density", "key", "scale",
    "pitch_low", "pitch_high", "channel_in", "channel_out", "accompany_channels", "bpm", "meter_numerator",
    "meter_denominator", "hold_limit_beats", "morph", "attribute_density", "attribute_register",
    "attribute_busyness", "attribute_major", "memory", "style",
}


def test_the_table_has_every_live_parameter_once_with_help() -> None:
    assert {p.name for p in PARAMS} == REQUIRED
    assert len(PARAMS) == len(SPECS)
    for p in PARAMS:
        assert p.help and p.name.isidentifier()


def test_every_default_is_valid_and_round_trips() -> None:
    values = defaults()
    assert list(values) == [p.name for p in PARAMS]
    for p in PARAMS:
        assert to_edge(p.name, values[p.name]) == p.default


@pytest.mark.parametrize(("name", "low", "high"), [
    ("temperature", 0.05, 5.0), ("top_k", 0, 512), ("top_p", 0.01, 1.0), ("answer_bars", 1, 32),
    ("phrase_end_beats", 0.25, 16.0), ("density", 0.0, 1.0), ("pitch_low", 0, 127), ("pitch_high", 0, 127),
    ("bpm", 20.0, 400.0), ("hold_limit_beats", 1.0, 64.0), ("channel_in", 0, 16), ("channel_out", 1, 16),
    ("attribute_density", -2.0, 2.0), ("attribute_major", -2.0, 2.0),
])
def test_numeric_ranges_are_as_documented(name: str, low: float, high: float) -> None:
    assert (SPECS[name].low, SPECS[name].high) == (low, high)
    validate(name, low)
    validate(name, high)
    step = 1 if SPECS[name].kind is not Kind.FLOAT else 1e-6
    with pytest.raises(ParamRangeError, match=name):
        validate(name, low - step)
    with pytest.raises(ParamRangeError, match=name):
        validate(name, high + step)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_accepted_exactly_when_finite_and_in_range(value: float) -> None:
    p = SPECS["temperature"]
    if math.isfinite(value) and p.low <= value <= p.high:  # type: ignore[operator]
        assert validate("temperature", value) == value
    else:
        with pytest.raises(ParamRangeError):
            validate("temperature", value)


@pytest.mark.parametrize("value", ["1.0", True, None, b"\x00", [1.0], object()])
def test_a_number_of_the_wrong_type_is_a_type_error(value: Any) -> None:
    with pytest.raises(ParamTypeError, match="temperature must be a number 0.05-5"):
        validate("temperature", value)


def test_whole_numbers_take_whole_floats_but_not_fractions() -> None:
    assert validate("top_k", 40.0) == 40 and isinstance(validate("top_k", 40.0), int)
    with pytest.raises(ParamTypeError, match="whole number"):
        validate("top_k", 40.5)
    with pytest.raises(ParamRangeError, match="finite"):
        validate("answer_bars", float("nan"))


def test_meter_denominator_is_a_power_of_two_from_a_list() -> None:
    assert validate("meter_denominator", 8) == 8
    with pytest.raises(ParamRangeError, match="one of 1, 2, 4, 8, 16, 32"):
        validate("meter_denominator", 3)


def test_channels_are_1_to_16_at_the_edge_and_0_to_15_inside() -> None:
    assert validate("channel_out", 1) == 0 and validate("channel_out", 16) == 15
    assert validate("channel_in", 0) is None and validate("channel_in", 10) == 9
    assert to_edge("channel_in", None) == 0 and to_edge("channel_out", 15) == 16
    with pytest.raises(ParamRangeError, match="channel_out must be 1-16"):
        validate("channel_out", 0)
    assert validate("accompany_channels", [10, 1, 16]) == (9, 0, 15)
    assert edge_args("accompany_channels", (9, 0, 15)) == [10, 1, 16]
    for bad in ([], list(range(1, 10)), [0], [17]):
        with pytest.raises(ParamRangeError, match="accompany_channels"):
            validate("accompany_channels", bad)
    with pytest.raises(ParamTypeError, match="list of 1-8"):
        validate("accompany_channels", "10")


@pytest.mark.parametrize(("text", "pitch_class"), [
    ("C", 0), ("c#", 1), ("Db", 1), ("E", 4), ("Fb", 4), ("B#", 0), ("Bb", 10), ("b", 11), ("NONE", None),
    (" G ", 7),
])
def test_keys_are_note_names_or_none(text: str, pitch_class: int | None) -> None:
    assert parse_key(text) == pitch_class
    assert validate("key", text) == pitch_class


@pytest.mark.parametrize("text", ["H", "", "C##", "do", "Cm", "10"])
def test_other_key_names_are_refused(text: str) -> None:
    with pytest.raises(ParamRangeError, match="note name"):
        validate("key", text)


def test_key_names_come_back_with_sharps() -> None:
    assert [key_name(pc) for pc in (None, 0, 1, 6, 10)] == ["none", "C", "C#", "F#", "A#"]


def test_scales_are_the_samplers_scales_plus_pentatonic() -> None:
    assert set(SPECS["scale"].choices) == set(SCALES)
    assert validate("scale", "Dorian") == "dorian"
    assert validate("scale", "pentatonic") == "major-pentatonic"
    with pytest.raises(ParamRangeError, match="did you mean 'mixolydian'"):
        validate("scale", "mixolidian")


def test_modes() -> None:
    assert [validate("mode", m) for m in ("respond", "ACCOMPANY", "both", "thru")] == \
        ["respond", "accompany", "both", "thru"]
    with pytest.raises(ParamTypeError, match="a string"):
        validate("mode", 1)


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownParamError, match="did you mean 'temperature'"):
        validate("temprature", 1.0)
    with pytest.raises(UnknownParamError, match="parameters are: mode, temperature"):
        validate("xyzzy", 1.0)


def test_every_error_is_an_antiphon_error_with_a_short_value() -> None:
    with pytest.raises(AntiphonError) as caught:
        validate("mode", "x" * 10_000)
    assert len(str(caught.value)) < 300 and "10000 characters" in str(caught.value)


def test_osc_argument_lists_need_the_right_count() -> None:
    assert validate_args("temperature", [0.5]) == 0.5
    assert validate_args("accompany_channels", [10, 2]) == (9, 1)
    with pytest.raises(ParamTypeError, match="exactly one value"):
        validate_args("temperature", [])
    with pytest.raises(ParamTypeError, match="got 2"):
        validate_args("key", ["C", "D"])


@pytest.mark.parametrize("name", [p.name for p in PARAMS])
def test_the_invalid_example_of_each_parameter_is_refused(name: str) -> None:
    with pytest.raises(ParamRangeError, match=name):
        validate(name, invalid_example(name))


@given(st.sampled_from(PARAMS), st.data())
def test_validate_of_to_edge_is_the_identity(p: Any, data: st.DataObject) -> None:
    if p.kind is Kind.FLOAT:
        edge: Any = data.draw(st.floats(p.low, p.high))
    elif p.kind is Kind.INT and not p.choices or p.kind is Kind.CHANNEL:
        edge = data.draw(st.integers(int(p.low), int(p.high)))
    elif p.kind is Kind.CHANNELS:
        edge = tuple(data.draw(st.lists(st.integers(1, 16), min_size=1, max_size=8)))
    elif p.kind is Kind.KEY:
        edge = data.draw(st.sampled_from(["none", "C", "Db", "F#", "B"]))
    else:
        edge = data.draw(st.sampled_from(p.choices))
    inside = validate(p.name, edge)
    assert validate(p.name, to_edge(p.name, inside)) == inside


def test_the_attribute_moves_asked_for_are_the_nonzero_attribute_values_by_name() -> None:
    values = defaults()
    assert live_attributes(values) == ()
    values.update(attribute_register=-0.5, attribute_density=1.5)
    assert live_attributes(values) == (("density", 1.5), ("register", -0.5))
