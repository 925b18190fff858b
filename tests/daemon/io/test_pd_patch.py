"""The example patches: the Pd patch run headless against a real server, the Max patch checked as data.

The Pd test runs the shipped ``presets/patches/antiphon.pd`` with ``pd -nogui`` (its ports
rewritten to free ones): at load it must set temperature on the server and ask for the status,
and it must print the feedback the server sends. Without ``pd`` it is skipped, or fails when
the ``CI`` environment variable is set (``tests/run`` installs puredata).
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message_builder import build_msg

from daemon.control.events import ControlQueue
from daemon.control.live_state import LiveState
from daemon.control.osc_config import DEFAULT_OSC_PORT, DEFAULT_REPLY_PORT, OscConfig
from daemon.io.osc_feedback import OscFeedback
from daemon.io.osc_server import OscServer
from tests.daemon.osc_support import free_udp_port, require_tool, running_server

PATCHES = Path(__file__).resolve().parents[3] / "presets" / "patches"
PD_PATCH = PATCHES / "antiphon.pd"
MAX_PATCH = PATCHES / "antiphon.maxpat"
PD_WAIT_S = 10.0

# Vanilla Max objects the example may use: (maxclass, or first word of a newobj's text).
MAX_VANILLA = {"comment", "message", "flonum", "number", "toggle", "newobj", "udpsend", "udpreceive",
               "prepend", "route", "sel", "print", "loadbang"}


def _pd_with_ports(tmp_path: Path, server_port: int, reply_port: int) -> Path:
    text = PD_PATCH.read_text(encoding="utf-8")
    assert f"connect 127.0.0.1 {DEFAULT_OSC_PORT};" in text
    assert f"netreceive -u -b {DEFAULT_REPLY_PORT};" in text
    text = text.replace(f"connect 127.0.0.1 {DEFAULT_OSC_PORT};", f"connect 127.0.0.1 {server_port};")
    text = text.replace(f"netreceive -u -b {DEFAULT_REPLY_PORT};", f"netreceive -u -b {reply_port};")
    path = tmp_path / "antiphon.pd"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_pd_patch_sets_a_parameter_at_load_and_prints_the_feedback(tmp_path: Path) -> None:
    pd = require_tool("pd", "puredata")
    reply_port = free_udp_port()
    state, controls = LiveState(), ControlQueue()
    feedback = OscFeedback("127.0.0.1", reply_port)
    server = OscServer(OscConfig(port=0), controls, state, feedback)
    server.start()
    patch = _pd_with_ports(tmp_path, server.address[1], reply_port)
    proc = subprocess.Popen([pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(patch)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in proc.stdout or ()],
                     daemon=True).start()
    printed: list[str] = []

    def wait_printed(wanted: str) -> None:
        deadline = time.monotonic() + PD_WAIT_S
        while wanted not in printed:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                pytest.fail(f"pd never printed {wanted!r}; it printed: {printed}", pytrace=False)
            try:
                printed.append(lines.get(timeout=min(left, 0.1)))
            except queue.Empty:
                pass

    try:
        # The loadbang sets temperature 0.8 (Pd sends a 32-bit float) and asks for the status.
        wait_printed("antiphon: state temperature 0.8")
        assert state.get("temperature") == pytest.approx(0.8)
        wait_printed(f"antiphon: status end {len(state.status())}")
        assert "antiphon: state accompany_channels 10 2 3" in printed
        # Feedback the engine would send reaches the patch's print.
        feedback.note(62, 90, 0, 0.5)
        feedback.phrase(4, 2.0, 7)
        wait_printed("antiphon: note 62 90 1 0.5")
        wait_printed("antiphon: phrase 4 2 G")
        assert not [line for line in printed if "error" in line.lower()], printed
        assert server.stats().rejected == 0 and server.stats().malformed == 0
    finally:
        proc.terminate()
        proc.wait(5)
        server.stop()
        feedback.close()


def test_the_pd_patch_uses_vanilla_objects_and_the_default_ports() -> None:
    text = PD_PATCH.read_text(encoding="utf-8")
    objects = re.findall(r"^#X obj \d+ \d+ ([^\s;]+)", text, flags=re.MULTILINE)
    assert set(objects) <= {"loadbang", "t", "oscformat", "list", "netsend", "netreceive", "oscparse",
                            "route", "print", "tgl", "sel"}
    assert "netsend -u -b" in text and "oscparse" in text and "oscformat" in text
    assert f"connect 127.0.0.1 {DEFAULT_OSC_PORT}" in text
    assert f"netreceive -u -b {DEFAULT_REPLY_PORT}" in text


def _max_boxes() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    patcher = json.loads(MAX_PATCH.read_text(encoding="utf-8"))["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    return boxes, [line["patchline"] for line in patcher["lines"]]


def test_the_max_patch_is_a_valid_patcher_of_vanilla_objects_on_the_default_ports() -> None:
    boxes, lines = _max_boxes()
    for box in boxes.values():
        kind = box["text"].split()[0] if box["maxclass"] == "newobj" else box["maxclass"]
        assert kind in MAX_VANILLA, kind
        assert len(box["patching_rect"]) == 4
        assert len(box.get("outlettype", [])) in (0, box["numoutlets"])
    for line in lines:
        source, outlet = line["source"]
        destination, inlet = line["destination"]
        assert outlet < boxes[source]["numoutlets"] and inlet < boxes[destination]["numinlets"], line
    texts = [b.get("text", "") for b in boxes.values()]
    assert f"udpsend 127.0.0.1 {DEFAULT_OSC_PORT}" in texts and f"udpreceive {DEFAULT_REPLY_PORT}" in texts
    assert {b["maxclass"] for b in boxes.values()} >= {"flonum", "toggle", "message"}


def test_every_message_the_max_patch_sends_is_accepted_by_the_server() -> None:
    boxes, lines = _max_boxes()
    sender = next(i for i, b in boxes.items() if b.get("text", "").startswith("udpsend"))
    feeding = {line["source"][0] for line in lines if line["destination"][0] == sender}
    sent: list[tuple[str, list[Any]]] = []
    for box_id in feeding:
        text = boxes[box_id]["text"]
        if text.startswith("prepend "):  # a number box feeds it: send a value from the box's range
            number = next(boxes[line["source"][0]] for line in lines if line["destination"][0] == box_id)
            low = number["minimum"]
            value: Any = float(low) if number["maxclass"] == "flonum" else int(low)
            sent.append((text.split()[1], [value]))
        else:
            address, *args = text.split()
            sent.append((address, args))
    assert len(sent) >= 10
    with running_server() as rig:
        start = rig.replies.mark()
        for address, args in sent:
            rig.send_raw(build_msg(address, args).dgram)
        assert [m for m in rig.settle(start) if m.address == "/antiphon/error"] == []
    assert rig.server.stats().rejected == 0
