"""``python -m benchmarks [--quick] [--out DIR] [--only NAME ...]``: run the benchmark sections.

Prints a summary of the README's targets and one markdown table per section, and writes
``DIR/benchmarks.md`` and ``DIR/benchmarks.json`` (default DIR: ``benchmark-results``). The
machine (CPU, cores, load average at start and at end) heads both. A section that cannot run
(no jackd, no torch) is reported as "not measured" with the reason; the others still run, and
the exit status is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    SECTIONS,
    Section,
    TargetResult,
    load_average,
    load_note,
    machine_description,
    plain,
    summary_markdown,
)
from daemon.errors import AntiphonError

log = logging.getLogger("benchmarks")


def _add_common(parser: argparse.ArgumentParser) -> None:
    """Options several sections read (``getattr(args, name, None)``)."""
    group = parser.add_argument_group("models and JACK (shared by the sections)")
    group.add_argument("--lstm-model", type=Path,
                       help="the LSTM .onnx the daemon sections play (default: bundled, else runs/folk-events, "
                            "else a freshly initialised one)")
    group.add_argument("--jack-running", action="store_true",
                       help="use the JACK server $JACK_DEFAULT_SERVER names instead of starting one per section")
    try:
        group.add_argument("--gan-model", type=Path, help="the GAN .onnx the daemon sections play")
    except argparse.ArgumentError:
        pass  # a section (gan_speed) already defines it, with the same meaning


def _machine_line(machine: dict[str, Any]) -> str:
    start = ", ".join(f"{x:.2f}" for x in machine["load_average_1_5_15"])
    end = ", ".join(f"{x:.2f}" for x in machine.get("load_average_end_1_5_15", []))
    return (f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} logical CPUs; "
            f"load average (1, 5, 15 min) {start} at start, {end} at end; {machine['os']}; Python "
            f"{machine['python']}, onnxruntime {machine['onnxruntime']}, torch {machine['torch']}, numpy "
            f"{machine['numpy']}.")


def main(argv: list[str] | None = None) -> int:
    modules = [importlib.import_module(name) for name in SECTIONS if importlib.util.find_spec(name) is not None]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     conflict_handler="error")
    parser.add_argument("--quick", action="store_true",
                        help="a short run of every section (fewer samples, a 45 s drift run): for CI and checks")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"), help="folder for .md and .json")
    parser.add_argument("--only", nargs="+", choices=[m.NAME for m in modules], help="run only these sections")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    for module in modules:
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser.add_argument_group(module.TITLE))
    _add_common(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    machine = machine_description()
    sections: list[Section] = []
    started = time.time()
    durations: dict[str, float] = {}
    for module in modules:
        if args.only and module.NAME not in args.only:
            continue
        log.info("running %s", module.NAME)
        t0 = time.monotonic()
        try:
            section = module.run(args, args.quick)
        except AntiphonError as exc:
            log.warning("%s not measured: %s", module.NAME, exc)
            section = Section(module.NAME, module.TITLE, error=str(exc))
        durations[module.NAME] = time.monotonic() - t0
        sections.append(section)
    machine["load_average_end_1_5_15"] = load_average()
    results: list[TargetResult] = [r for s in sections for r in s.judge(machine)]
    took = ", ".join(f"{k} {v:.0f} s" for k, v in durations.items())
    mode = "--quick" if args.quick else "full"
    header = ["# Antiphon benchmarks", "", _machine_line(machine), "",
              f"Mode: {mode}; took {time.time() - started:.0f} s ({took}).", ""]
    loaded = load_note(machine)
    if loaded:
        warning = (f"**Measured on a loaded machine ({loaded.split('(', 1)[1].rstrip(')')}): re-run on a quiet one "
                   "before quoting these numbers.**")
        header += [warning, ""]
    markdown = "\n".join(header) + "\n" + summary_markdown(results) + "\n" + "\n".join(s.to_markdown() for s in sections)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.md").write_text(markdown, encoding="utf-8")
    payload = {"machine": machine, "quick": args.quick, "started_unix_s": started,
               "duration_s": time.time() - started, "section_duration_s": durations,
               "targets": [r.to_json() for r in results], "sections": [s.to_json() for s in sections]}
    (args.out / "benchmarks.json").write_text(json.dumps(plain(payload), indent=2, allow_nan=False), encoding="utf-8")
    log.info("wrote %s and %s", args.out / "benchmarks.md", args.out / "benchmarks.json")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
