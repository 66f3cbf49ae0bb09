"""ops/signals.py: serve's stop signals. The handler takes no lock (a second signal arriving
while the first is handled must not deadlock the main thread); wait() returns the first."""

from __future__ import annotations

import os
import signal

from fluxnotify.ops.signals import STOP_SIGNALS, StopSignals


def test_a_burst_of_stop_signals_is_answered_with_the_first():
    saved = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        stop = StopSignals()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            os.kill(os.getpid(), signum)
        assert stop.wait() is signal.SIGTERM
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
