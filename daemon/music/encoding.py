"""What every encoding shares: its name and version, checked where a model file names them.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.errors import RepresentationError


def check_version(data: Mapping[str, Any], name: str, version: int) -> None:
    if data.get("name") != name:
        raise RepresentationError(f"expected a {name!r} representation, got {data.get('name')!r}")
    if int(data.get("version", -1)) != version:
        raise RepresentationError(
            f"{name} representation version {data.get('version')} is not known to this Antiphon "
            f"(it reads version {version}); re-export the model or upgrade Antiphon")
