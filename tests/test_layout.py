"""The house's shape: the import contract holds, nothing imports in a circle, no file outgrows its room.

ARCHITECTURE.md describes the rooms; ``[tool.importlinter]`` in pyproject.toml states their arrows.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("daemon", "training", "export", "benchmarks")
MAX_LINES = 600  # any source file
MAX_DAEMON_LINES = 500  # a file of the runtime


def _cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (node -> nodes it points at), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def _packages_of(modules: Mapping[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph between packages ``depth`` names deep (``daemon.live``), self-edges dropped."""
    def cut(name: str) -> str:
        return ".".join(name.split(".")[:depth])
    out: dict[str, set[str]] = {}
    for source, targets in modules.items():
        for target in targets:
            if cut(source) != cut(target):
                out.setdefault(cut(source), set()).add(cut(target))
    return out


def test_cycle_finder_finds_a_cycle_and_passes_a_tree() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("lint-imports is not installed: pip install -e .[test]")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_imports_in_a_circle() -> None:
    modules = _import_graph()
    assert _cycle(modules) is None, f"import circle: {' -> '.join(_cycle(modules) or [])}"


@pytest.mark.parametrize("depth", [2, 3])
def test_no_room_imports_in_a_circle(depth: int) -> None:
    rooms = _packages_of(_import_graph(), depth)
    assert _cycle(rooms) is None, f"rooms import each other: {' -> '.join(_cycle(rooms) or [])}"


def _sources() -> Iterable[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.py"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [REPO_ROOT / name for name in listed if (REPO_ROOT / name).exists()]


def test_no_source_file_outgrows_its_room() -> None:
    too_long = []
    for path in _sources():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = MAX_DAEMON_LINES if path.relative_to(REPO_ROOT).parts[0] == "daemon" else MAX_LINES
        if lines > limit:
            too_long.append(f"{path.relative_to(REPO_ROOT)}: {lines} lines (at most {limit})")
    assert not too_long, "split these along their seams: " + "; ".join(too_long)
