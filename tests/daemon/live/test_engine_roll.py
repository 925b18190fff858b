"""What the engine tells the console's roll: notes heard, notes planned before they sound, silences."""

from __future__ import annotations

import pytest

from daemon.control.events import Trigger
from tests.daemon.live.test_engine import BPM, Rig


def test_the_roll_hears_each_note_sees_the_answer_planned_before_it_sounds_and_the_silence() -> None:
    rig = Rig()
    start = rig.clock() + 0.2
    end = rig.play(start, [60, 62, 64])
    rig.run_until(end + 2.5)
    heard = rig.feedback.named("heard")
    assert [(p, v > 0) for p, v, _, _ in heard][:2] == [(60, True), (60, False)]
    assert heard[1][3] - heard[0][3] == pytest.approx(0.4 / (60 / BPM), abs=1e-3)  # positions in beats
    planned = rig.feedback.named("planned")
    answer = rig.note_ons(1)
    assert planned and answer and len(planned) >= len(answer)
    first_planned_at = next(i for i, (name, _) in enumerate(rig.feedback.calls) if name == "planned")
    first_sent_at = next(i for i, (name, _) in enumerate(rig.feedback.calls) if name == "note")
    assert first_planned_at < first_sent_at  # the roll hears of the answer before it sounds
    assert all(group.startswith("answer ") for *_, group in planned)
    rig.control(Trigger("panic"))
    assert rig.feedback.named("silenced")[-1] == ("panic",)
