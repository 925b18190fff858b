"""[midi] output_latency_ms: the engine sends every note that much early (a fake clock, a recording output)."""

from __future__ import annotations

import mido

from tests.daemon.live.test_engine import PRESET, Rig


def test_a_synths_output_latency_sends_every_note_that_much_early() -> None:
    def answer(latency_ms: float) -> list[tuple[float, mido.Message]]:
        rig = Rig({**PRESET, "midi": {"channel": 2, "output_latency_ms": latency_ms}})
        released = rig.play(rig.clock() + 0.2, [60, 62, 64])
        rig.run_until(released + 4.0)
        return rig.sent(channel=1)

    plain, early = answer(0.0), answer(20.0)
    assert plain and [m for _, m in plain] == [m for _, m in early], "the same answer"
    assert all(abs((p - e) - 0.020) < 1e-9 for (p, _), (e, _) in zip(plain, early)), "every message 20 ms early"
