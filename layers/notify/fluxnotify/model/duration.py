"""Go's time.ParseDuration, the one duration parser of the package.

Provider ``spec.timeout`` (Flux's CRD narrows it to ms, s and m, no sign) and the
``fluxnotify.io/*`` annotations (digest, thread-ttl: any Go unit) both use it.
"""

from __future__ import annotations

import re

_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
CRD_UNITS = frozenset({"ms", "s", "m"})  # what Flux's Provider CRD pattern allows for spec.timeout


def go_duration(text: str, units: frozenset[str] | None = None) -> float:
    """Seconds of ``90s``, ``5m``, ``1h30m``, ``1.5s``; ValueError otherwise (or for a unit
    outside ``units`` when given)."""
    rest, total = text.strip() if units is None else text, 0.0
    if not rest:
        raise ValueError("empty duration")
    while rest:
        match = _PART.match(rest)
        if match is None or match.group(1) in ("", ".") or (units is not None and match.group(2) not in units):
            raise ValueError(f"invalid duration {text!r}")
        if units is not None and (match.group(1).startswith(".") or match.group(1).endswith(".")):
            raise ValueError(f"invalid duration {text!r}")  # the CRD pattern wants digits around the dot
        total += float(match.group(1)) * _UNITS[match.group(2)]
        rest = rest[match.end() :]
    return total
