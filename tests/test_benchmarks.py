"""The benchmarks still run: ``python -m benchmarks --quick --only ...`` writes the table and the JSON.

A smoke test, not a measurement: the cheap sections run in a subprocess with tiny
random-weight models and the shortest settings, on the session's JACK server
(``--jack-running``), and the JSON is checked for its keys and for finite numbers. No time is
asserted (the numbers of a loaded test machine say nothing); ``response_latency`` is left out
(it needs several daemon start-ups per clock, and the JACK tests exercise its rig).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import TARGETS

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("model_speed", "gan_speed", "vae_speed", "restyle_speed", "timing", "footprint", "training_speed")
TIMEOUT_S = 240  # a generous ceiling on a loaded machine; the run usually takes well under a minute

pytestmark = pytest.mark.jack


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, jack_server: str) -> dict[str, Any]:
    pytest.importorskip("torch")
    from tests.export.tiny_gan import cached_tiny_gan
    from tests.export.tiny_lstm import cached_tiny_model
    from tests.export.tiny_vae import tiny_vae

    lstm_checkpoint, lstm = cached_tiny_model(tmp_path_factory, "events")
    _, gan = cached_tiny_gan(tmp_path_factory, "grooves")
    out = tmp_path_factory.mktemp("bench")
    empty_data = tmp_path_factory.mktemp("no-data")  # training_speed and vae_speed fall back to synthetic data
    vae_checkpoint, vae = tiny_vae(tmp_path_factory.mktemp("vae"))
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--only", *SECTIONS,
               "--jack-running", "--lstm-model", str(lstm), "--gan-model", str(gan),
               "--model", str(lstm), "--checkpoint", str(lstm_checkpoint), "--gan-bars", "100",
               "--timing-s", "8", "--footprint-starts", "1", "--footprint-window-s", "1",
               "--train-steps", "1", "--train-data", str(empty_data), "--vae-model", str(vae),
               "--vae-checkpoint", str(vae_checkpoint), "--vae-phrases", "10", "--vae-data", str(empty_data),
               "--restyle-bars", "20"]
    done = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=dict(os.environ))
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert (out / "benchmarks.md").is_file()
    payload: dict[str, Any] = json.loads((out / "benchmarks.json").read_text())
    payload["_markdown"] = (out / "benchmarks.md").read_text()
    return payload


def test_the_json_describes_the_machine_with_its_load_at_start_and_end(results: dict[str, Any]) -> None:
    machine = results["machine"]
    for key in ("cpu", "logical_cpus", "usable_cpus", "os", "python", "onnxruntime", "torch"):
        assert machine[key], key
    for key in ("load_average_1_5_15", "load_average_end_1_5_15"):
        assert len(machine[key]) == 3 and all(_finite(x) for x in machine[key]), key
    assert results["quick"] is True
    assert "load average" in results["_markdown"]


def test_every_section_asked_for_ran_and_its_numbers_are_finite(results: dict[str, Any]) -> None:
    sections = {s["name"]: s for s in results["sections"]}
    assert set(sections) == set(SECTIONS)
    for name, section in sections.items():
        assert "error" not in section, f"{name}: {section.get('error')}"
        assert section["timings"] or section["quantities"], name
        for row in section["timings"]:
            assert row["n"] > 0, (name, row["name"])
            for key in ("median_ms", "p95_ms", "p99_ms"):
                assert _finite(row[key]), (name, row["name"], key)
        for row in section["quantities"]:
            assert row["n"] > 0, (name, row["name"])
            for key in ("median", "p95", "p99", "max"):
                assert _finite(row[key]), (name, row["name"], key)


def test_each_target_of_a_section_that_ran_is_judged_or_says_why_not(results: dict[str, Any]) -> None:
    judged = {(t["section"], t["row"]): t for t in results["targets"]}
    for target in TARGETS:
        if target.section not in SECTIONS:
            continue
        result = judged[(target.section, target.row)]
        assert result["target"] and result["measured"], result
        if result["met"] is None:  # e.g. drift over a run too short to judge
            assert result["reason"], result
        else:
            assert _finite(result["value"]), result
    assert "| what | target | measured | met | why missed |" in results["_markdown"]


def test_the_sections_report_what_the_readme_promises(results: dict[str, Any]) -> None:
    sections = {s["name"]: s for s in results["sections"]}
    footprint = sections["footprint"]
    assert isinstance(footprint["derived"]["torch never imported"], bool)
    assert footprint["derived"]["onnxruntime mapped (the torch check's positive control)"] is True
    assert {q["unit"] for q in footprint["quantities"]} >= {"s", "MB", "%"}
    timing = sections["timing"]
    drift = timing["derived"]["drift, JACK frames (ms per minute)"]
    assert drift is None or _finite(drift)  # None: the 8 s run is too short to judge
    assert timing["derived"].get("drift of a run too short to judge, ms per minute (JACK frames; perf_counter)")
    training = sections["training_speed"]
    assert _finite(training["derived"]["LSTM notes per second, cpu"])
    assert _finite(training["derived"]["GAN bars per second, cpu"])
    assert "SYNTHETIC" in " ".join(training["notes"])
    model = sections["model_speed"]
    assert _finite(model["derived"]["onnxruntime fp32 speed-up over PyTorch eager (median)"])
    vae = sections["vae_speed"]
    assert {t["name"] for t in vae["timings"]} >= {"onnxruntime: encode + 2-bar answer (live path)",
                                                   "PyTorch eager: encode + 2-bar answer (same path)"}
    assert _finite(vae["derived"]["onnxruntime speed-up over PyTorch eager (median)"])
    assert vae["derived"]["p99 fits between the phrase end and the next bar line at 180 bpm (1,333 ms)"] in (True, False)
    restyle = sections["restyle_speed"]
    assert {t["name"] for t in restyle["timings"]} >= {"onnxruntime: one bar on the live path (notes in, notes out)",
                                                       "onnxruntime: the model alone, one bar"}


def test_a_short_set_with_a_jack_restart_ends_with_nothing_stuck(tmp_path: Path) -> None:
    """The soak benchmark's --quick form, shorter: phrases with stream faults, the band, a JACK restart."""
    out = tmp_path / "soak"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--only", "soak", "--soak-s", "30"]
    done = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=dict(os.environ))
    assert (out / "benchmarks.json").is_file(), f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    soak = {s["name"]: s for s in json.loads((out / "benchmarks.json").read_text())["sections"]}["soak"]
    assert "error" not in soak, soak.get("error")
    derived = soak["derived"]
    assert derived["stuck notes at the end"] == 0, derived
    assert derived["JACK server restarts survived"] == 1, derived
    answered, played = (int(x) for x in derived["phrases answered, played"].split(", "))
    assert played >= 4 and answered >= played - 1, derived
    assert derived["errors logged (daemon count; ERROR lines)"] == "0; 0", soak["notes"]


def test_a_short_band_under_changing_chords_plays_every_part_and_leaves_nothing_stuck(tmp_path: Path) -> None:
    """The band benchmark's --quick form, shorter: the bundled groove band under a player's chords."""
    out = tmp_path / "band"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--only", "band", "--band-s", "30"]
    done = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=dict(os.environ))
    assert (out / "benchmarks.json").is_file(), f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    band = {s["name"]: s for s in json.loads((out / "benchmarks.json").read_text())["sections"]}["band"]
    assert "error" not in band, band.get("error")
    derived = band["derived"]
    assert derived["stuck notes at the end"] == 0, derived
    assert derived["errors logged"] == 0, band["notes"]
    assert all(min(counts) > 0 for counts in band["data"]["per_minute"].values()), band["data"]
    assert derived["harmony: bass and chord note time in the player's chord"] > 0.6, derived
