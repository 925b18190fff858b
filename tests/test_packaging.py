"""Packaging promises: the daemon installs and imports without torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]

# Refuses torch with a traceback that shows which module imported it.
IMPORT_CHECK = """
import sys

class RefuseTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("the daemon and the CLI must not import torch at module level (see the traceback)")
        return None

sys.meta_path.insert(0, RefuseTorch())
import daemon, daemon.cli, daemon.music
daemon.cli.build_parser()
assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
"""


def test_importing_the_daemon_and_building_the_cli_does_not_load_torch() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def names(requirements: list[str]) -> set[str]:
    """Distribution names of PEP 508 requirement strings, lower-cased."""
    return {re.match(r"[A-Za-z0-9_.-]+", r.strip()).group(0).lower() for r in requirements}  # type: ignore[union-attr]


def test_torch_is_only_in_the_train_extra() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert "torch" not in names(project["dependencies"])
    assert "torch" in names(project["optional-dependencies"]["train"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "train":
            assert "torch" not in names(requirements), f"torch in the [{extra}] extra"
