"""The scheduler: sends timed MIDI messages on time and makes sure no note is left sounding.

Thread 4 in DESIGN.md. Others hand it ``(time_s, message, port)``; it keeps them in a heap,
waits on a condition variable until the earliest is due and sends it. Times are readings of
the daemon's clock (:func:`daemon.timebase.now_s`), in seconds.

The ledger
    One count of sounding notes per ``(port, channel, pitch)``. A note-on for a key that is
    already sounding first sends a note-off for it (a retrigger closes first, so a synth never
    stacks a voice it will not release), and the key then needs one note-off per note-on
    before the note-off is sent. :meth:`Scheduler.panic` and :meth:`Scheduler.stop` send a
    note-off for every sounding key, release a held sustain pedal, and send CC 123 (all notes
    off) on every channel used, then drop whatever was pending.

Replacing an output
    When a MIDI port went away and was opened again, :meth:`Scheduler.replace_output` swaps the
    new port in and sends on it first what closes everything the ledger holds for that port
    (note-offs, pedal up, CC 123 on every channel used), so nothing that sounded on the old
    connection is left hanging. While the port is away a :class:`Discard` stands in, and the
    ledger is kept for the port that comes back, with the notes the lost port closed in its last
    :data:`LOSS_MARGIN_S` (a dying server may never have delivered those note-offs) and those
    whose note-offs fell due while it was away.

Groups
    A message may be scheduled with a ``group`` (any hashable: the engine tags each answer and
    the accompaniment). :meth:`Scheduler.cancel` drops a group's pending note-ons and every
    note-off that would have closed them, and keeps the note-offs of its notes already sounding,
    so a cancelled answer never leaves a note hanging.

Lateness
    A note-on sent more than ``late_tolerance_s`` after its time is *dropped and counted*, and
    so is the note-off that would have closed it; late notes never come out as a burst. Every
    other message (note-offs, controllers, pitch bend) is sent however late, in time order,
    because dropping it would leave a note or a controller stuck.

Thread-safety contract
    Every public method may be called from any thread. All state, and every write to an
    output, is guarded by one lock: an output never sees two threads at once, and messages
    leave in the order the ledger accounted them. Scheduled messages are sent by the scheduler
    thread; :meth:`panic`, :meth:`stop` and :meth:`replace_output` send from the calling thread,
    under the same lock.
    A message that fails to send is logged and counted; it never stops the scheduler. The ``on_sent``
    hook runs under that lock for every message written: it must be quick (the echo filter's deque).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace

import mido

from daemon.live.outputs import Discard, Output, lookahead_of
from daemon.music.grid import NOTE_OFF, is_note_off, is_note_on
from daemon.timebase import Clock, now_s

log = logging.getLogger(__name__)

CONTROL_CHANGE = "control_change"  # mido's name for status 0xB0-0xBF
SUSTAIN_PEDAL = 64  # CC 64, damper pedal; values >= PEDAL_DOWN_MIN hold notes
PEDAL_DOWN_MIN = 64  # MIDI 1.0: CC 64 values 0-63 are up, 64-127 down
ALL_NOTES_OFF = 123  # CC 123, channel mode message: all notes off (value 0)

DEFAULT_PORT = "out"
# A note-on later than this is dropped: ~50 ms is where a late note starts to be heard as a
# wrong note rather than loose timing, and a stall that long means the queue is backed up.
DEFAULT_LATE_TOLERANCE_S = 0.050
LATE_WARNING_INTERVAL_S = 1.0  # at most one "dropped late note-ons" warning per second
JOIN_TIMEOUT_S = 2.0  # how long stop() waits for the thread to end
LOSS_MARGIN_S = 2.0  # a lost port's last note-offs are sent again (its loss is noticed within ~1 s)

Key = tuple[str, int, int]  # (port, channel 0-15, pitch 0-127)
SentHook = Callable[[str, mido.Message, float], None]  # (port, message, clock seconds when written)


@dataclass(frozen=True)
class SchedulerStats:
    """Counts since the scheduler was made.

    Attributes:
        sent: messages written to outputs (including the scheduler's own note-offs and CCs).
        late_note_ons_dropped: note-ons dropped for being later than the tolerance.
        note_offs_dropped: note-offs not sent because their note-on was dropped.
        late_sent: other messages sent later than the tolerance.
        retriggers: note-ons that found their key sounding and closed it first.
        send_errors: messages an output refused.
        ignored_after_stop: messages scheduled after :meth:`Scheduler.stop`.
        cancelled: pending messages dropped by :meth:`Scheduler.cancel`.
    """

    sent: int = 0
    late_note_ons_dropped: int = 0
    note_offs_dropped: int = 0
    late_sent: int = 0
    retriggers: int = 0
    send_errors: int = 0
    ignored_after_stop: int = 0
    cancelled: int = 0


def _note_off(channel: int, pitch: int) -> mido.Message:
    return mido.Message(NOTE_OFF, channel=channel, note=pitch, velocity=0)


class Scheduler:
    """Sends timed messages to named outputs on time, with one ledger of sounding notes.

    Args:
        outputs: port name -> output; messages are scheduled by port name.
        clock: the time source in seconds (the daemon's :func:`now_s`; tests pass a fake).
        late_tolerance_s: how late a note-on may be sent, in seconds, before it is dropped.
        on_sent: called with (port, message, clock seconds) for every message written, under
            the scheduler's lock (keep it quick); None for nothing.
        realtime_priority: ask for this SCHED_FIFO priority (1-99) for the scheduler thread, so
            that it wakes on time on a busy machine (Linux; needs root, CAP_SYS_NICE or an
            rtprio limit, as for JACK); refused quietly (see :attr:`realtime`). None: ordinary.
    """

    def __init__(
        self,
        outputs: Mapping[str, Output],
        clock: Clock = now_s,
        late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S,
        on_sent: SentHook | None = None,
        realtime_priority: int | None = None,
    ) -> None:
        if not outputs:
            raise ValueError("the scheduler needs at least one output")
        self._outputs = dict(outputs)
        self._clock = clock
        self._late_tolerance_s = late_tolerance_s
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, str, mido.Message, Hashable]] = []
        self._seq = itertools.count()  # ties at one time leave in the order scheduled
        self._sounding: Counter[Key] = Counter()  # key -> note-ons still owed a note-off
        self._dropped_owed: Counter[Key] = Counter()  # key -> note-offs owed to dropped note-ons
        self._used_channels: dict[str, set[int]] = {port: set() for port in self._outputs}
        self._pedal_down: dict[str, set[int]] = {port: set() for port in self._outputs}
        self._closed_lately: dict[str, deque[tuple[float, int, int]]] = {port: deque() for port in self._outputs}
        self._stats = SchedulerStats()
        self._last_late_warning_s = float("-inf")
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._on_sent = on_sent
        self._realtime_priority = realtime_priority
        self._started = threading.Event()
        self.realtime = False  # True once the thread runs at real-time priority

    @property
    def clock(self) -> Clock:
        """The scheduler's time source (seconds)."""
        return self._clock

    @property
    def late_tolerance_s(self) -> float:
        """How late a note-on may be sent before it is dropped (seconds)."""
        return self._late_tolerance_s

    def schedule(self, time_s: float, msg: mido.Message, port: str = DEFAULT_PORT,
                 group: Hashable = None) -> None:
        """Send ``msg`` on ``port`` at ``time_s`` (clock seconds; a past time means now).

        ``group`` tags the message for :meth:`cancel` (None: no group).

        Raises:
            ValueError: ``port`` is not one of the scheduler's outputs.
        """
        if port not in self._outputs:
            raise ValueError(f"no output named {port!r} (there are: {', '.join(self._outputs)})")
        with self._cond:
            if self._stopping:
                self._count(ignored_after_stop=1)
                return
            entry = (time_s, next(self._seq), port, msg, group)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._cond.notify()

    def pump(self) -> float | None:
        """Send every message due by now; return the next due time in clock seconds, or None.

        The scheduler thread calls this in its loop; tests call it with a hand-advanced clock.
        """
        with self._cond:
            return self._send_due_locked()

    def cancel(self, group: Hashable, close_at: float | None = None) -> int:
        """Drop ``group``'s pending note-ons and other messages, keeping what closes sounding notes.

        A pending note-off of the group is dropped when a pending note-on of the group on the
        same key comes before it (it would close that note); otherwise it closes a note already
        sounding and stays, moved to ``close_at`` (clock seconds) when that is earlier, but never
        before what an output already holds ahead of time. Returns how many messages were dropped.
        """
        if group is None:
            raise ValueError("cancel needs a group; use panic() to drop everything")
        with self._cond:
            mine = sorted(e for e in self._heap if e[4] == group)
            if not mine:
                return 0
            opened: Counter[Key] = Counter()  # pending note-ons of the group, per key, so far in time
            dropped: set[int] = set()
            for time_s, seq, port, msg, _ in mine:
                if is_note_on(msg):
                    opened[(port, msg.channel, msg.note)] += 1
                    dropped.add(seq)
                elif is_note_off(msg):
                    key = (port, msg.channel, msg.note)
                    if opened[key]:
                        opened[key] -= 1
                        dropped.add(seq)
                else:
                    dropped.add(seq)
            self._heap = [e for e in self._heap if e[1] not in dropped]
            if close_at is not None:  # the notes of the group still sounding close now: after whatever
                # the output already holds ahead of time (a note-on handed over must not outlive its note-off)
                close_at = max(close_at, self._clock() + self._lookahead_s())
                self._heap = [(min(e[0], close_at), *e[1:]) if e[4] == group and is_note_off(e[3]) else e
                              for e in self._heap]
            heapq.heapify(self._heap)
            self._count(cancelled=len(dropped))
            self._cond.notify()
            return len(dropped)

    def panic(self) -> None:
        """Close every sounding note, release held pedals, send CC 123 on every used channel, drop pending."""
        with self._cond:
            self._heap.clear()
            self._panic_locked()
            self._cond.notify()

    def replace_output(self, port: str, output: Output, close_sounding: bool = True) -> int:
        """Send what is meant for ``port`` to ``output`` from now on (a reopened MIDI port).

        With ``close_sounding``, ``output`` first gets what closes everything the ledger holds for
        ``port``: a note-off for every sounding note, pedal up where held, CC 123 on every channel
        used; and the messages pending for ``port`` are dropped (what was planned for the old
        connection is not played on the new one). Without it the output is only swapped and the
        ledger kept (for a :class:`Discard` while the port is away). The old output is no longer
        used once this returns, so it may be closed then.

        Returns:
            how many closing messages went out on ``output``.

        Raises:
            ValueError: ``port`` is not one of the scheduler's outputs.
        """
        if port not in self._outputs:
            raise ValueError(f"no output named {port!r} (there are: {', '.join(self._outputs)})")
        with self._cond:
            if not close_sounding:
                self._owe_last_closes_locked(port)
            self._outputs[port] = output
            if not close_sounding:
                return 0
            kept = [e for e in self._heap if e[2] != port]
            self._count(cancelled=len(self._heap) - len(kept))
            self._heap = kept
            heapq.heapify(self._heap)
            sent_before = self._stats.sent
            self._close_port_locked(port)
            self._cond.notify()
            return self._stats.sent - sent_before

    def start(self) -> None:
        """Start the scheduler thread."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError("the scheduler is already started")
            self._thread = threading.Thread(target=self._run, name="antiphon-scheduler", daemon=True)
        self._thread.start()
        self._started.wait(JOIN_TIMEOUT_S)

    def stop(self) -> None:
        """Stop for good: panic (note-offs, pedal up, CC 123), drop pending messages, end the thread.

        Safe to call more than once, and without :meth:`start`.
        """
        with self._cond:
            if not self._stopping:
                self._stopping = True
                self._heap.clear()
                self._panic_locked()
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("the scheduler thread did not end within %.1f s", JOIN_TIMEOUT_S)

    def stats(self) -> SchedulerStats:
        """A snapshot of the counters."""
        with self._cond:
            return self._stats

    def sounding(self) -> frozenset[Key]:
        """The (port, channel, pitch) keys sounding now."""
        with self._cond:
            return frozenset(self._sounding)

    def pending(self) -> int:
        """How many messages wait to be sent."""
        with self._cond:
            return len(self._heap)

    # ----------------------------------------------------------------------------- internals

    def _run(self) -> None:
        if self._realtime_priority is not None:
            self.realtime = _raise_priority(self._realtime_priority)
        self._started.set()
        with self._cond:
            while not self._stopping:
                next_due_s = self._send_due_locked()
                timeout_s = None if next_due_s is None else next_due_s - self._clock()
                if timeout_s is None or timeout_s > 0:
                    self._cond.wait(timeout_s)

    def _lookahead_s(self) -> float:
        """How far ahead messages are handed over: the least of the outputs' look-aheads."""
        return min(lookahead_of(o) for o in self._outputs.values())

    def _send_due_locked(self) -> float | None:
        """Hand over what is due (within the outputs' look-ahead); return when the next is to go."""
        ahead = self._lookahead_s()
        now = self._clock()
        while self._heap and self._heap[0][0] <= now + ahead:
            time_s, _, port, msg, _ = heapq.heappop(self._heap)
            self._dispatch_locked(port, msg, lateness_s=now - time_s, now_s=now, due_s=time_s if ahead else None)
            now = self._clock()
        return self._heap[0][0] - ahead if self._heap else None

    def _dispatch_locked(self, port: str, msg: mido.Message, lateness_s: float, now_s: float,
                         due_s: float | None = None) -> None:
        late = lateness_s > self._late_tolerance_s
        if is_note_on(msg):
            key = (port, msg.channel, msg.note)
            if late:
                self._dropped_owed[key] += 1
                self._count(late_note_ons_dropped=1)
                self._warn_late(lateness_s, now_s)
                return
            if self._sounding[key]:
                self._count(retriggers=1)
                self._send_locked(port, _note_off(msg.channel, msg.note), due_s)
            if self._send_locked(port, msg, due_s):
                self._sounding[key] += 1
            return
        if is_note_off(msg):
            key = (port, msg.channel, msg.note)
            if isinstance(self._outputs[port], Discard):
                return  # the port is away: the note stays owed, closed on the port that comes back
            owners = self._sounding[key]  # a Counter reads 0 for a missing key without adding it
            if owners > 1:
                self._sounding[key] = owners - 1
                return  # another note-on on this key still owns it
            if owners == 1:
                del self._sounding[key]
            elif self._dropped_owed[key]:
                self._dropped_owed[key] -= 1
                if not self._dropped_owed[key]:
                    del self._dropped_owed[key]
                self._count(note_offs_dropped=1)
                return
        if late:
            self._count(late_sent=1)
        if msg.type == CONTROL_CHANGE and msg.control == SUSTAIN_PEDAL:
            pedals = self._pedal_down[port]
            (pedals.add if msg.value >= PEDAL_DOWN_MIN else pedals.discard)(msg.channel)
        self._send_locked(port, msg, due_s)

    def _discard_ahead_locked(self, port: str) -> None:
        """Take back what ``port``'s output holds ahead of time; what closes notes goes out now."""
        discard = getattr(self._outputs[port], "discard", None)
        if not callable(discard) or not lookahead_of(self._outputs[port]):
            return
        for msg in discard():
            if is_note_off(msg):
                self._send_locked(port, msg)

    def _panic_locked(self) -> None:
        for port in self._outputs:
            self._discard_ahead_locked(port)
        for port, channel, pitch in sorted(self._sounding):
            self._send_locked(port, _note_off(channel, pitch))
        self._sounding.clear()
        self._dropped_owed.clear()
        for port in self._used_channels:
            self._all_off_locked(port)

    def _owe_last_closes_locked(self, port: str) -> None:
        """``port``'s output is lost: what it wrote in its last moments may never have arrived, so
        every note it closed within :data:`LOSS_MARGIN_S` is owed a note-off again (one too many is
        harmless; one too few is a stuck note)."""
        horizon = self._clock() - LOSS_MARGIN_S
        for time_s, channel, pitch in self._closed_lately[port]:
            if time_s >= horizon and not self._sounding[(port, channel, pitch)]:
                self._sounding[(port, channel, pitch)] = 1
        self._closed_lately[port].clear()

    def _close_port_locked(self, port: str) -> None:
        """What :meth:`_panic_locked` does, for one port."""
        self._discard_ahead_locked(port)
        for key in sorted(k for k in self._sounding if k[0] == port):
            self._send_locked(port, _note_off(key[1], key[2]))
            del self._sounding[key]
        for key in [k for k in self._dropped_owed if k[0] == port]:
            del self._dropped_owed[key]
        self._all_off_locked(port)

    def _all_off_locked(self, port: str) -> None:
        """Pedal up where held, then CC 123, on every channel ``port`` used; forget them."""
        channels = self._used_channels[port]
        for channel in sorted(channels):
            if channel in self._pedal_down[port]:
                self._send_locked(port, mido.Message(
                    CONTROL_CHANGE, channel=channel, control=SUSTAIN_PEDAL, value=0))
            self._send_locked(port, mido.Message(
                CONTROL_CHANGE, channel=channel, control=ALL_NOTES_OFF, value=0))
        channels.clear()
        self._pedal_down[port].clear()

    def _send_locked(self, port: str, msg: mido.Message, due_s: float | None = None) -> bool:
        """Write one message (at ``due_s`` on an output that takes times, else now); True if it was taken."""
        if hasattr(msg, "channel"):
            self._used_channels[port].add(msg.channel)
        output = self._outputs[port]
        try:
            if due_s is not None and lookahead_of(output):
                output.send_at(due_s, msg)  # type: ignore[attr-defined]
            else:
                output.send(msg)
        except (OSError, ValueError, TypeError) as exc:
            self._count(send_errors=1)
            log.error("could not send %s on %s: %s", msg, port, exc)
            return False
        self._count(sent=1)
        now = self._clock()
        at = now if due_s is None else max(now, due_s)
        if is_note_off(msg):
            lately = self._closed_lately[port]
            lately.append((at, msg.channel, msg.note))
            while lately[0][0] < now - LOSS_MARGIN_S:
                lately.popleft()
        if self._on_sent is not None:
            self._on_sent(port, msg, at)
        return True

    def _count(self, **increments: int) -> None:
        self._stats = replace(self._stats, **{k: getattr(self._stats, k) + v for k, v in increments.items()})

    def _warn_late(self, lateness_s: float, now_s: float) -> None:
        if now_s - self._last_late_warning_s >= LATE_WARNING_INTERVAL_S:
            self._last_late_warning_s = now_s
            log.warning(
                "dropped a note-on %.1f ms late (tolerance %.1f ms); %d dropped so far",
                lateness_s * 1e3, self._late_tolerance_s * 1e3, self._stats.late_note_ons_dropped,
            )


def _raise_priority(priority: int) -> bool:
    """Put the calling thread on SCHED_FIFO at ``priority``; False (logged) where that is not allowed."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None:
        log.info("real-time scheduling is not available here; the scheduler runs at normal priority")
        return False
    try:
        setter(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread (Linux)
    except (OSError, ValueError) as exc:
        log.info("the scheduler thread runs at normal priority (real-time priority %d refused: %s); notes may "
                 "jitter on a busy machine: allow rtprio for your user, as JACK needs, or pass --no-realtime",
                 priority, exc.strerror if isinstance(exc, OSError) else exc)
        return False
    return True
