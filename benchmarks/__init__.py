"""Measure what the README claims: ``python -m benchmarks [--quick] [--out DIR]``.

Each section is a module in this package listed in :data:`SECTIONS`; it exposes

* ``NAME`` (the ``--only`` key) and ``TITLE``,
* ``add_arguments(parser)`` for its own options (optional),
* ``run(args, quick) -> Section``.

The entry point runs them in order and writes one markdown table per section plus a JSON
file with every sample's summary and a description of the machine (CPU, cores, and the load
average at start and at end, so that numbers taken on a busy machine say so).

Every duration is reported as median, p95 and p99 over its samples, in milliseconds
(:class:`Timing`); other quantities (memory in MB, CPU in %, start-up in s) likewise, in their
own unit (:class:`Quantity`). The README's targets live in one place, :data:`TARGETS`; each
names the section and row it judges, and the markdown shows it in a "target" and a "met"
column, and in a summary table with the reason where a target is missed.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

# Section modules, in the order they run; one whose module is not there yet is skipped.
SECTIONS: tuple[str, ...] = (
    "benchmarks.model_speed",
    "benchmarks.gan_speed",
    "benchmarks.vae_speed",
    "benchmarks.restyle_speed",
    "benchmarks.response_latency",
    "benchmarks.timing",
    "benchmarks.footprint",
    "benchmarks.training_speed",
    "benchmarks.soak",
    "benchmarks.band",
    "benchmarks.link",
    "benchmarks.console",
)


@dataclass
class Timing:
    """One measured quantity: many samples of a duration.

    Attributes:
        name: the row label ("onnxruntime fp32 step").
        samples_s: every sample, in seconds.
        note: anything a reader needs to judge the row.
        rate: show "per second" in the markdown (off for latencies and errors, where it means nothing).
    """

    name: str
    samples_s: np.ndarray
    note: str = ""
    rate: bool = True

    def stats(self) -> dict[str, float]:
        """n, mean/median/p95/p99 in ms, and events per second at the mean."""
        ms = np.asarray(self.samples_s, np.float64) * 1e3
        if ms.size == 0:
            nan = float("nan")
            return {"n": 0, "mean_ms": nan, "median_ms": nan, "p95_ms": nan, "p99_ms": nan, "per_s": nan}
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
class Quantity:
    """A measured quantity that is not a duration in ms: many samples in ``unit``.

    Attributes:
        name: the row label ("resident memory while answering").
        samples: every sample, in ``unit``.
        unit: "MB", "%", "s", "notes/s"...
        note: anything a reader needs to judge the row.
    """

    name: str
    samples: np.ndarray
    unit: str
    note: str = ""

    def stats(self) -> dict[str, float]:
        """n, and mean/median/p95/p99/min/max in :attr:`unit`."""
        x = np.asarray(self.samples, np.float64)
        if x.size == 0:
            nan = float("nan")
            return {"n": 0, "mean": nan, "median": nan, "p95": nan, "p99": nan, "min": nan, "max": nan}
        return {"n": int(x.size), "mean": float(x.mean()), "median": float(np.median(x)),
                "p95": float(np.percentile(x, 95)), "p99": float(np.percentile(x, 99)),
                "min": float(x.min()), "max": float(x.max())}


@dataclass(frozen=True)
class Target:
    """One of the README's targets, and where its number is.

    Attributes:
        what: what is promised, in the README's words.
        section: the section ``NAME``.
        row: a timing or quantity row name, or a key of the section's ``derived``.
        stat: ``median``, ``p95``, ``p99``, ``max`` (of a row), or ``value`` (a derived number or flag).
        limit: the bound, in ``unit`` (ignored for ``kind="true"``).
        unit: "ms", "MB", "s", "x", "ms/min".
        kind: ``at_most``, ``at_least``, ``abs_at_most`` (the size of a signed number) or ``true``.
    """

    what: str
    section: str
    row: str
    stat: str
    limit: float
    unit: str
    kind: str = "at_most"

    def text(self) -> str:
        """The target as a reader sees it ("p99 <= 3 ms")."""
        if self.kind == "true":
            return "yes"
        stat = "" if self.stat == "value" else f"{self.stat} "
        sign = {"at_most": "<=", "at_least": ">=", "abs_at_most": "|x| <="}[self.kind]
        return f"{stat}{sign} {self.limit:g} {self.unit}".strip()


# The README's targets. Rows are the sections' own row names (a target whose row a section did
# not produce shows as "not measured").
TARGETS: tuple[Target, ...] = (
    Target("Response: phrase end -> first note-on (jack_midi_clock)", "response_latency",
           "jack_midi_clock, bar line pulse -> first answer note-on (signed)", "p99", 3.0, "ms"),
    Target("Response: phrase end -> first note-on (internal clock)", "response_latency",
           "internal clock, bar line -> first answer note-on (signed)", "p99", 3.0, "ms"),
    Target("Response: OSC /antiphon/generate -> first note-on, vs its grid time (jack_midi_clock)",
           "response_latency", "jack_midi_clock, OSC generate: first answer note-on vs its grid step (signed)",
           "p99", 3.0, "ms"),
    Target("Response: OSC /antiphon/generate -> first note-on, vs its grid time (internal clock)",
           "response_latency", "internal clock, OSC generate: first answer note-on vs its grid step (signed)",
           "p99", 3.0, "ms"),
    Target("LSTM step, onnxruntime fp32", "model_speed", "onnxruntime fp32 step", "p99", 0.25, "ms"),
    Target("LSTM step, onnxruntime int8", "model_speed", "onnxruntime int8 step", "p99", 0.25, "ms"),
    Target("LSTM step, onnxruntime fp32 vs PyTorch eager", "model_speed",
           "onnxruntime fp32 speed-up over PyTorch eager (median)", "value", 10.0, "x", "at_least"),
    Target("GAN bar, onnxruntime (daemon path)", "gan_speed", "onnxruntime: one bar (daemon path)", "median", 2.0,
           "ms"),
    Target("Phrase VAE: encode + 2-bar answer, onnxruntime (live path), within a bar at 180 bpm", "vae_speed",
           "onnxruntime: encode + 2-bar answer (live path)", "p99", 1333.0, "ms"),
    Target("Restyle: one bar on the live path, within the 20 ms between the bar's making and its hand-over",
           "restyle_speed", "onnxruntime: one bar on the live path (notes in, notes out)", "p99", 20.0, "ms"),
    Target("Output jitter under jack_midi_clock (JACK frame times)", "timing",
           "note-on jitter, JACK frames (|error - median error|)", "p99", 1.0, "ms"),
    Target("Note-on vs its pulse's frame under jack_midi_clock, own JACK client", "timing",
           "note-on |error| vs grid, JACK frames", "p99", 0.1, "ms"),
    Target("Note-on vs its pulse's frame under jack_midi_clock, own JACK client (median)", "timing",
           "note-on |error| vs grid, JACK frames", "median", 0.02, "ms"),
    Target("Note-on vs its grid frame on the internal clock, own JACK client", "timing",
           "note-on |error| vs grid, JACK frames, internal clock", "p99", 0.1, "ms"),
    Target("No drift over the run (JACK frame times)", "timing", "drift, JACK frames (ms per minute)", "value", 0.1,
           "ms/min", "abs_at_most"),
    Target("Link: bar-line note-ons vs the session's bar lines, own JACK client", "link",
           "bar-line note-on |error| vs the Link session's bar lines", "p99", 1.0, "ms"),
    Target("Link: Antiphon's tempo vs the session's", "link",
           "Antiphon's tempo vs the session's after joining (bpm)", "value", 0.1, "bpm"),
    Target("Daemon resident memory (highest seen)", "footprint", "resident memory (VmRSS), all phases", "max",
           150.0, "MB"),
    Target("torch never imported by the daemon", "footprint", "torch never imported", "value", 0.0, "",
           "true"),
    Target("Start-up until 'ready' (ports and OSC open)", "footprint", "spawn -> 'ready' logged", "median", 1.5, "s"),
    Target("A set: phrases answered / played", "soak", "phrases answered / played", "value", 0.95, "",
           "at_least"),
    Target("A set: stuck notes at the end", "soak", "stuck notes at the end", "value", 0.0, ""),
    Target("A set: JACK server restarts survived", "soak", "JACK server restarts survived", "value", 1.0, "",
           "at_least"),
)


@dataclass
class TargetResult:
    """A target judged against what a section measured.

    Attributes:
        target: the target.
        value: the number judged (NaN: not measured).
        measured: the number as a reader sees it, with context.
        met: True/False, or None when not measured.
        reason: why it was missed (or not measured), when known.
    """

    target: Target
    value: float
    measured: str
    met: bool | None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"what": self.target.what, "section": self.target.section, "row": self.target.row,
                "target": self.target.text(), "limit": self.target.limit, "unit": self.target.unit,
                "value": _finite_or_none(self.value), "measured": self.measured, "met": self.met,
                "reason": self.reason}


@dataclass
class Section:
    """A section's results: timing and quantity rows, derived numbers (ratios...), notes.

    Attributes:
        reasons: row name -> why its target was missed, when the section knows (a JACK period
            quantising the output, a loaded machine...).
        error: set when the section could not run (the markdown says why; no numbers).
        data: extra plain numbers for the JSON only (every latency, per-phase details...).
    """

    name: str
    title: str
    timings: list[Timing] = field(default_factory=list)
    derived: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def targets(self) -> list[Target]:
        return [t for t in TARGETS if t.section == self.name]

    def judge(self, machine: dict[str, Any] | None = None) -> list[TargetResult]:
        """Each of this section's targets against its rows; a missed one gets the known reason."""
        results = []
        for target in self.targets():
            result = self._judge(target)
            if result.met is False and not result.reason:
                result.reason = self.reasons.get(target.row, "")
            if result.met is False and machine is not None:
                loaded = load_note(machine)
                if loaded:
                    result.reason = f"{result.reason}; {loaded}" if result.reason else loaded
            results.append(result)
        return results

    def _judge(self, target: Target) -> TargetResult:
        if self.error:
            return TargetResult(target, float("nan"), "not measured", None, self.error)
        value: Any = None
        context = ""
        for t in self.timings:
            if t.name == target.row:
                s = t.stats()
                value = s.get(f"{target.stat}_ms", float("nan"))
                context = f"median {s['median_ms']:.3g} / p95 {s['p95_ms']:.3g} / p99 {s['p99_ms']:.3g} ms, n={s['n']}"
        for q in self.quantities:
            if q.name == target.row:
                s = q.stats()
                value = s.get(target.stat, float("nan"))
                context = (f"median {s['median']:.4g} / p95 {s['p95']:.4g} / p99 {s['p99']:.4g} / max {s['max']:.4g} "
                           f"{q.unit}, n={s['n']}")
        if value is None and target.row in self.derived:
            value = self.derived[target.row]
        if value is None:
            return TargetResult(target, float("nan"), "not measured", None, "the section produced no such row")
        if target.kind == "true":
            met = bool(value) is True
            return TargetResult(target, float(bool(value)), "yes" if value else "no", met)
        number = float(value)
        if not math.isfinite(number):
            return TargetResult(target, number, context or "not judged", None, self.reasons.get(target.row, "no samples"))
        if target.kind == "at_most":
            met = number <= target.limit
        elif target.kind == "at_least":
            met = number >= target.limit
        else:
            met = abs(number) <= target.limit
        shown = f"{number:.4g} {target.unit}".strip()
        return TargetResult(target, number, f"{shown} ({context})" if context else shown, met)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "title": self.title,
            "timings": [{"name": t.name, "note": t.note, **t.stats()} for t in self.timings],
            "quantities": [{"name": q.name, "unit": q.unit, "note": q.note, **q.stats()} for q in self.quantities],
            "derived": {k: plain(v) for k, v in self.derived.items()}, "notes": self.notes,
            "targets": [r.to_json() for r in self.judge()],
        }
        if self.error:
            out["error"] = self.error
        if self.data:
            out["data"] = plain(self.data)
        return out

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.error:
            lines.append(f"Not measured: {self.error}")
            return "\n".join(lines) + "\n"
        judged = {r.target.row: r for r in self.judge()}
        if self.timings:
            lines += ["| what | n | median ms | p95 ms | p99 ms | per second | target | met |",
                      "|---|---:|---:|---:|---:|---:|---|---|"]
            for t in self.timings:
                s = t.stats()
                rate = f"{s['per_s']:,.0f}" if t.rate else ""
                lines.append(f"| {_cell(t.name)} | {s['n']} | {s['median_ms']:.4f} | {s['p95_ms']:.4f} | {s['p99_ms']:.4f} | "
                             f"{rate} | {_target_cells(judged.get(t.name))} |")
        if self.quantities:
            if self.timings:
                lines.append("")
            lines += ["| what | n | median | p95 | p99 | max | unit | target | met |",
                      "|---|---:|---:|---:|---:|---:|---|---|---|"]
            for q in self.quantities:
                s = q.stats()
                lines.append(f"| {_cell(q.name)} | {s['n']} | {s['median']:.4g} | {s['p95']:.4g} | {s['p99']:.4g} | "
                             f"{s['max']:.4g} | {q.unit} | {_target_cells(judged.get(q.name))} |")
        if self.derived:
            lines.append("")
            for k, v in self.derived.items():
                shown = (f"{v:.3g}" if math.isfinite(v) else "not judged") if isinstance(v, float) else str(v)
                result = judged.get(k)
                if result is not None:
                    shown += f" (target {result.target.text()}: {_met_text(result.met)})"
                lines.append(f"- {k}: {shown}")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


def _met_text(met: bool | None) -> str:
    return "yes" if met else ("**no**" if met is False else "not judged")


def _cell(text: str) -> str:
    """``text`` safe inside a markdown table cell (a ``|`` would end the cell)."""
    return text.replace("|", "\\|")


def _target_cells(result: TargetResult | None) -> str:
    if result is None:
        return " | "
    return f"{_cell(result.target.text())} | {_met_text(result.met)}"


def summary_markdown(results: list[TargetResult]) -> str:
    """The targets table: what, target, measured, met, and why where missed."""
    lines = ["## Targets", "", "| what | target | measured | met | why missed |", "|---|---|---|---|---|"]
    for r in results:
        reason = r.reason if r.met is not True else ""
        lines.append(f"| {_cell(r.target.what)} | {_cell(r.target.text())} | {_cell(r.measured)} | "
                     f"{_met_text(r.met)} | {_cell(reason)} |")
    return "\n".join(lines) + "\n"


def load_note(machine: dict[str, Any]) -> str:
    """"measured under load ..." when the 1-minute load average exceeded the usable CPUs at start or end."""
    cpus = machine.get("usable_cpus") or machine.get("logical_cpus") or 1
    loads = [x[0] for x in (machine.get("load_average_1_5_15"), machine.get("load_average_end_1_5_15")) if x]
    if loads and max(loads) > cpus:
        return f"machine loaded (load average {' -> '.join(f'{x:.1f}' for x in loads)} on {cpus} CPUs)"
    return ""


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def plain(value: Any) -> Any:
    """JSON-safe: numpy scalars and arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        return _finite_or_none(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


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


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages (empty where the OS has none)."""
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on (CPU, cores, load at start, OS, Python and library versions)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average_1_5_15": load_average(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime"),
        "onnx": _version("onnx"),
        "torch": _version("torch"),
    }
