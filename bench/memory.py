"""Peak memory sampling from /proc: anonymous RSS (what the process allocated) separately
from file-backed RSS (pages of memory-mapped feature files, i.e. page cache)."""

from __future__ import annotations

import threading
import time


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class PeakMemory:
    """Samples every ``interval`` seconds in a thread; ``peak`` holds the maxima in bytes."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, {}, threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, v in _status().items():
                self.peak[k] = max(self.peak.get(k, 0), v)
            time.sleep(self.interval)

    def __enter__(self) -> "PeakMemory":
        self.start = _status()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        for k, v in _status().items():
            self.peak[k] = max(self.peak.get(k, 0), v)
