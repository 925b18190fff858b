"""Run one benchmark section as the README's command does, in its own process, for the tests that
claim what it measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.jack_rig import REPO_ROOT


def run_section(out: Path, name: str, *extra: str, timeout_s: float = 600) -> dict[str, Any]:
    """``python -m benchmarks --quick --only NAME EXTRA...`` into ``out``; the section's JSON (it ran)."""
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--only", name, *extra]
    done = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s,
                          env=dict(os.environ))
    assert (out / "benchmarks.json").is_file(), f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    section: dict[str, Any] = {s["name"]: s for s in json.loads((out / "benchmarks.json").read_text())["sections"]}[name]
    assert "error" not in section, section.get("error")
    return section
