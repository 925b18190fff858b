"""The DAW's clock for the JACK rig: ``jack_midi_clock`` rolled by ``jack_transport``, and stopping JACK tools.

Shared by the benchmarks and the JACK tests beside :mod:`benchmarks.jack_rig`. This module must not
import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import uuid
from typing import Any

from benchmarks.jack_rig import JACK_START_TIMEOUT_S, RigError, jack_ports

TRANSPORT_TIMEOUT_S = 10.0


class MidiClockMaster:
    """``jack_midi_clock -b BPM`` with JACK transport rolled by ``jack_transport`` commands."""

    def __init__(self, bpm: float) -> None:
        program = shutil.which("jack_midi_clock")
        if program is None or shutil.which("jack_transport") is None:
            raise RigError("jack_midi_clock / jack_transport are not installed (apt-get install jack-midi-clock jackd2)")
        self.name = f"mclk{uuid.uuid4().hex[:6]}"
        self.bpm = bpm
        self.proc = subprocess.Popen([program, "-b", f"{bpm:g}"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + JACK_START_TIMEOUT_S
        while True:
            found = [p for p in jack_ports() if p.startswith("jack_midi_clock") and p.endswith(":mclk_out")]
            if found:
                self.port = found[-1]
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RigError("jack_midi_clock did not start")
            time.sleep(0.05)

    @staticmethod
    def transport(command: str, tries: int = 3) -> None:
        """One ``jack_transport`` command (``play``, ``stop``, ``locate 0``).

        On two loaded cores, just after a server restart, ``jack_transport`` once hung for over 10 s
        (in opening or closing its client); a hung one is killed and the command given again.

        Raises:
            RigError: every try hung or failed.
        """
        failures: list[str] = []
        for _ in range(tries):
            try:
                subprocess.run(["jack_transport"], input=f"{command}\n", capture_output=True, text=True,
                               timeout=TRANSPORT_TIMEOUT_S, check=True)
                return
            except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
                failures.append(str(exc))
        raise RigError(f"jack_transport {command!r} failed {tries} times: {failures}")

    def close(self) -> None:
        """Transport stop (MIDI Stop), then the clock goes, also when the stop could not be given.

        Raises:
            RigError: ``jack_transport stop`` failed (the clock is gone all the same).
        """
        try:
            self.transport("stop")
        finally:
            interrupt(self.proc)


def interrupt(proc: subprocess.Popen[Any], wait_s: float = 5.0) -> None:
    """SIGINT to a JACK tool still running (it closes its client), SIGKILL if it is not gone in ``wait_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
