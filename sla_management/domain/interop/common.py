"""What every import returns, and the small guesses they share."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import Field, ValidationError
from pydantic.alias_generators import to_camel

from sla_management.domain.limits import TARGET_MAX, echo, name_key
from sla_management.domain.slo import CamelModel, SLIKind, SLOSpec, SLOType

# A namespace is a Kubernetes name; the API's default when a file has none.
DEFAULT_NAMESPACE = "default"


class InteropError(ValueError):
    """The file as a whole cannot be read (not YAML, not this format): nothing was imported."""


class Converted(CamelModel):
    item: str = Field(description="Where in the file the SLO came from.")
    spec: SLOSpec
    notes: list[str] = Field(default_factory=list, description="What was assumed or approximated.")


class Skipped(CamelModel):
    item: str
    reason: str


# A report repeats names and reasons from the file: long ones are cut.
_ITEM_MAX_CHARS = 200
_REASON_MAX_CHARS = 1000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class Conversion(CamelModel):
    converted: list[Converted] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append(Skipped(item=_cut(item, _ITEM_MAX_CHARS), reason=_cut(reason, _REASON_MAX_CHARS)))

    def add(self, item: str, spec: SLOSpec, notes: list[str] | None = None) -> None:
        # Names are unique per namespace, ignoring case: a second one would only be refused later.
        for earlier in self.converted:
            if (name_key(earlier.spec.name), earlier.spec.namespace) == (name_key(spec.name), spec.namespace):
                self.skip(item, f"same SLO ({spec.name!r} in {spec.namespace!r}) as {earlier.item!r}")
                return
        self.converted.append(Converted(item=_cut(item, _ITEM_MAX_CHARS), spec=spec, notes=notes or []))


def validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        # In the API's terms (camelCase), as the same mistake in a REST body would be reported.
        where = ".".join(to_camel(p) if isinstance(p, str) else str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def make_spec(fields: dict[str, Any]) -> SLOSpec | str:
    """The spec, or why the fields do not make a valid one. `None` values are left out, so
    defaults (window from settings, timeslice length) still apply."""
    try:
        return SLOSpec(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        return f"not a valid SLO: {validation_reason(exc)}"


def number(value: object) -> float | None:
    """A number written in a file (`99.9`, `"99.9"`), else None; `true` is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _highest(percent: float) -> str | None:
    if percent > TARGET_MAX * 100:
        return (
            f"an objective of {percent:.10g} % is above {TARGET_MAX * 100:g} %, the highest this system "
            "takes (a smaller error budget is below what scraped metrics can measure)"
        )
    return None


def percent_target(value: object, what: str) -> float | str:
    """An objective written as a percentage (Sloth's `objective`, OpenSLO's `targetPercent`) as
    a target ratio, or why it cannot be one, in the file's own terms."""
    percent = number(value)
    if percent is None or not math.isfinite(percent):
        return f"{what} {echo(value)} is not a percentage"
    if percent >= 100:
        return f"{what} is a percentage and must be below 100 (it is {percent:g})"
    if percent <= 0:
        return f"{what} is a percentage and must be above 0 (it is {percent:g})"
    return _highest(percent) or round(percent / 100, 12)


def ratio_target(value: object, what: str) -> float | str:
    """An objective written as a ratio (OpenSLO's `target`, 0.999 for 99.9 %), or why not."""
    ratio = number(value)
    if ratio is None or not math.isfinite(ratio):
        return f"{what} {echo(value)} is not a number"
    if not 0 < ratio < 1:
        hint = "; a percentage goes in targetPercent" if 1 < ratio < 100 else ""
        return f"{what} is a ratio and must be above 0 and below 1, e.g. 0.999 for 99.9 % (it is {ratio:g}{hint})"
    return _highest(ratio * 100) or round(ratio, 12)


def _type_in(text: str) -> SLOType | None:
    text = text.lower()
    if any(word in text for word in ("latenc", "duration", "histogram_quantile", "_bucket")):
        return SLOType.LATENCY
    if "availab" in text or "uptime" in text:
        return SLOType.AVAILABILITY
    if "throughput" in text:
        return SLOType.THROUGHPUT
    if "error" in text:
        return SLOType.ERROR_RATE
    return None


def guess_type(kind: SLIKind, names: list[str], queries: list[str]) -> SLOType:
    """A best guess: files rarely say which of our types an SLO is. Names speak first (an
    availability SLO may well read a `_duration_seconds_count`), then the queries."""
    found = _type_in(" ".join(names)) or _type_in(" ".join(queries))
    if found is not None:
        return found
    if kind is SLIKind.ERROR_TOTAL:
        return SLOType.ERROR_RATE
    if kind is SLIKind.GOOD_TOTAL:
        return SLOType.AVAILABILITY
    return SLOType.CUSTOM


def parse_type(value: object) -> SLOType | None:
    try:
        return SLOType(str(value).strip().upper())
    except ValueError:
        return None


_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


def parse_ratio(value: object) -> float | None:
    """An objective written as `99.9%`, `99.9` or `0.999`, as a ratio in (0, 1); else None."""
    match = _RATIO.match(str(value))
    if match is None:
        return None
    number = float(match.group(1))
    ratio = number / 100 if match.group(2) or number >= 1 else number
    return ratio if 0 < ratio < 1 else None


_DAYS = re.compile(r"^\s*(\d+)\s*d\s*$")


def parse_days(value: object) -> int | None:
    """`30d` -> 30."""
    match = _DAYS.match(str(value))
    return int(match.group(1)) if match else None


def slug(text: str, max_length: int = 63) -> str:
    """An RFC 1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:max_length].rstrip("-") or "slo"
