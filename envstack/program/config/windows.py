"""AWS maintenance and backup windows (UTC): shape, minimum length and overlap, as minutes of the week.

A daily window ("hh24:mi-hh24:mi") recurs every day; a weekly one ("ddd:hh24:mi-ddd:hh24:mi") once a week.
Either may wrap past midnight or past Sunday night.
"""

import re
from collections.abc import Callable

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY, WEEK = 24 * 60, 7 * 24 * 60
_TIME = r"([01]\d|2[0-3]):([0-5]\d)"
_DAY = f"({'|'.join(DAYS)})"
_DAILY = re.compile(rf"^{_TIME}-{_TIME}$")
_WEEKLY = re.compile(rf"^{_DAY}:{_TIME}-{_DAY}:{_TIME}$", re.IGNORECASE)


def _span(start: int, end: int, period: int) -> set[int]:
    return {(start + m) % period for m in range((end - start) % period)}


def daily(window: str) -> set[int]:
    """The minutes of the week a daily window covers."""
    match = _DAILY.match(window)
    if not match:
        raise ValueError("expected a daily UTC window 'hh24:mi-hh24:mi', e.g. '03:00-04:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return {day * DAY + m for day in range(7) for m in _span(h1 * 60 + m1, h2 * 60 + m2, DAY)}


def weekly(window: str) -> set[int]:
    """The minutes of the week a weekly window covers."""
    match = _WEEKLY.match(window)
    if not match:
        raise ValueError("expected a weekly UTC window 'ddd:hh24:mi-ddd:hh24:mi', e.g. 'sun:05:00-sun:06:00'")
    d1, h1, m1, d2, h2, m2 = match.groups()
    return _span(_minute(d1, h1, m1), _minute(d2, h2, m2), WEEK)


def _minute(day: str, hour: str, minute: str) -> int:
    return DAYS.index(day.lower()) * DAY + int(hour) * 60 + int(minute)


def window(parse: Callable[[str], set[int]], min_minutes: int) -> Callable[[str], str]:
    """A pydantic after-validator: the window parses and lasts at least `min_minutes`."""
    per_occurrence = 7 if parse is daily else 1

    def check(value: str) -> str:
        length = len(parse(value)) // per_occurrence
        if length < min_minutes:
            raise ValueError(f"expected a window of at least {min_minutes} minutes, got {length}")
        return value
    shape = "hh24:mi-hh24:mi" if parse is daily else "ddd:hh24:mi-ddd:hh24:mi"
    check.expected = f"UTC `{shape}`, at least {min_minutes} minutes"  # type: ignore[attr-defined]  # for the docs
    return check


def check_apart(maintenance: str, other: str | None, other_key: str) -> str:
    """The weekly maintenance window must not share a minute with the daily backup/snapshot window."""
    if other is not None and weekly(maintenance) & daily(other):
        raise ValueError(f"expected a window that does not overlap {other_key} ({other})")
    return maintenance
