"""Stop signals for `fluxnotify serve`: its own SIGINT/SIGTERM handlers, not Python's defaults.

A shell starts a background job with SIGINT ignored, and Python then installs no
KeyboardInterrupt handler at all; `serve` installs its handlers explicitly (first thing,
so a Ctrl-C during start-up counts too), and Ctrl-C, `kill -INT` and `kill` (SIGTERM)
stop it in every case, without a traceback.
"""

from __future__ import annotations

import signal
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """The handler only records the signal: it runs between two bytecodes of the main thread,
    and taking a lock there (a threading.Event's) that the main thread holds at that moment
    deadlocks it (a second Ctrl-C while the first was being handled)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum, _frame) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)

    def wait(self) -> signal.Signals:
        """Block the main thread until SIGINT or SIGTERM; return which one arrived."""
        while self.received is None:
            time.sleep(0.2)  # the handler runs as soon as the sleep is interrupted
        return self.received
