import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUARD = Path(__file__).resolve().parent / "netguard"
sys.path.insert(0, str(ROOT / "layers" / "notify"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(GUARD))

# Only 127.0.0.1 may be reached, here and in every Python child process (see netguard/).
import sitecustomize  # noqa: E402, F401

from httpsink import HttpSink  # noqa: E402

os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD), os.environ.get("PYTHONPATH")]))


@pytest.fixture
def sink():
    with HttpSink() as server:
        yield server


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """The CLI's Powertools Logger takes the package's logger (own handler, no propagation,
    marker attributes): give it back after each test so a later test's caplog sees its records."""
    package = logging.getLogger("fluxnotify")
    saved = dict(vars(package))
    saved_handlers = package.handlers[:]
    yield
    for name in set(vars(package)) - set(saved):
        delattr(package, name)
    vars(package).update(saved)
    package.handlers[:] = saved_handlers
