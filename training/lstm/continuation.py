"""Continuations of held-out prompts: the first bars of a piece in, the model's next bars out.

Used by the training loop (a few samples per epoch, as MIDI files and pianoroll images) and by
the evaluation (musical statistics of many continuations next to the real ones).

* :func:`split_prompt` cuts a piece into a prompt and the real continuation, in bars from the
  bar line before the piece's first note (the origin the training sequences use).
* :class:`TorchStepModel` gives a torch :class:`~training.lstm.model.EventLSTM` the step interface
  of the daemon's ONNX runner (``codec``, ``initial_state()``, ``step(token, state)``), so the
  daemon's own generation loop (:class:`daemon.models.continuator.Continuator`) drives it.
* :func:`write_pianoroll` draws prompt, real and generated notes with matplotlib (Agg).

Imports torch at module level: import it from training code only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams
from training.lstm.data import bar_origin
from training.lstm.model import EventLSTM

log = logging.getLogger(__name__)

PROMPT_BARS = 4
CONTINUATION_BARS = 4


@dataclass(frozen=True)
class PromptCase:
    """A prompt and what really followed it, in the piece's ticks.

    Attributes:
        name: the piece's id.
        grid: the piece's grid (its meter sets the bars).
        bpm: the piece's tempo, for written MIDI files.
        origin: tick of the bar line the prompt starts at.
        prompt: notes starting in the prompt's bars (durations as written).
        real: notes starting in the continuation's bars.
        prompt_bars: bars of prompt.
        n_bars: bars of continuation.
    """

    name: str
    grid: Grid
    bpm: float
    origin: int
    prompt: tuple[Note, ...]
    real: tuple[Note, ...]
    prompt_bars: int
    n_bars: int

    @property
    def boundary(self) -> int:
        """Tick where the prompt ends and the continuation starts."""
        return self.origin + self.prompt_bars * self.grid.ticks_per_bar

    @property
    def end(self) -> int:
        """Tick where the continuation ends."""
        return self.boundary + self.n_bars * self.grid.ticks_per_bar


def split_prompt(name: str, notes: Sequence[Note], grid: Grid, bpm: float, prompt_bars: int = PROMPT_BARS,
                 n_bars: int = CONTINUATION_BARS) -> PromptCase | None:
    """Cut a piece into ``prompt_bars`` bars of prompt and ``n_bars`` of real continuation.

    Returns None when the piece is too short (no note starts in the last continuation bar) or
    either part is empty.
    """
    origin = bar_origin(notes, grid)
    boundary = origin + prompt_bars * grid.ticks_per_bar
    end = boundary + n_bars * grid.ticks_per_bar
    prompt = tuple(n for n in notes if n.start < boundary)
    real = tuple(n for n in notes if boundary <= n.start < end)
    if not prompt or not real or not any(n.start >= end - grid.ticks_per_bar for n in real):
        return None
    return PromptCase(name, grid, bpm, origin, prompt, real, prompt_bars, n_bars)


class TorchStepModel:
    """A torch :class:`EventLSTM` behind the daemon's step interface.

    Batch 1, no gradients, on whatever device the model is.

    Attributes:
        codec: the representation the model was trained with.
    """

    def __init__(self, model: EventLSTM, codec: NoteEventCodec | ChordCodec) -> None:
        self.model = model.eval()
        self.codec = codec
        self.device = next(model.parameters()).device

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.initial_state(1, self.device)

    @torch.no_grad()
    def step(self, token: np.ndarray, state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[list[np.ndarray], tuple[torch.Tensor, torch.Tensor]]:
        """``(F,)`` int64 token -> logits per field, each ``(V_f,)`` float32, and the new state."""
        x = torch.as_tensor(np.asarray(token, np.int64), device=self.device).view(1, -1)  # (1, F)
        logits, h, c = self.model.step(x, *state)
        return [lg[0].float().cpu().numpy() for lg in logits], (h, c)


def continue_case(model: TorchStepModel, case: PromptCase, params: SamplingParams, seed: int) -> list[Note]:
    """The model's continuation of ``case.prompt``: notes starting in ``[case.boundary, case.end)``.

    Runs the daemon's own generation loop (:class:`daemon.models.continuator.Continuator`), so what is
    evaluated is what plays; the prompt is encoded from ``case.origin`` as in training.
    """
    from daemon.models.continuator import Continuator

    continuator = Continuator(model, origin=case.origin, channel=0)
    continuator.feed_notes(case.prompt)
    return continuator.generate(params=params, seed=seed, start=case.boundary, end=case.end, grid=case.grid)


def write_pianoroll(path: Path, case: PromptCase, generated: Sequence[Note], title: str = "") -> None:
    """A pianoroll image: prompt in grey, the real continuation outlined, the model's in colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tpb = case.grid.ticks_per_beat
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=100)
    for notes, style in ((case.prompt, {"facecolor": "0.55", "edgecolor": "none"}),
                         (case.real, {"facecolor": "none", "edgecolor": "tab:orange", "linewidth": 0.8}),
                         (generated, {"facecolor": "tab:blue", "edgecolor": "none", "alpha": 0.8})):
        for n in notes:
            ax.add_patch(plt.Rectangle(((n.start - case.origin) / tpb, n.pitch - 0.4), n.duration / tpb, 0.8, **style))
    everything = [*case.prompt, *case.real, *generated]
    low = min(n.pitch for n in everything) - 2
    high = max(n.pitch for n in everything) + 2
    beats_per_bar = case.grid.ticks_per_bar / tpb
    total_bars = case.prompt_bars + case.n_bars
    for bar in range(total_bars + 1):
        ax.axvline(bar * beats_per_bar, color="0.3" if bar == case.prompt_bars else "0.85", linewidth=0.8)
    ax.set_xlim(0, total_bars * beats_per_bar)
    ax.set_ylim(low, high)
    ax.set_xlabel("beats")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or case.name, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
