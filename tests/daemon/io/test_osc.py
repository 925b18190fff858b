"""The OSC server and feedback over real UDP on 127.0.0.1.

Clients are python-osc and liblo's ``oscsend``/``oscdump``; every kind of bad input is sent.
"""

from __future__ import annotations

import argparse
import builtins
import logging
import math
import queue
import random
import re
import shlex
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder, build_msg
from pythonosc.udp_client import SimpleUDPClient

from daemon.control.events import ControlQueue, SetParam, StatusRequest, SwitchPreset, Trigger
from daemon.control.live_state import LiveState
from daemon.control.osc_config import (
    DEFAULT_OSC_PORT,
    DEFAULT_REPLY_PORT,
    OscConfig,
    OscConfigError,
    OscPacketError,
    add_osc_arguments,
    osc_config_from_args,
)
from daemon.control.params import PARAMS, Kind, edge_args, invalid_example, validate
from daemon.io.osc_addresses import address_table_markdown, known_addresses
from daemon.io.osc_feedback import OscFeedback
from daemon.io.osc_packet import MAX_SHOWN_ADDRESS_CHARS, parse_packet
from daemon.io.osc_server import OscServer
from tests.daemon.osc_support import WAIT_S, Rig, free_udp_port, require_tool, running_server

OSC_MD = Path(__file__).resolve().parents[3] / "presets" / "patches" / "OSC.md"


@pytest.fixture
def rig() -> Any:
    with running_server() as running:
        yield running


def _args(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple) else [value]


def _error_text(rig: Rig, start: int) -> tuple[str, str]:
    msg = rig.error_after(start)
    return msg.params[0], msg.params[1]


# ------------------------------------------------------------------ accepted messages


def test_set_over_udp_changes_the_state_enqueues_the_event_and_echoes_it(rig: Rig) -> None:
    start = rig.replies.mark()
    SimpleUDPClient(*rig.address).send_message("/antiphon/set/temperature", 0.5)
    echo = rig.replies.wait_address("/antiphon/state/temperature", start=start)
    assert echo.params == [0.5]
    assert rig.state.get("temperature") == 0.5
    assert rig.controls.drain() == [SetParam("temperature", 0.5)]
    rig.settle(start)
    # the set, and settle()'s status request (counted just after its reply has gone out)
    deadline = time.monotonic() + WAIT_S
    while rig.server.stats().accepted < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert rig.server.stats().accepted == 2


def test_every_parameter_row_is_accepted_in_range_and_refused_out_of_range(rig: Rig) -> None:
    """Walks the address table: each /antiphon/set/<param> with a valid value, then an invalid one."""
    for p in PARAMS:
        address = f"/antiphon/set/{p.name}"
        valid = p.choices[-1] if p.kind is Kind.CHOICE else p.default
        start = rig.replies.mark()
        rig.send(address, *_args(valid))
        answers = (f"/antiphon/state/{p.name}", "/antiphon/error")
        echo = rig.replies.wait_for(lambda m, answers=answers: m.address in answers, start=start)
        assert echo.address == f"/antiphon/state/{p.name}", f"{address} {valid!r} refused: {echo}"
        assert rig.state.get(p.name) == validate(p.name, valid)
        assert echo.params == edge_args(p.name, validate(p.name, valid))

        start = rig.replies.mark()
        rig.send(address, *_args(invalid_example(p.name)))
        where, message = _error_text(rig, start)
        assert where == address
        assert p.name in message
        assert rig.state.get(p.name) == validate(p.name, valid)
    events = rig.controls.drain()
    assert [e.name for e in events if isinstance(e, SetParam)] == [p.name for p in PARAMS]
    assert rig.server.stats().rejected == len(PARAMS)


def test_status_replies_with_every_parameter_then_an_end_marker(rig: Rig) -> None:
    rig.state.set("key", "Bb")
    rig.state.set("channel_in", 3)
    start = rig.replies.mark()
    rig.send("/antiphon/status")
    end = rig.replies.wait_address("/antiphon/status/end", start=start)
    assert end.params == [len(PARAMS)]
    got = {m.address.rsplit("/", 1)[1]: m.params for m in rig.replies.since(start)
           if m.address.startswith("/antiphon/state/")}
    assert list(got) == [p.name for p in PARAMS]
    assert got["key"] == ["A#"] and got["channel_in"] == [3] and got["accompany_channels"] == [10, 2, 3]
    assert got["mode"] == ["respond"]
    assert math.isclose(got["temperature"][0], 1.0)
    assert StatusRequest() in rig.controls.drain()


@pytest.mark.parametrize("trigger", ["generate", "panic", "reset", "forget"])
def test_triggers_enqueue_their_event(rig: Rig, trigger: str) -> None:
    start = rig.replies.mark()
    rig.send(f"/antiphon/{trigger}")
    assert rig.settle(start) == []
    assert rig.controls.drain()[0] == Trigger(trigger)


def test_preset_switch_enqueues_the_plain_name(rig: Rig) -> None:
    start = rig.replies.mark()
    rig.send("/antiphon/preset", "folk-jig_2")
    assert rig.settle(start) == []
    assert rig.controls.drain()[0] == SwitchPreset("folk-jig_2")


def test_a_flat_bundle_is_applied_in_order_at_once_even_with_a_future_time_tag(rig: Rig) -> None:
    builder = OscBundleBuilder(time.time() + 30.0)  # strict timing would sleep 30 s in the handler
    for address, value in (("/antiphon/set/temperature", 0.25), ("/antiphon/set/top_k", 40),
                           ("/antiphon/set/temperature", 0.75)):
        builder.add_content(build_msg(address, [value]))
    start = rig.replies.mark()
    rig.send_raw(builder.build().dgram)
    rig.replies.wait_for(lambda m: m.address == "/antiphon/state/temperature" and m.params == [0.75],
                         timeout_s=2.0, start=start)
    assert rig.state.get("top_k") == 40 and rig.state.get("temperature") == 0.75
    assert [e.value for e in rig.controls.drain()] == [0.25, 40, 0.75]


def test_ints_arrive_as_floats_from_pd_and_int64_and_double_are_read(rig: Rig) -> None:
    builder = OscMessageBuilder("/antiphon/set/answer_bars")
    builder.add_arg(8.0, OscMessageBuilder.ARG_TYPE_FLOAT)
    rig.send_raw(builder.build().dgram)
    builder = OscMessageBuilder("/antiphon/set/top_k")
    builder.add_arg(100, OscMessageBuilder.ARG_TYPE_INT64)
    rig.send_raw(builder.build().dgram)
    builder = OscMessageBuilder("/antiphon/set/bpm")
    builder.add_arg(93.5, OscMessageBuilder.ARG_TYPE_DOUBLE)
    rig.send_raw(builder.build().dgram)
    start = 0
    assert [m for m in rig.settle(start) if m.address == "/antiphon/error"] == []
    assert (rig.state.get("answer_bars"), rig.state.get("top_k"), rig.state.get("bpm")) == (8, 100, 93.5)


# ------------------------------------------------------------------ refused messages


@pytest.mark.parametrize(("address", "args", "expected"), [
    ("/antiphon/set/temperature", ["hot"], "must be a number"),
    ("/antiphon/set/temperature", [True], "must be a number"),
    ("/antiphon/set/temperature", [None], "must be a number"),
    ("/antiphon/set/temperature", [b"\x01\x02"], "must be a number"),
    ("/antiphon/set/temperature", [], "exactly one value"),
    ("/antiphon/set/temperature", [0.5, 0.7], "exactly one value"),
    ("/antiphon/set/temperature", [float("nan")], "finite"),
    ("/antiphon/set/temperature", [float("inf")], "finite"),
    ("/antiphon/set/bpm", [float("-inf")], "finite"),
    ("/antiphon/set/top_k", [2.5], "whole number"),
    ("/antiphon/set/key", [3], "a string"),
    ("/antiphon/set/key", ["H"], "note name"),
    ("/antiphon/set/mode", ["responde"], "did you mean 'respond'"),
    ("/antiphon/set/channel_out", [0], "1-16"),
    ("/antiphon/set/accompany_channels", [1, 2, 3, 4, 5, 6, 7, 8, 9], "1-8 channels"),
    ("/antiphon/set/pitch_low", [128], "0-127"),
    ("/antiphon/generate", [1], "takes no arguments"),
    ("/antiphon/status", ["now"], "takes no arguments"),
    ("/antiphon/preset", [], "takes one argument"),
    ("/antiphon/preset", [3], "takes a string"),
    ("/antiphon/preset", ["../../etc/passwd"], "not allowed"),
    ("/antiphon/preset", ["bach.toml"], "not allowed"),
    ("/antiphon/preset", ["x" * 65], "not allowed"),
    ("/antiphon/learn", ["tempo"], "unknown parameter"),
    ("/antiphon/learn", ["accompany_channels"], "cannot be driven by one CC"),
    ("/antiphon/set/tempreature", [1.0], "did you mean /antiphon/set/temperature?"),
    ("/antiphon", [], "unknown address"),
    ("/other/app", [], "unknown address"),
    ("/antiphon/*", [], "address patterns"),
    ("/antiphon/set/{temperature,top_k}", [1], "address patterns"),
    ("/antiphon/set/temp?rature", [1.0], "address patterns"),
    ("/antiphon/set/with space", [1.0], "printable ASCII"),
])
def test_bad_messages_get_one_log_line_and_an_error_reply_and_change_nothing(
        rig: Rig, caplog: pytest.LogCaptureFixture, address: str, args: list[Any], expected: str) -> None:
    before = rig.state.snapshot()
    start = rig.replies.mark()
    with caplog.at_level(logging.WARNING, logger="daemon.io.osc_server"):
        rig.send(address, *args)
        where, message = _error_text(rig, start)
        assert rig.settle(start)[-1].address == "/antiphon/error"
    assert where == address
    assert expected in message
    lines = [r for r in caplog.records if r.name == "daemon.io.osc_server"]
    assert len(lines) == 1 and expected in lines[0].getMessage() and address in lines[0].getMessage()
    assert rig.state.snapshot() == before
    assert not [e for e in rig.controls.drain() if not isinstance(e, StatusRequest)]
    stats = rig.server.stats()
    assert stats.rejected == 1 and stats.internal_errors == 0


def test_pitch_low_above_pitch_high_is_refused_with_what_to_do(rig: Rig) -> None:
    rig.send("/antiphon/set/pitch_high", 60)
    start = rig.replies.mark()
    rig.send("/antiphon/set/pitch_low", 72)
    _, message = _error_text(rig, start)
    assert "move pitch_high up first" in message
    assert rig.state.get("pitch_low") == 0


def test_learn_without_midi_input_is_refused() -> None:
    with running_server() as rig:
        rig.server._cc_map = None  # a daemon built without MIDI input
        start = rig.replies.mark()
        rig.send("/antiphon/learn", "temperature")
        assert "no MIDI input" in _error_text(rig, start)[1]


def test_a_preset_name_with_a_path_never_touches_the_file_system(monkeypatch: pytest.MonkeyPatch) -> None:
    controls = ControlQueue()
    feedback = OscFeedback(port=None)
    server = OscServer(OscConfig(port=0), controls, LiveState(), feedback)
    opened: list[Any] = []

    def no_open(*args: Any, **kwargs: Any) -> None:
        opened.append(args)
        raise AssertionError(f"opened {args}")
    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(Path, "open", no_open)
    for name in ("../../etc/passwd", "/etc/passwd", "..", "a/b", "bach.toml", "", "é"):
        server.handle_datagram(build_msg("/antiphon/preset", [name]).dgram, ("127.0.0.1", 9))
    monkeypatch.undo()
    assert opened == [] and controls.drain() == []
    assert server.stats().rejected == 7


# ------------------------------------------------------------------ unreadable packets


def test_random_bytes_are_refused_and_counted_and_the_server_keeps_working(rig: Rig) -> None:
    rng = random.Random(1234)
    packets = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(40)]
    packets += [b"/", b"/\x00\x00\x00", b"#bundle", b"\xff" * 8, b"\x00" * 4]
    start = rig.replies.mark()
    for packet in packets:
        rig.send_raw(packet)
    rig.send("/antiphon/set/density", 0.25)
    rig.replies.wait_address("/antiphon/state/density", start=start)
    stats = rig.server.stats()
    assert stats.packets == len(packets) + 1
    assert stats.malformed + stats.rejected == len(packets)
    assert stats.internal_errors == 0
    errors = [m for m in rig.replies.since(start) if m.address == "/antiphon/error"]
    assert len(errors) == len(packets)
    assert rig.state.get("density") == 0.25


def test_every_truncation_of_a_message_is_refused_never_misread(rig: Rig) -> None:
    whole = build_msg("/antiphon/set/density", [0.3]).dgram  # a cut float would read as 0.0
    start = rig.replies.mark()
    for cut in range(1, len(whole)):
        rig.send_raw(whole[:cut])
    got = rig.settle(start)
    assert [m.address for m in got] == ["/antiphon/error"] * (len(whole) - 1)
    assert rig.state.get("density") == 0.5
    assert rig.controls.drain() == [StatusRequest()]


@pytest.mark.parametrize(("packet", "expected"), [
    (b"", "empty packet"),
    (b"garbage!", "not OSC"),
    (b"/antiphon/status\x00\x00\x00\x00,S\x00\x00sym\x00", "'S' (symbol)"),
    (b"/antiphon/panic\x00,c\x00\x00\x00\x00\x00A", "'c' (char)"),
    (b"/antiphon/panic\x00,[]\x00", "'[' (array)"),
    (b"/antiphon/panic\x00;\x00\x00\x00", "must start with ','"),
    (b"/antiphon/set/temperature\x00\x00\x00,f\x00\x00\x3f\x00\x00\x00\x00\x00\x00\x00", "stray bytes"),
    (b"/antiphon/preset\x00\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00", "not UTF-8"),
    (b"/antiphon/preset\x00\x00\x00\x00,s\x00\x00abcd", "run past the end"),
    (b"/\xff\xfe\x00", "unreadable address"),
    (b"#bundle\x00\x00\x00\x00\x00", "time tag is missing"),
])
def test_malformed_packets_are_named_in_the_error_reply(rig: Rig, packet: bytes, expected: str) -> None:
    start = rig.replies.mark()
    rig.send_raw(packet)
    where, message = _error_text(rig, start)
    assert expected in message
    assert where in ("(packet)", "/antiphon/status", "/antiphon/panic", "/antiphon/set/temperature",
                     "/antiphon/preset")
    assert rig.server.stats().malformed == 1


def _bundle(*contents: bytes) -> bytes:
    out = b"#bundle\x00" + struct.pack(">Q", IMMEDIATELY)
    for content in contents:
        out += struct.pack(">i", len(content)) + content
    return out


def test_a_nested_bundle_is_refused_whole(rig: Rig) -> None:
    inner = _bundle(build_msg("/antiphon/set/top_k", [7]).dgram)
    packet = _bundle(build_msg("/antiphon/set/temperature", [0.3]).dgram, inner)
    start = rig.replies.mark()
    rig.send_raw(packet)
    assert "nested bundles are not accepted" in _error_text(rig, start)[1]
    assert rig.state.get("temperature") == 1.0 and rig.state.get("top_k") == 0


def test_deeply_nested_bundles_do_not_recurse(rig: Rig) -> None:
    packet = build_msg("/antiphon/panic", []).dgram
    for _ in range(3000):  # python-osc's own parser would hit the recursion limit
        packet = _bundle(packet)
    start = rig.replies.mark()
    rig.send_raw(packet)
    assert "nested bundles" in _error_text(rig, start)[1]
    assert rig.server.stats().internal_errors == 0


@pytest.mark.parametrize("bad_size", [-4, 0, 3, 1000])
def test_a_bundle_with_a_bad_element_size_applies_nothing(rig: Rig, bad_size: int) -> None:
    good = build_msg("/antiphon/set/temperature", [0.3]).dgram
    packet = _bundle(good) + struct.pack(">i", bad_size) + good
    start = rig.replies.mark()
    rig.send_raw(packet)
    assert "bundle element 2" in _error_text(rig, start)[1]
    assert rig.state.get("temperature") == 1.0


def test_a_64_kb_string_is_refused_and_the_reply_stays_small(rig: Rig) -> None:
    start = rig.replies.mark()
    rig.send("/antiphon/preset", "p" * 65_000)
    where, message = _error_text(rig, start)
    assert where == "/antiphon/preset" and "65000 characters" in message
    long_address = "/antiphon/" + "a" * 65_000
    start = rig.replies.mark()
    rig.send(long_address)
    where, message = _error_text(rig, start)
    assert len(where) <= MAX_SHOWN_ADDRESS_CHARS and "too long" in message
    assert max(rig.replies.datagram_sizes) < 1024
    assert rig.server.stats().rejected == 2


def test_a_flood_of_bad_input_is_logged_at_most_twenty_lines_a_second(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    start = rig.replies.mark()
    with caplog.at_level(logging.WARNING, logger="daemon.io.osc_server"):
        for _ in range(60):
            rig.send_raw(b"junk")
        rig.settle(start)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 20
    assert rig.server.stats().log_lines_suppressed == 40
    assert len([m for m in rig.replies.since(start) if m.address == "/antiphon/error"]) == 60


def test_a_failure_inside_antiphon_is_logged_answered_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenState(LiveState):
        def apply(self, event: SetParam, publish: Any = None) -> None:
            raise RuntimeError("a bug")

    with running_server(state=BrokenState()) as broken, \
            caplog.at_level(logging.ERROR, logger="daemon.io.osc_server"):
        start = broken.replies.mark()
        broken.send("/antiphon/set/temperature", 0.5)
        where, message = _error_text(broken, start)
        assert where == "/antiphon/set/temperature" and "see the daemon's log" in message
        broken.send("/antiphon/generate")
        broken.settle(start)
        assert broken.server.stats().internal_errors == 1
        assert broken.controls.drain()[0] == Trigger("generate")
    assert any("a bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_a_full_control_queue_refuses_with_an_error_and_leaves_the_state() -> None:
    with running_server(controls=ControlQueue(maxsize=1)) as rig:
        rig.send("/antiphon/generate")
        start = rig.replies.mark()
        rig.send("/antiphon/set/temperature", 0.5)
        assert "engine is busy" in _error_text(rig, start)[1]
        assert rig.state.get("temperature") == 1.0


# ------------------------------------------------------------------ liblo's tools


def _oscsend(port: int, address: str, types: str = "", *values: str) -> None:
    oscsend = require_tool("oscsend", "liblo-tools")
    done = subprocess.run([oscsend, "127.0.0.1", str(port), address, types, *values],
                          capture_output=True, timeout=5, check=False)
    assert done.returncode == 0, done.stderr


def test_liblo_oscsend_sets_parameters_and_its_bad_types_are_refused(rig: Rig) -> None:
    port = rig.address[1]
    start = rig.replies.mark()
    _oscsend(port, "/antiphon/set/temperature", "f", "0.25")
    _oscsend(port, "/antiphon/set/key", "s", "Eb")
    _oscsend(port, "/antiphon/set/accompany_channels", "iii", "10", "1", "16")
    _oscsend(port, "/antiphon/set/temperature", "S", "hot")
    _oscsend(port, "/antiphon/set/top_k", "T")
    _oscsend(port, "/antiphon/set/bpm", "d", "nan")
    got = rig.settle(start)
    errors = [m.params[1] for m in got if m.address == "/antiphon/error"]
    assert len(errors) == 3
    assert "'S' (symbol)" in errors[0] and "true/false" in errors[1] and "finite" in errors[2]
    assert rig.state.get("temperature") == 0.25
    assert rig.state.get("key") == 3
    assert rig.state.get("accompany_channels") == (9, 0, 15)


def test_replies_and_feedback_reach_liblo_oscdump() -> None:
    oscdump = require_tool("oscdump", "liblo-tools")
    port = free_udp_port()
    proc = subprocess.Popen([oscdump, "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    feedback = OscFeedback("127.0.0.1", port)
    server = OscServer(OscConfig(port=0), ControlQueue(), LiveState(), feedback)
    server.start()
    try:
        got: dict[str, tuple[str, list[Any]]] = {}
        deadline = time.monotonic() + 5.0
        while not got and time.monotonic() < deadline:  # oscdump takes a moment to bind its port
            feedback.send("/probe")
            got.update(_dumped(lines, 0.05))
        assert got, "oscdump printed nothing"
        SimpleUDPClient(*server.address).send_message("/antiphon/set/temperature", 0.5)
        feedback.note(60, 100, 9, 0.5)
        feedback.phrase(7, 3.5, 6)
        feedback.error("/antiphon/x", "bad é")
        wanted = {
            "/antiphon/state/temperature": ("f", [0.5]),
            "/antiphon/note": ("iiif", [60, 100, 10, 0.5]),
            "/antiphon/phrase": ("ifs", [7, 3.5, "F#"]),
            "/antiphon/error": ("ss", ["/antiphon/x", "bad \\xe9"]),
        }
        deadline = time.monotonic() + 5.0
        while set(wanted) - set(got) and time.monotonic() < deadline:
            got.update(_dumped(lines, 0.05))
        assert {address: got.get(address) for address in wanted} == wanted
    finally:
        server.stop()
        feedback.close()
        proc.terminate()
        proc.wait(5)


def _dumped(lines: queue.Queue[str], wait_s: float) -> dict[str, tuple[str, list[Any]]]:
    """oscdump lines (``<time> <address> <types> <values...>``) printed so far, by address, values typed."""
    out: dict[str, tuple[str, list[Any]]] = {}
    try:
        line = lines.get(timeout=wait_s)
        while True:
            _, address, *rest = shlex.split(line)
            types, raw = (rest[0], rest[1:]) if rest else ("", [])
            convert = {"i": int, "f": float, "d": float, "s": str}
            out[address] = (types, [convert[t](v) for t, v in zip(types, raw, strict=True)])
            line = lines.get_nowait()
    except queue.Empty:
        return out


# ------------------------------------------------------------------ lifecycle and configuration


def test_stop_returns_quickly_and_is_safe_twice() -> None:
    with running_server() as rig:
        begun = time.monotonic()
        rig.server.stop()
        rig.server.stop()
        assert time.monotonic() - begun < 1.0


def test_a_port_in_use_is_an_error_that_says_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        server = OscServer(OscConfig(port=port), ControlQueue(), LiveState(), None)
        with pytest.raises(OscConfigError, match="--osc-port"):
            server.start()


def test_a_reply_port_equal_to_the_listening_port_is_refused() -> None:
    port = free_udp_port()
    feedback = OscFeedback("127.0.0.1", port)
    server = OscServer(OscConfig(port=port), ControlQueue(), LiveState(), feedback)
    with pytest.raises(OscConfigError, match="replies would come back"):
        server.start()
    server.stop()
    feedback.close()


def test_no_reply_port_means_errors_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = OscServer(OscConfig(port=0), ControlQueue(), LiveState(), OscFeedback(port=0))
    with caplog.at_level(logging.WARNING, logger="daemon.io.osc_server"):
        server.handle_datagram(b"junk", ("127.0.0.1", 9))
    assert "not OSC" in caplog.text and server.stats().malformed == 1


def test_osc_settings_come_from_flags_then_environment_then_preset() -> None:
    parser = argparse.ArgumentParser()
    add_osc_arguments(parser)
    preset = OscConfig.from_toml({"port": 9100, "reply_port": 9101})
    args = parser.parse_args([])
    assert osc_config_from_args(args, preset, environ={}) == OscConfig(port=9100, reply_port=9101)
    env = {"ANTIPHON_OSC_PORT": "9200", "ANTIPHON_OSC_REPLY_HOST": "10.0.0.2"}
    assert osc_config_from_args(args, preset, env) == OscConfig(port=9200, reply_host="10.0.0.2",
                                                                reply_port=9101)
    args = parser.parse_args(["--osc-port", "9300", "--osc-reply-port", "0", "--no-osc"])
    assert osc_config_from_args(args, preset, env) == OscConfig(port=9300, reply_host="10.0.0.2",
                                                                reply_port=0, enabled=False)
    assert osc_config_from_args(parser.parse_args([]), environ={}) == OscConfig()
    assert (OscConfig().port, OscConfig().reply_port) == (DEFAULT_OSC_PORT, DEFAULT_REPLY_PORT)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: OscConfig.from_toml({"prot": 1}), "unknown key osc.prot"),
    (lambda: OscConfig(port=70000), "0-65535"),
    (lambda: OscConfig(reply_host=""), "host"),
    (lambda: OscConfig.from_toml({"enabled": "yes"}), "true or false"),
    (lambda: osc_config_from_args(argparse.Namespace(), environ={"ANTIPHON_OSC_PORT": "x"}),
     "ANTIPHON_OSC_PORT"),
])
def test_bad_osc_settings_are_named(make: Any, expected: str) -> None:
    with pytest.raises(OscConfigError, match=re.escape(expected)):
        make()


# ------------------------------------------------------------------ parsing and the table


def test_parse_packet_reads_messages_and_flat_bundles() -> None:
    msg = build_msg("/antiphon/set/key", ["D"]).dgram
    assert parse_packet(msg)[0].params == ["D"]
    assert [m.address for m in parse_packet(_bundle(msg, msg))] == ["/antiphon/set/key"] * 2
    assert parse_packet(_bundle()) == []
    with pytest.raises(OscPacketError, match="nested"):
        parse_packet(_bundle(_bundle()))


def test_the_address_table_lists_every_parameter_and_command() -> None:
    table = address_table_markdown()
    for address in known_addresses():
        assert f"| `{address}` |" in table
    for feedback in ("/antiphon/note", "/antiphon/phrase", "/antiphon/error", "/antiphon/learned"):
        assert f"| `{feedback}` |" in table


def test_the_osc_readme_section_holds_the_generated_table() -> None:
    text = OSC_MD.read_text(encoding="utf-8")
    block = text.split("<!-- BEGIN generated by daemon.io.osc_addresses.address_table_markdown() -->\n", 1)[1]
    block = block.split("<!-- END generated -->", 1)[0]
    assert block == address_table_markdown(), "presets/patches/OSC.md is stale: regenerate its table"
    assert str(DEFAULT_OSC_PORT) in text and str(DEFAULT_REPLY_PORT) in text
