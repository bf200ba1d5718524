from __future__ import annotations

from datetime import timedelta

import promql_parser
import pytest

from sla_management.domain.windows import BURN_WINDOWS, format_duration


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(1, "1s", id="one second stays in seconds"),
        pytest.param(90, "90s", id="ninety seconds is not a whole minute"),
        pytest.param(60, "1m", id="sixty seconds is one minute"),
        pytest.param(300, "5m", id="five minutes"),
        pytest.param(5400, "90m", id="ninety minutes is not a whole hour"),
        pytest.param(3600, "1h", id="one hour"),
        pytest.param(25 * 3600, "25h", id="twenty-five hours is not a whole day"),
        pytest.param(86400, "1d", id="twenty-four hours is written as one day"),
        pytest.param(7 * 86400, "7d", id="a week is seven days, not 1w"),
        pytest.param(90 * 86400, "90d", id="the longest window is ninety days"),
        pytest.param(3599, "3599s", id="one second short of an hour falls back to seconds"),
    ],
)
def test_format_duration(seconds: int, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param(0, id="an empty range is refused"),
        pytest.param(-60, id="a negative range is refused"),
    ],
)
def test_format_duration_refuses_non_positive_ranges(seconds: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        format_duration(seconds)


@pytest.mark.parametrize(
    ("name", "seconds"),
    [pytest.param(name, seconds, id=f"burn window {name}") for name, seconds in BURN_WINDOWS.items()],
)
def test_burn_window_renders_to_a_range_prometheus_reads_back_as_the_same_length(
    name: str, seconds: int
) -> None:
    call = promql_parser.parse(f"rate(x[{format_duration(seconds)}])")
    assert isinstance(call, promql_parser.Call)
    assert call.args[0].range == timedelta(seconds=seconds)
