"""A second Ableton Link peer in its own process, steered line by line on stdin; optionally a JACK
MIDI listener that places every event it hears on the session's timeline.

``python -m benchmarks.link_peer --bpm 97 [--listen]`` founds (or joins) the session with
start/stop sync on and answers each command with one JSON line on stdout:

* ``state``: ``{"tempo", "playing", "peers", "micros"}`` (Link's host clock now, microseconds);
* ``bars N``: the host times (microseconds) of its next ``N`` bar lines (quantum 4);
* ``play`` / ``stop``: start or stop the session now (``{"micros"}`` of the change);
  ``tempo BPM``: change its tempo now;
* ``heard`` (with ``--listen``): every MIDI event heard so far as ``[micros, beat, tempo, status,
  data1, data2]``: the host time and the session's beat (quantum 4) of the JACK frame it arrived at,
  on the timeline the session had then (the peer keeps the timeline before each of its tempo changes);
* ``frames`` (with ``--listen``): every MIDI event heard so far as ``[frame, status, data1, data2]``;
* ``quit``: leave.

With ``--listen`` the process is also a JACK client with one MIDI input (its name is in the first
line, ``{"ready": true, "port": ...}``). JACK stamps each event with its frame; frames become
host time through pairs of (JACK's estimate of the frame now, the host clock now) read every
:data:`PAIR_EVERY_S` beside the process callback, interpolated between the pairs around the
frame -- the listener's own tie of JACK to Link, not the daemon's (see :meth:`Listener.micros_of`).

Link uses ``CLOCK_MONOTONIC_RAW`` on Linux, the clock the pairs read. Only this process (no
rtmidi) loads libjack.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import subprocess
import sys
import threading
import time
from typing import Any

QUANTUM = 4.0
PAIR_EVERY_S = 0.005
TIE_HALF_WINDOW = 100  # pairs each side of a frame in its line (0.5 s)
TIE_OUTLIER_US = 500.0


def host_micros() -> float:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) / 1e3


class Listener:
    """A JACK MIDI input that keeps (frame, bytes) of every event, and a frame -> host time tie."""

    def __init__(self, name: str) -> None:
        import jack

        self.client = jack.Client(name, no_start_server=True)
        self.port = self.client.midi_inports.register("in")
        self.events: list[tuple[int, bytes]] = []
        self.pairs: list[tuple[int, float]] = []  # (frame estimate, host micros), frames unwrapped
        self.client.set_process_callback(self._process)
        self.client.activate()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tie, daemon=True)
        self._thread.start()

    def _process(self, frames: int) -> None:
        base = self.client.last_frame_time
        for offset, data in self.port.incoming_midi_events():
            self.events.append((base + offset, bytes(data)))

    def _tie(self) -> None:
        while not self._stop.wait(PAIR_EVERY_S):
            before = host_micros()
            frame = self.client.frame_time
            after = host_micros()
            if after - before < 50:  # a read interrupted by the scheduler is no tie
                self.pairs.append((frame, (before + after) / 2))

    def micros_of(self, frame: int) -> float:
        """Host micros of ``frame``: a straight line through the pairs within :data:`TIE_HALF_WINDOW`
        pairs of it, fitted again without those more than :data:`TIE_OUTLIER_US` off (JACK's frame
        estimate runs on with the host clock while the graph stalls, and falls back after)."""
        frames = [f for f, _ in self.pairs]
        i = bisect.bisect_left(frames, frame)
        near = self.pairs[max(0, i - TIE_HALF_WINDOW):i + TIE_HALF_WINDOW]
        if len(near) < 3:
            raise RuntimeError("no JACK-to-host tie around this frame yet")
        slope, intercept = _line(near)
        kept = [(f, h) for f, h in near if abs(h - intercept - slope * f) <= TIE_OUTLIER_US]
        if len(kept) >= 3:
            slope, intercept = _line(kept)
        return intercept + slope * frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.deactivate()
        self.client.close()


def _line(pairs: list[tuple[int, float]]) -> tuple[float, float]:
    """(slope, intercept) of host micros against frames, by least squares."""
    origin = pairs[0][0]
    fx = [f - origin for f, _ in pairs]
    hx = [h for _, h in pairs]
    mean_f, mean_h = sum(fx) / len(fx), sum(hx) / len(hx)
    var = sum((f - mean_f) ** 2 for f in fx)
    slope = sum((f - mean_f) * (h - mean_h) for f, h in zip(fx, hx)) / var if var else 1e6 / 48000
    return slope, mean_h - slope * (mean_f + origin)


def main() -> int:
    import link

    parser = argparse.ArgumentParser()
    parser.add_argument("--bpm", type=float, default=97.0)
    parser.add_argument("--listen", metavar="CLIENT_NAME", help="also listen on JACK, as this client")
    args = parser.parse_args()
    peer = link.Link(args.bpm)
    peer.startStopSyncEnabled = True
    peer.enabled = True
    clock = peer.clock()
    listener = Listener(args.listen) if args.listen else None
    ready: dict[str, Any] = {"ready": True}
    if listener is not None:
        ready["port"] = listener.port.name
    print(json.dumps(ready), flush=True)
    timelines: list[tuple[int, Any]] = []  # (host micros of a tempo change, the session state before it)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        now = clock.micros()
        session = peer.captureAppSessionState()
        command = words[0]
        if command == "quit":
            break
        reply: object
        if command == "state":
            reply = {"tempo": session.tempo(), "playing": session.isPlaying(), "peers": peer.numPeers(), "micros": now}
        elif command == "bars":
            first = math.ceil(session.beatAtTime(now, QUANTUM) / QUANTUM) * QUANTUM
            reply = [session.timeAtBeat(first + QUANTUM * k, QUANTUM) for k in range(int(words[1]))]
        elif command in ("play", "stop"):
            session.setIsPlaying(command == "play", now)
            peer.commitAppSessionState(session)
            reply = {"micros": now}
        elif command == "tempo":
            timelines.append((now, peer.captureAppSessionState()))  # the timeline until now, kept to read
            session.setTempo(float(words[1]), now)
            peer.commitAppSessionState(session)
            reply = {"micros": now}
        elif command == "frames" and listener is not None:
            reply = [[frame, *data[:3]] for frame, data in list(listener.events)]
        elif command == "heard" and listener is not None:
            time.sleep(0.1)  # the last events' frames get pairs after them
            reply = []
            for frame, data in list(listener.events):
                micros = listener.micros_of(frame)
                then = next((kept for changed, kept in timelines if micros < changed), session)
                reply.append([micros, then.beatAtTime(round(micros), QUANTUM), then.tempo(), *data[:3]])
        else:
            reply = {"error": f"unknown command {command!r}"}
        print(json.dumps(reply), flush=True)
    if listener is not None:
        listener.close()
    peer.enabled = False
    return 0


class PeerProcess:
    """The caller's side of a :func:`main` peer: start it, send a command, read its answer.

    Args:
        bpm: the tempo the peer founds its session at.
        listen: a JACK client name: the peer also listens on JACK (see :attr:`port`).
    """

    def __init__(self, bpm: float, listen: str | None = None) -> None:
        from pathlib import Path

        root = Path(__file__).resolve().parents[1]
        command = [sys.executable, "-m", "benchmarks.link_peer", "--bpm", str(bpm)]
        if listen:
            command += ["--listen", listen]
        self._process = subprocess.Popen(command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = json.loads(self._readline())
        self.port: str | None = ready.get("port")

    def _readline(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Link peer ended (exit {self._process.poll()})")
        return line

    def ask(self, command: str) -> Any:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return json.loads(self._readline())

    def close(self) -> None:
        try:
            if self._process.poll() is None:
                assert self._process.stdin is not None
                self._process.stdin.write("quit\n")
                self._process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()


if __name__ == "__main__":
    sys.exit(main())
