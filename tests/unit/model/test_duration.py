"""The one Go-duration parser (model/duration.py): annotations and Provider spec.timeout."""

from __future__ import annotations

import pytest

from fluxnotify.model.duration import CRD_UNITS, go_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5), ("500ms", 0.5), ("2h", 7200), ("100us", 1e-4),
])
def test_go_syntax(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "m", "1d", "-1s"])
def test_refused(text):
    with pytest.raises(ValueError):
        go_duration(text)


@pytest.mark.parametrize("text", ["1h", ".5s", "1.s", " 15s"])
def test_the_crd_pattern_is_narrower(text):
    with pytest.raises(ValueError):
        go_duration(text, CRD_UNITS)
    assert go_duration("1m30s", CRD_UNITS) == 90
