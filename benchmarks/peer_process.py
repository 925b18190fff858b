"""The player and the synth (:class:`benchmarks.jack_rig.Peer`) in a process of their own.

A JACK client whose server dies is left to libjack, and closing it (or its threads noticing the
dead server) can crash the process that holds it: in CI the soak benchmark's own process once died
of SIGSEGV right after a server stop. A DAW's player and synth are other processes too, so across a
JACK restart the benchmark keeps its stand-ins in a child: the child may die with the server, the
benchmark does not, and it keeps every message the monitor heard before that, because the child
hands each one over as it arrives.

Protocol: the child prints ``ready`` once its ports are open, then one line per message the monitor
receives (``<perf_counter stamp> <hex bytes>``; ``perf_counter`` is ``CLOCK_MONOTONIC``, the same
clock in every process). It reads commands on stdin: ``play <origin> <offset>:<hex>,...`` plays the
messages at ``origin + offset``; ``close`` closes its ports and exits.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import mido

from benchmarks.jack_rig import READY_TIMEOUT_S, REPO_ROOT, Peer, PeerBase, RigError, _sleep_until

CLOSE_TIMEOUT_S = 5.0


class PeerProcess(PeerBase):
    """``Keys<tag>`` and ``Monitor<tag>`` in a child process; the parent side of :class:`Peer`'s API
    that the soak uses (``keys_port``, ``play``, ``wait_until``, ``timed``, ``close``)."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self._ready = threading.Event()
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.peer_process", tag], cwd=REPO_ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name="peer-process-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(READY_TIMEOUT_S) or self.proc.poll() is not None:
            self.kill()
            raise RigError(f"the player's process did not open its JACK ports: {self._stderr()}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                self._ready.set()
                continue
            stamp, _, data = line.strip().partition(" ")
            try:
                item = (float(stamp), mido.Message.from_hex(data))
            except ValueError:
                continue  # a line cut short by the child's death
            with self._changed:
                self.received.append(item)
                self._changed.notify_all()
        self._ready.set()  # the child is gone: nobody waits for "ready" in vain
        with self._changed:
            self._changed.notify_all()

    def _stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()[-2000:]

    def play(self, events: Sequence[tuple[float, mido.Message]], origin_s: float | None = None) -> float:
        """Have the child play ``(offset_s, message)`` pairs at ``origin_s + offset_s``; return the origin
        at once (the child keeps the times)."""
        origin = time.perf_counter() if origin_s is None else origin_s
        items = ",".join(f"{offset!r}:{msg.hex().replace(' ', '')}" for offset, msg in events)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"play {origin!r} {items}\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise RigError(f"the player's process is gone: {self._stderr()}") from exc
        return origin

    def close(self) -> int | None:
        """Ask the child to close its ports and exit; kill it if it does not. Returns its exit code
        (negative: the signal that ended it, e.g. a crash when its server died)."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("close\n")
                self.proc.stdin.flush()
                self.proc.wait(CLOSE_TIMEOUT_S)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill()
        self._reader.join(CLOSE_TIMEOUT_S)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def main(tag: str) -> None:
    """The child: open the peer, hand over what the monitor hears, play what stdin asks."""
    out_lock = threading.Lock()

    def forward(stamp: float, msg: mido.Message) -> None:
        with out_lock:
            sys.stdout.write(f"{stamp!r} {msg.hex().replace(' ', '')}\n")
            sys.stdout.flush()

    peer = Peer(tag, on_received=forward)
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "close":
            break
        if command == "play":
            origin, _, items = rest.partition(" ")
            for item in filter(None, items.split(",")):
                offset, _, data = item.partition(":")
                _sleep_until(float(origin) + float(offset))
                peer.keys.send(mido.Message.from_hex(data))
    peer.close()


if __name__ == "__main__":
    main(sys.argv[1])
