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


# Attributes Powertools sets on a logger it configured (it then reuses handlers[0]).
_POWERTOOLS_MARKS = ("powertools_handler", "init", "logger_handler")


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """The CLI's Powertools Logger takes the package's logger (own handler, no propagation):
    give it back after each test so a later test's caplog still sees its records."""
    package = logging.getLogger("fluxnotify")
    saved = (package.handlers[:], package.propagate, package.level, package.disabled)
    marks = {name: getattr(package, name) for name in _POWERTOOLS_MARKS if hasattr(package, name)}
    yield
    package.handlers[:], package.propagate, package.level, package.disabled = saved
    # Powertools marks the logger it configured and then reuses handlers[0]: the mark goes with them.
    for name in _POWERTOOLS_MARKS:
        if name in marks:
            setattr(package, name, marks[name])
        elif hasattr(package, name):
            delattr(package, name)
