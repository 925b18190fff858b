"""Checkpoints of the restyle CycleGAN and of the style classifier.

A restyle checkpoint holds both generators and critics (with their optimisers, for ``--resume``),
the two style names (``styles[0]`` is A, ``styles[1]`` B: ``g_ab`` makes B of A), the bar layout and
the training arguments. A classifier checkpoint holds its network, the family names in output
order, the layout and its validation accuracy.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.data.checkpoint_files import read_checkpoint, write_checkpoint

RESTYLE_KIND = "restyle"
CLASSIFIER_KIND = "style-classifier"


def save(path: Path, kind: str, config: Any, **payload: Any) -> None:
    write_checkpoint(path, {"kind": kind, "config": asdict(config), **payload})


def load(path: str | Path, kind: str) -> dict[str, Any]:
    """The checkpoint dictionary, its ``config`` rebuilt as a :class:`RestyleConfig`."""
    from training.restyle.model import RestyleConfig

    what, command = (("a restyle", "train restyle") if kind == RESTYLE_KIND
                     else ("a style classifier", "train style-classifier"))
    payload = read_checkpoint(path, kind, what, command)
    config = dict(payload["config"])
    config["track_rows"] = tuple(config["track_rows"])
    payload["config"] = RestyleConfig(**config)
    return payload


def generators(payload: dict[str, Any]) -> tuple[Any, Any]:
    """``(g_ab, g_ba)`` of a restyle checkpoint, in eval mode."""
    from training.restyle.model import Generator

    out = []
    for name in ("g_ab", "g_ba"):
        g = Generator(payload["config"])
        g.load_state_dict(payload[name])
        out.append(g.eval())
    return out[0], out[1]


def classifier(payload: dict[str, Any]) -> Any:
    """The style classifier of a classifier checkpoint, in eval mode."""
    from training.restyle.model import StyleClassifier

    net = StyleClassifier(payload["config"])
    net.load_state_dict(payload["state"])
    return net.eval()
