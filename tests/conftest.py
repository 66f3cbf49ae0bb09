import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "notify"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpsink import HttpSink  # noqa: E402


@pytest.fixture
def sink():
    with HttpSink() as server:
        yield server
