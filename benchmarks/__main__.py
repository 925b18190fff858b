"""``python -m benchmarks [--quick] [--out DIR] [--only NAME ...]``: run the benchmark sections.

Prints one markdown table per section and writes ``DIR/benchmarks.md`` and
``DIR/benchmarks.json`` (default DIR: ``benchmark-results``).
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

from benchmarks import SECTIONS, Section, machine_description
from daemon.errors import AntiphonError

log = logging.getLogger("benchmarks")


def main(argv: list[str] | None = None) -> int:
    modules = [importlib.import_module(name) for name in SECTIONS if importlib.util.find_spec(name) is not None]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (still >= 2,000 steps per row)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"), help="folder for .md and .json")
    parser.add_argument("--only", nargs="+", choices=[m.NAME for m in modules], help="run only these sections")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    for module in modules:
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser.add_argument_group(module.TITLE))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    machine = machine_description()
    sections: list[Section] = []
    started = time.time()
    try:
        for module in modules:
            if args.only and module.NAME not in args.only:
                continue
            log.info("running %s", module.NAME)
            sections.append(module.run(args, args.quick))
    except AntiphonError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    load = ", ".join(f"{x:.2f}" for x in machine["load_average_1_5_15"])
    machine_line = (f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} "
                    f"logical CPUs, load average {load} at start; {machine['os']}; Python {machine['python']}, "
                    f"onnxruntime {machine['onnxruntime']}, torch {machine['torch']}, numpy {machine['numpy']}.")
    header = ["# Antiphon benchmarks", "", machine_line, ""]
    markdown = "\n".join(header) + "\n" + "\n".join(s.to_markdown() for s in sections)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.md").write_text(markdown, encoding="utf-8")
    payload = {"machine": machine, "quick": args.quick, "started_unix_s": started,
               "duration_s": time.time() - started, "sections": [s.to_json() for s in sections]}
    (args.out / "benchmarks.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    log.info("wrote %s and %s", args.out / "benchmarks.md", args.out / "benchmarks.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
