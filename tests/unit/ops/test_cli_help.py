"""Help texts: each default once, an example at the end (issue 24 point 12)."""

from __future__ import annotations

import re

import pytest

from fluxnotify.ops.cli import _parser

COMMANDS = sorted(_parser()._subparsers._group_actions[0].choices)


def help_of(command: str | None) -> str:
    parser = _parser()
    if command is not None:
        parser = parser._subparsers._group_actions[0].choices[command]
    return parser.format_help()


def option_blocks(text: str) -> list[str]:
    """One block per option: its line and the indented lines that continue its help."""
    blocks: list[str] = []
    for line in text.splitlines():
        if re.match(r"^  -", line):
            blocks.append(line)
        elif blocks and re.match(r"^ {6,}\S", line):
            blocks[-1] += " " + line.strip()
        elif not line.strip() or not line.startswith(" "):
            blocks.append("")
    return [b for b in blocks if b]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_each_default_is_said_once(command):
    for block in option_blocks(help_of(command)):
        assert len(re.findall(r"\bdefault\b", block)) <= 1, block


def test_serve_shows_its_defaults_and_an_example():
    text = help_of("serve")
    blocks = {b.split()[0].rstrip(","): b for b in option_blocks(text)}
    assert blocks["--read-timeout"].endswith("(default: 10.0)")
    assert blocks["--port"].endswith("(default: 9292)")
    assert "(default" not in blocks["--token"]  # never a secret, even from the environment
    assert "RATE_LIMIT_INTERVAL" in blocks["--rate-limit-interval"]
    assert "examples:\n  fluxnotify serve -f examples/local.yaml\n" in text
    assert "kill -HUP" in text


@pytest.mark.parametrize("command", [None, "serve", "render", "validate", "replay", "status"])
def test_help_ends_with_an_example(command):
    text = help_of(command)
    example = text[text.rindex("\nexample"):]
    assert re.search(r"^  fluxnotify \w+", example, re.M), text
