"""A second Ableton Link peer in its own process, steered line by line on stdin (for the Link tests).

``python -m tests.daemon.live.link_peer --bpm 97`` joins (or founds) the session with start/stop
sync on and answers each command with one JSON line on stdout:

* ``state``: ``{"tempo", "playing", "peers", "micros"}`` (host microseconds now);
* ``bars N``: the host times (microseconds) of its next ``N`` bar lines (quantum 4);
* ``play`` / ``stop``: start or stop the session now; ``tempo BPM``: change its tempo now;
* ``quit``: leave.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

QUANTUM = 4.0


def main() -> int:
    import link

    parser = argparse.ArgumentParser()
    parser.add_argument("--bpm", type=float, default=97.0)
    args = parser.parse_args()
    peer = link.Link(args.bpm)
    peer.startStopSyncEnabled = True
    peer.enabled = True
    clock = peer.clock()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        now = clock.micros()
        session = peer.captureAppSessionState()
        command = words[0]
        if command == "quit":
            break
        if command == "state":
            reply: object = {"tempo": session.tempo(), "playing": session.isPlaying(), "peers": peer.numPeers(),
                             "micros": now}
        elif command == "bars":
            first = math.ceil(session.beatAtTime(now, QUANTUM) / QUANTUM) * QUANTUM
            reply = [session.timeAtBeat(first + QUANTUM * k, QUANTUM) for k in range(int(words[1]))]
        elif command in ("play", "stop"):
            session.setIsPlaying(command == "play", now)
            peer.commitAppSessionState(session)
            reply = {"done": command}
        elif command == "tempo":
            session.setTempo(float(words[1]), now)
            peer.commitAppSessionState(session)
            reply = {"done": command}
        else:
            reply = {"error": f"unknown command {command!r}"}
        print(json.dumps(reply), flush=True)
    peer.enabled = False
    return 0


if __name__ == "__main__":
    sys.exit(main())


class PeerProcess:
    """The test's side of a :func:`main` peer: start it, send a command, read its answer."""

    def __init__(self, bpm: float) -> None:
        import subprocess
        from pathlib import Path

        root = Path(__file__).resolve().parents[3]
        self._process = subprocess.Popen([sys.executable, "-m", "tests.daemon.live.link_peer", "--bpm", str(bpm)],
                                         cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert json.loads(self._readline()) == {"ready": True}

    def _readline(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Link peer ended (exit {self._process.poll()})")
        return line

    def ask(self, command: str) -> object:
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
        except (BrokenPipeError, RuntimeError, ValueError):
            pass
        try:
            self._process.wait(timeout=5)
        except Exception:
            self._process.kill()
