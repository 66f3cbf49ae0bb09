"""Go-JSON (model/gojson.py): ``dumps_text``, the C-speed path of strings, dicts and lists,
writes exactly what the exact encoder writes, whatever the text holds."""

from __future__ import annotations

import random

import pytest

from fluxnotify.model import gojson

# Every character where Python's json and Go's encoding/json part ways, and their neighbours.
SPECIAL = ['"', "\\", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "<", ">", "&", "\u2028", "\u2029",
           "\ud800", "\udfff", "é", "😀", "b", "f", "u", " "]


def test_dumps_text_is_dumps_for_random_text_of_special_characters():
    rng = random.Random(27)
    for _ in range(2000):
        text = "".join(rng.choice(SPECIAL) for _ in range(rng.randint(0, 12)))
        value = {"message": text, text: [text, None, {"k": text}], "metadata": {"a": text}}
        assert gojson.dumps_text(value) == gojson.dumps(value), ascii(text)


@pytest.mark.parametrize("text, expected", [
    ("a<b>&c", '"a\\u003cb\\u003e\\u0026c"'),
    ("bell\b feed\f", '"bell\\u0008 feed\\u000c"'),
    ("back\\bslash", '"back\\\\bslash"'),
    ("sep\u2028", '"sep\\u2028"'),
    ("lone\ud800", '"lone\ufffd"'),
    ("plain é", '"plain é"'),
])  # fmt: skip
def test_dumps_text_writes_what_go_writes(text, expected):
    assert gojson.dumps_text({"m": text}) == '{"m":' + expected + "}"
