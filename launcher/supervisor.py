"""Keeps ``ssnas serve``'s children running: a child that dies is started again with backoff and
logged, while the others go on serving; everything stops only when asked (Ctrl-C, SIGTERM).

Each child is a named start function (it returns once the process can serve) and how to stop it.
A dead child's process group is killed before its restart, so an orphan it left (a Celery pool
child, a uvicorn worker holding the port) cannot outlive it. Restart delays double from
``first_delay_s`` up to ``max_delay_s`` while a child keeps dying within ``stable_s`` of its start,
and fall back to the first delay once it has run that long.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from . import processes as P


def say(message: str) -> None:
    now = time.time()
    stamp = f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d}"
    print(f"ssnas serve: {stamp} {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    stop_signal: int = signal.SIGTERM
    stop_group: bool = True  # signal the whole group (False: the leader stops its own children)
    after_restart: Callable[[], None] | None = None
    # during a stop: true once the child has done what it must (e.g. a worker whose pool ended)
    stopped: Callable[[subprocess.Popen], bool] | None = None
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # deaths in a row, each within stable_s of its start
    restart_at: float | None = None
    restarts: int = 0
    history: list = field(default_factory=list)  # (died monotonic, back monotonic or None)


class Supervisor:
    def __init__(self, first_delay_s: float = 0.5, max_delay_s: float = 30.0, stable_s: float = 60.0,
                 log: Callable[[str], None] = say):
        self.children: list[Child] = []
        self.first_delay_s, self.max_delay_s, self.stable_s = first_delay_s, max_delay_s, stable_s
        self.log = log

    def add(self, child: Child) -> Child:
        """Start ``child`` now (failing loudly: this is the service's start) and supervise it."""
        child.proc, child.started_at = child.start(), time.monotonic()
        self.children.append(child)
        return child

    def delay(self, child: Child) -> float:
        return min(self.max_delay_s, self.first_delay_s * 2 ** max(child.failures - 1, 0))

    def check(self) -> None:
        """One pass: notice dead children, restart those whose delay is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.proc is not None and child.proc.poll() is not None:
                self._died(child, now)
            if child.restart_at is not None and now >= child.restart_at:
                self._restart(child)

    def _died(self, child: Child, now: float) -> None:
        code = child.proc.returncode
        P.kill(child.proc)  # what is left of its process group
        child.failures = child.failures + 1 if now - child.started_at < self.stable_s else 1
        child.restart_at = now + self.delay(child)
        child.history.append([now, None])
        self.log(f"{child.name} (pid {child.proc.pid}) exited with code {code}; "
                 f"restarting in {child.restart_at - now:.1f} s (death {child.failures} in a row)")

    def _restart(self, child: Child) -> None:
        try:
            child.proc = child.start()
        except Exception as exc:  # could not start: try again later, longer
            child.failures += 1
            child.restart_at = time.monotonic() + self.delay(child)
            self.log(f"{child.name} failed to start ({exc}); next try in {self.delay(child):.1f} s")
            return
        child.started_at, child.restart_at = time.monotonic(), None
        child.restarts += 1
        child.history[-1][1] = child.started_at
        self.log(f"{child.name} restarted (pid {child.proc.pid}, restart {child.restarts})")
        if child.after_restart is not None:
            try:
                child.after_restart()
            except Exception as exc:
                self.log(f"after restarting {child.name}: {type(exc).__name__}: {exc}")

    def run(self, interval_s: float = 0.2) -> None:
        """Supervise until interrupted (KeyboardInterrupt / SystemExit from a signal handler)."""
        while True:
            self.check()
            time.sleep(interval_s)

    def stop(self, order: list[list[str]], timeouts: dict[str, float]) -> None:
        """Stop the children stage by stage (names in one stage stop together), each stage waiting
        for its slowest member's timeout before killing what is left."""
        by_name = {c.name: c for c in self.children}
        for stage in order:
            live = [by_name[n] for n in stage if n in by_name and by_name[n].proc is not None]
            for c in live:
                _signal(c)
            t0 = time.monotonic()
            for c in live:
                if not _wait_stopped(c, t0 + timeouts.get(c.name, 5.0)):
                    self.log(f"{c.name} did not stop in {timeouts.get(c.name, 5.0):.0f} s: killed")
                P.kill(c.proc)
                self.log(f"{c.name} stopped after {time.monotonic() - t0:.1f} s")


def _wait_stopped(child: Child, deadline: float) -> bool:
    """Wait until the child exits (or its ``stopped`` test passes); False at the deadline."""
    while time.monotonic() < deadline:
        if child.proc.poll() is not None or (child.stopped is not None and child.stopped(child.proc)):
            return True
        time.sleep(0.05)
    return child.proc.poll() is not None


def _signal(child: Child) -> None:
    import os

    if child.proc.poll() is not None:
        return
    try:
        if child.stop_group:
            os.killpg(child.proc.pid, child.stop_signal)
        else:
            os.kill(child.proc.pid, child.stop_signal)
    except ProcessLookupError:
        pass
