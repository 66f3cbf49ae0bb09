"""Stop signals for `fluxnotify serve`: its own SIGINT/SIGTERM handlers, not Python's defaults.

A shell starts a background job with SIGINT ignored, and Python then installs no
KeyboardInterrupt handler at all; `serve` installs its handlers explicitly (first thing,
so a Ctrl-C during start-up counts too), and Ctrl-C, `kill -INT` and `kill` (SIGTERM)
stop it in every case, without a traceback.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._event = threading.Event()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum, _frame) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
        self._event.set()

    def wait(self) -> signal.Signals:
        """Block the main thread until SIGINT or SIGTERM; return which one arrived."""
        while not self._event.wait(0.5):  # a timed wait lets the handler run promptly
            pass
        assert self.received is not None  # set before the event
        return self.received
