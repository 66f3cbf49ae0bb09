"""ops/reload.py: which new configuration replaces the running one."""

from __future__ import annotations

import threading
import time

from serveproc import alert, provider

from fluxnotify.ops.reload import LiveConfig, LiveStore

GOOD = provider("hook", "http://127.0.0.1:9/x") + alert("all", "hook")
BAD = provider("chat", "http://127.0.0.1:9/y", kind="slak") + alert("to-chat", "chat")


def live(tmp_path, text: str, **options) -> tuple[LiveConfig, list[str]]:
    (tmp_path / "flux.yaml").write_text(text)
    said: list[str] = []
    return LiveConfig([str(tmp_path)], report=said.append, **options), said


def test_a_new_problem_is_refused_an_old_one_is_not(tmp_path):
    config, said = live(tmp_path, GOOD + BAD)
    assert len(config.current.not_ready) == 2
    (tmp_path / "more.yaml").write_text(provider("more", "http://127.0.0.1:9/z"))  # a new file in the directory
    assert config.reload("test") and said[-1].endswith("(test): 3 Providers, 2 Alerts: 2 not Ready")
    (tmp_path / "more.yaml").write_text(provider("more", "no-scheme.example/z"))
    assert not config.reload("test")
    assert said[-1].startswith("configuration not reloaded, the previous one stays: Provider flux-system/more")
    assert "\n" not in said[-1]
    assert [o.metadata.name for o in config.current.objects][-1] == "more"


def test_strict_refuses_anything_not_ready(tmp_path):
    config, said = live(tmp_path, GOOD, strict=True)
    (tmp_path / "flux.yaml").write_text(GOOD + BAD)
    assert not config.reload("test")
    assert said[-1].endswith("(and 1 more) (--strict)")


def test_the_watcher_reloads_a_change_once_it_held_still(tmp_path, monkeypatch):
    monkeypatch.setattr("fluxnotify.ops.reload.POLL", 0.05)
    config, said = live(tmp_path, GOOD)
    store = LiveStore(config.current.objects)
    config.on_change = lambda loaded: store.swap(loaded.objects)
    config.start()
    try:
        (tmp_path / "flux.yaml").write_text(GOOD + provider("two", "http://127.0.0.1:9/2"))
        deadline = time.monotonic() + 5
        while not said and time.monotonic() < deadline:
            time.sleep(0.02)
        assert said == ["configuration reloaded (file changed): 2 Providers, 1 Alert: all Ready"]
        assert store.generation == 1 and store.provider("flux-system", "two") is not None
        config.request()  # SIGHUP: reloads even without a change
        deadline = time.monotonic() + 5
        while len(said) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert said[1].startswith("configuration reloaded (SIGHUP)")
    finally:
        config.stop()


def test_a_second_sighup_inside_the_first_handler_does_not_deadlock(tmp_path):
    """Signal handlers run in the main thread between bytecodes: a SIGHUP arriving while the
    previous handler is inside Event.set() (holding its non-reentrant lock) must not set again."""
    config, _ = live(tmp_path, "")

    class LockProbe:  # stands in for the Event: set() holds a lock, as threading.Event's does
        def __init__(self):
            self.lock, self.sets = threading.Lock(), 0

        def set(self):
            assert self.lock.acquire(timeout=1), "the second handler waited on the first's lock"
            try:
                self.sets += 1
                if self.sets == 1:
                    config.request()  # the second SIGHUP lands here
            finally:
                self.lock.release()

    probe = LockProbe()
    config._wake = probe
    config.request()
    assert probe.sets == 1
    config.request()  # later SIGHUPs still reach the watcher
    assert probe.sets == 2
