"""ops/logs.py: short human lines for a terminal."""

from __future__ import annotations

import logging

from fluxnotify.ops.logs import HumanFormatter, human_logs


def record(message: str, level: int = logging.INFO, **extra) -> logging.LogRecord:
    made = logging.LogRecord("fluxnotify.delivery", level, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_a_delivery_is_one_short_line():
    line = HumanFormatter().format(record("delivered", object="Kustomization/flux-system/apps",
                                          providers=["flux-system/slack"], message_id="m-1", attempt=1))
    assert line[8:] == " delivered Kustomization/flux-system/apps → flux-system/slack"
    failed = HumanFormatter().format(record(
        "delivery failed", logging.WARNING, object="HelmRelease/ns/app", provider="ns/hook", provider_type="generic",
        duration_ms=12.4, error="HTTP 500\n" + "x" * 500, cluster="default"))
    assert failed[8:].startswith(" WARNING delivery failed HelmRelease/ns/app → ns/hook (generic, 12 ms): HTTP 500 x")
    assert len(failed) < 350 and failed.endswith("x…") and "\n" not in failed


def test_json_unless_a_terminal_or_asked(monkeypatch):
    monkeypatch.setenv("FLUXNOTIFY_LOG_FORMAT", "")
    assert not human_logs()  # pytest's stderr is not a terminal
    monkeypatch.setenv("FLUXNOTIFY_LOG_FORMAT", "text")
    assert human_logs()
    monkeypatch.setenv("FLUXNOTIFY_LOG_FORMAT", "")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "dispatcher")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert not human_logs()
