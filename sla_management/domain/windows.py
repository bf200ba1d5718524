"""Burn-rate windows, kept as data.

Pairs follow the SRE workbook's multi-window, multi-burn-rate alerts for a 30-day SLO: a long
window that says the burn matters (1h, 6h, 24h, 3d) and a short one, 1/12 of it, that says it
is still going on (5m, 30m, 2h, 6h). 14.4 over 1h spends 2 % of a 30-day budget in that hour;
6 over 6h spends 5 %; 1 over 3d spends 10 %.
"""

from __future__ import annotations

BURN_WINDOWS: dict[str, int] = {
    "5m": 5 * 60,
    "30m": 30 * 60,
    "1h": 3600,
    "2h": 2 * 3600,
    "6h": 6 * 3600,
    "24h": 24 * 3600,
    "3d": 3 * 86400,
}


def format_duration(seconds: int) -> str:
    """A PromQL duration, as short as it can be written exactly."""
    if seconds <= 0:
        raise ValueError("a PromQL range must be positive")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
