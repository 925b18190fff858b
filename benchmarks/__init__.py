"""Measure what the README claims: ``python -m benchmarks [--quick] [--out DIR]``.

Each section is a module in this package listed in :data:`SECTIONS`; it exposes

* ``NAME`` (the ``--only`` key) and ``TITLE``,
* ``add_arguments(parser)`` for its own options (optional),
* ``run(args, quick) -> Section``.

The entry point runs them in order and writes one markdown table per section plus a JSON
file with every sample's summary and a description of the machine. Later sections
(response latency, jitter, footprint, GAN bar time) slot in as more modules.

Every timing is reported as median, p95 and p99 over its samples, in milliseconds.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

# Section modules, in the order they run; one whose module is not there yet is skipped.
SECTIONS: tuple[str, ...] = ("benchmarks.model_speed", "benchmarks.gan_speed", "benchmarks.response_latency")


@dataclass
class Timing:
    """One measured quantity: many samples of a duration.

    Attributes:
        name: the row label ("onnxruntime fp32 step").
        samples_s: every sample, in seconds.
        note: anything a reader needs to judge the row.
    """

    name: str
    samples_s: np.ndarray
    note: str = ""

    def stats(self) -> dict[str, float]:
        """n, mean/median/p95/p99 in ms, and events per second at the mean."""
        ms = np.asarray(self.samples_s, np.float64) * 1e3
        mean = float(ms.mean())
        return {
            "n": int(ms.size),
            "mean_ms": mean,
            "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)),
            "per_s": 1e3 / mean if mean > 0 else float("inf"),
        }


@dataclass
class Section:
    """A section's results: timing rows, derived numbers (ratios...), and notes."""

    name: str
    title: str
    timings: list[Timing] = field(default_factory=list)
    derived: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title,
                "timings": [{"name": t.name, "note": t.note, **t.stats()} for t in self.timings],
                "derived": self.derived, "notes": self.notes}

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", "", "| what | n | median ms | p95 ms | p99 ms | per second |",
                 "|---|---:|---:|---:|---:|---:|"]
        for t in self.timings:
            s = t.stats()
            lines.append(f"| {t.name} | {s['n']} | {s['median_ms']:.4f} | {s['p95_ms']:.4f} | {s['p99_ms']:.4f} | "
                         f"{s['per_s']:,.0f} |")
        if self.derived:
            lines.append("")
            lines.extend(f"- {k}: {v:.3g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in self.derived.items())
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on (CPU, cores, load, OS, Python and library versions)."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average_1_5_15": load,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime"),
        "onnx": _version("onnx"),
        "torch": _version("torch"),
    }
