"""serve prints the `validate` summary at start-up; --strict refuses to start (issue 24 point 3)."""

from __future__ import annotations

from serveproc import Serve, alert, event, post, provider, run_serve

BROKEN = provider("chat", "https://hooks.example/x", kind="slak") + alert("to-chat", "chat")


def test_serve_names_what_is_not_ready_and_why_at_start_up(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(provider("hook", sink.url + "/ok") + alert("all", "hook") + BROKEN)
    with Serve(["-f", str(config), "--db", str(tmp_path / "q.db")]) as serve:
        assert serve.wait_line("configuration: ").endswith(
            "configuration: 2 Providers, 2 Alerts: 2 not Ready")
        line = serve.wait_line("Provider flux-system/chat is not Ready")
        assert "ValidationFailed" in line and "slak" in line  # validate's own words
        line = serve.wait_line("Alert flux-system/to-chat is not Ready")
        assert "ProviderNotReady" in line
        assert not serve.matching("flux-system/hook is not Ready")
        # Not strict: it still serves what is Ready.
        assert post(serve.url + "/", event())[0] == 202
        assert sink.wait_for(1, timeout=20)[0].path == "/ok"


def test_an_all_ready_configuration_says_so(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(provider("hook", sink.url + "/ok") + alert("all", "hook"))
    with Serve(["-f", str(config), "--db", str(tmp_path / "q.db"), "--strict"]) as serve:
        assert serve.wait_line("configuration: ").endswith("configuration: 1 Provider, 1 Alert: all Ready")


def test_strict_refuses_to_start_with_an_object_not_ready(tmp_path):
    config = tmp_path / "flux.yaml"
    config.write_text(BROKEN)
    db = tmp_path / "q.db"
    result = run_serve(["-f", str(config), "--db", str(db), "--port", "0", "--strict"])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any("Provider flux-system/chat is not Ready: ValidationFailed" in line and "slak" in line for line in lines)
    assert lines[-1] == "fluxnotify: 2 object(s) not Ready: refusing to start (--strict)"
    assert "Traceback" not in result.stderr
    assert not db.exists(), "nothing is created before the configuration is accepted"
