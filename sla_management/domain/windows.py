"""The burn-rate policy, kept as data: which windows are measured, and which pairs of them, above
which factor, set a burn level or fire an alert.

Pairs follow the SRE workbook's multi-window, multi-burn-rate alerts for a 30-day SLO (ch. 5,
table 5-8): a long window that says the burn matters and a short one, 1/12 of it, that says it
is still going on. A burn rate of 1 spends exactly the whole budget over the SLO window, so:

- 14.4 over 1h spends 2 % of a 30-day budget in that hour: page, and burn level CRITICAL;
- 6 over 6h spends 5 % in six hours: page, and FAST;
- 3 over 24h spends 10 % in a day, 1 over 3d 10 % in three days: a ticket;
- 1 over 24h (and 2h) means the budget would be gone by the end of the window at this pace: the
  loop calls it ELEVATED, which pages nobody.

The factors stay the same for other `windowDays`, so the burn levels the loop reports and the
alerts the rule generator writes always agree. The page factors can be tuned with
`CALCULATOR__BURN_RATE_FAST_THRESHOLD` / `..._SLOW_THRESHOLD`: `Thresholds.rules()` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass

BURN_WINDOWS: dict[str, int] = {
    "5m": 5 * 60,
    "30m": 30 * 60,
    "1h": 3600,
    "2h": 2 * 3600,
    "6h": 6 * 3600,
    "24h": 24 * 3600,
    "3d": 3 * 86400,
}


class BurnLevel(StrEnum):
    NORMAL = "NORMAL"
    ELEVATED = "ELEVATED"
    FAST = "FAST"
    CRITICAL = "CRITICAL"
    NO_DATA = "NO_DATA"
    UNKNOWN = "UNKNOWN"

    @property
    def rank(self) -> int:
        """Severity order of the levels that mean something; -1 for missing data."""
        return _LEVEL_RANK.get(self, -1)


_LEVEL_RANK = {BurnLevel.NORMAL: 0, BurnLevel.ELEVATED: 1, BurnLevel.FAST: 2, BurnLevel.CRITICAL: 3}

Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class BurnRule:
    """Both windows' burn rates at or above `factor`: the burn sets `level` and/or fires `alert`."""

    long: str
    short: str
    factor: float
    level: BurnLevel | None = None
    alert: Severity | None = None
    # Which setting may replace the factor: the page rules are tunable, the others are not.
    tunable: Literal["fast", "slow"] | None = None


BURN_RULES: tuple[BurnRule, ...] = (
    BurnRule("1h", "5m", 14.4, level=BurnLevel.CRITICAL, alert="page", tunable="fast"),
    BurnRule("6h", "30m", 6, level=BurnLevel.FAST, alert="page", tunable="slow"),
    BurnRule("24h", "2h", 3, alert="ticket"),
    BurnRule("3d", "6h", 1, alert="ticket"),
    BurnRule("24h", "2h", 1, level=BurnLevel.ELEVATED),
)


@pydantic_dataclass(frozen=True, config=ConfigDict(alias_generator=to_camel, populate_by_name=True))
class Thresholds:
    """The knobs the math needs: built once from settings (`from_settings` in config terms) and
    carried into the workflows, which never read the environment."""

    burn_fast: float = 14.4
    burn_slow: float = 6.0
    freeze_percent: float = 20.0
    unfreeze_percent: float = 50.0

    def rules(self) -> tuple[BurnRule, ...]:
        """`BURN_RULES` with the tunable factors taken from these thresholds."""
        factors = {"fast": self.burn_fast, "slow": self.burn_slow}
        return tuple(
            replace(rule, factor=factors[rule.tunable]) if rule.tunable else rule for rule in BURN_RULES
        )


def format_duration(seconds: int) -> str:
    """A PromQL duration, as short as it can be written exactly."""
    if seconds <= 0:
        raise ValueError("a PromQL range must be positive")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
