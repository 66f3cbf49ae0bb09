"""No library module reads the environment itself (settings.py): Settings.from_env() is read once
by the handlers and `serve` and handed down. ops/ is the command line (its argument defaults may
come from the environment) and settings.py is the one reader; every other read is listed below.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "notify" / "fluxnotify"
READERS = ("ops/", "settings.py")

# Reads still to move into Settings (file → count); the list may only shrink. Provider endpoint
# overrides, read at encode time: tests point them at capture servers with monkeypatch.setenv.
ALLOWED = {
    "providers/chat/slack.py": 2,  # SLACK_API_URL
    "providers/chat/telegram.py": 1,  # TELEGRAM_API_URL
    "providers/git/bitbucket.py": 1,  # BITBUCKET_API_BASE_URL
    "providers/stream/azureeventhub.py": 1,  # AZURE_AUTHORITY_HOST
    "providers/stream/googlepubsub.py": 2,  # PUBSUB_EMULATOR_HOST
}


def environment_reads(source: str) -> int:
    """``os.environ``, ``os.environb``, ``os.getenv`` (also imported by name) in code, not in text."""
    tree = ast.parse(source)
    names = {"environ", "environb", "getenv", "getenvb"}
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names and isinstance(node.value, ast.Name) \
                and node.value.id == "os":
            count += 1
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            count += sum(1 for alias in node.names if alias.name in names)
    return count


def test_no_library_module_reads_the_environment_beyond_the_allowance():
    found = Counter()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith(READERS) and (n := environment_reads(path.read_text())):
            found[relative] = n
    over = {name: n for name, n in found.items() if n > ALLOWED.get(name, 0)}
    assert over == {}, "read it in settings.py (Settings.from_env) and pass it down"
    stale = {name: n for name, n in ALLOWED.items() if found[name] < n}
    assert stale == {}, "fewer reads than allowed: lower ALLOWED"


def test_the_check_sees_every_spelling_and_ignores_text():
    code = (
        "import os\nfrom os import getenv, environ as env\n"
        "a = os.environ['A']\nb = os.getenv('B')\nc = os.environ.get('C')\n"
        "# os.environ in a comment\nd = 'os.getenv in a string'\ne = self.environ\n"
    )
    assert environment_reads(code) == 5
    assert environment_reads("import os\npath = os.path.join('a', 'b')\n") == 0
