"""EventBridge schedule expressions: `rate(...)` and `cron(...)`, validated as AWS does.

cron has six fields: minutes hours day-of-month month day-of-week year. Exactly one of
day-of-month / day-of-week is `?`; day-of-week 1-7 = SUN-SAT; `L`, `W`, `#` as in AWS.
`next_fire` translates to croniter (day-of-week 1-7 -> 0-6, `nL` -> `L(n-1)`); what
croniter can't express (`LW`) is computed by `_next_own`, an evaluator of the parsed
fields that the tests also use to cross-check croniter. The year field filters.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from croniter import CroniterBadDateError, croniter  # type: ignore[import-untyped]

from nimbus.errors import ValidationError

INVALID = "Parameter ScheduleExpression is not valid."
_RATE = re.compile(r"^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^()]*)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MAX_YEAR = 2199


@dataclass(frozen=True)
class Rate:
    seconds: int


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str  # "?" | "*" | raw field (validated)
    days: frozenset[int]  # plain day-of-month values when dom is a list/range
    months: frozenset[int]
    dow: str  # "?" | "*" | raw field, names resolved to numbers 1-7
    weekdays: frozenset[int]  # plain day-of-week values 1-7
    years: frozenset[int]


Schedule = Rate | Cron


def _invalid() -> ValidationError:
    return ValidationError(INVALID)


def _number(token: str, low: int, high: int, names: list[str] | None) -> int:
    if names and token.upper() in names:
        return names.index(token.upper()) + 1
    if not token.isdigit():
        raise _invalid()
    value = int(token)
    if not low <= value <= high:
        raise _invalid()
    return value


def _expand(field: str, low: int, high: int, names: list[str] | None = None) -> frozenset[int]:
    """`*`, `a`, `a-b`, `a/n`, `*/n`, `a-b/n` and comma lists of those."""
    values: set[int] = set()
    for item in field.split(","):
        base, step_text = item.split("/", 1) if "/" in item else (item, "")
        step = 1
        if "/" in item:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _invalid()
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, low, high, names), _number(last, low, high, names)
            if start > end:
                raise _invalid()
        else:
            start = _number(base, low, high, names)
            end = high if "/" in item else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _dom(field: str) -> frozenset[int]:
    if field in ("?", "*", "L", "LW"):
        return frozenset()
    if field.endswith("W"):
        _number(field[:-1], 1, 31, None)
        return frozenset()
    return _expand(field, 1, 31)


def _dow(field: str) -> tuple[str, frozenset[int]]:
    """-> (field with names as numbers, plain weekday values)."""
    if field in ("?", "*", "L"):
        return field, frozenset()
    if "#" in field:
        day, nth = field.split("#", 1)
        value = _number(day, 1, 7, _DAYS)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise _invalid()
        return f"{value}#{int(nth)}", frozenset()
    if field.endswith("L"):
        return f"{_number(field[:-1], 1, 7, _DAYS)}L", frozenset()
    return field, _expand(field, 1, 7, _DAYS)


def parse(expression: str) -> Schedule:
    """Raise ValidationException("Parameter ScheduleExpression is not valid.") if invalid."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if (value == 1) != (not unit.endswith("s")):
            raise _invalid()
        return Rate(value * _UNIT_S[unit.rstrip("s")])
    cron = _CRON.match(expression)
    if not cron:
        raise _invalid()
    fields = cron.group(1).split(" ")
    if len(fields) != 6 or any(not f for f in fields):
        raise _invalid()
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise _invalid()
    dow_field, weekdays = _dow(dow)
    return Cron(
        minutes=_expand(minute, 0, 59),
        hours=_expand(hour, 0, 23),
        dom=dom,
        days=_dom(dom),
        months=_expand(month, 1, 12, _MONTHS),
        dow=dow_field,
        weekdays=weekdays,
        years=_expand(year, 1970, _MAX_YEAR),
    )


def validate(expression: str) -> None:
    parse(expression)


def period_seconds(expression: str) -> int | None:
    schedule = parse(expression)
    return schedule.seconds if isinstance(schedule, Rate) else None


def _utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def next_fire(
    expression: str, after: dt.datetime, anchor: dt.datetime | None = None
) -> dt.datetime | None:
    """The first firing strictly after `after` (UTC), None if there is none (year range).

    A rate fires at anchor + k * period (the rule's creation time, as AWS does); without
    an anchor, one period after `after`.
    """
    schedule = parse(expression)
    after = _utc(after)
    if isinstance(schedule, Rate):
        if anchor is None:
            return after + dt.timedelta(seconds=schedule.seconds)
        anchor = _utc(anchor)
        elapsed = (after - anchor).total_seconds()
        periods = max(0, int(elapsed // schedule.seconds) + 1)
        return anchor + dt.timedelta(seconds=periods * schedule.seconds)
    translated = _croniter_fields(schedule)
    if translated is None:
        return _next_own(schedule, after)
    return _next_croniter(schedule, translated, after)


def _join(values: frozenset[int], shift: int = 0) -> str:
    return ",".join(str(v - shift) for v in sorted(values))


def _croniter_fields(schedule: Cron) -> str | None:
    """The five croniter fields for `schedule`, None when croniter can't express it."""
    dom = schedule.dom
    if dom == "LW":
        return None
    dom_field = _join(schedule.days) if schedule.days else ("*" if dom == "?" else dom)
    dow = schedule.dow
    if dow in ("?", "*"):
        dow_field = "*"
    elif dow == "L":
        dow_field = "6"
    elif "#" in dow:
        day, nth = dow.split("#")
        dow_field = f"{int(day) - 1}#{nth}"
    elif dow.endswith("L"):
        dow_field = f"L{int(dow[:-1]) - 1}"
    else:
        dow_field = _join(schedule.weekdays, 1)
    minutes, hours, months = _join(schedule.minutes), _join(schedule.hours), _join(schedule.months)
    return f"{minutes} {hours} {dom_field} {months} {dow_field}"


def _next_croniter(schedule: Cron, fields: str, after: dt.datetime) -> dt.datetime | None:
    start = after
    while True:
        try:
            found: dt.datetime = croniter(fields, start).get_next(dt.datetime)
        except CroniterBadDateError:  # nothing for years (e.g. the 31st of February)
            return _next_own(schedule, start)
        found = _utc(found)
        if found.year in schedule.years:
            return found
        later = [y for y in schedule.years if y > found.year]
        if not later:
            return None
        start = dt.datetime(min(later), 1, 1, tzinfo=dt.UTC) - dt.timedelta(minutes=1)


def _last_day(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    last = _last_day(year, month)
    if day > last:
        return None
    weekday = dt.date(year, month, day).weekday()  # Monday = 0
    if weekday == 5:  # Saturday: Friday before, or Monday after when the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, or Friday before when the last day
        return day + 1 if day < last else day - 2
    return day


def day_matches(schedule: Cron, day: dt.date) -> bool:
    """Whether the day-of-month / day-of-week fields select `day` (AWS semantics)."""
    last = _last_day(day.year, day.month)
    dom = schedule.dom
    if dom != "?":
        if dom == "*":
            return True
        if dom == "L":
            return day.day == last
        if dom == "LW":
            return day.day == _nearest_weekday(day.year, day.month, last)
        if dom.endswith("W"):
            return day.day == _nearest_weekday(day.year, day.month, int(dom[:-1]))
        return day.day in schedule.days
    weekday = (day.weekday() + 1) % 7 + 1  # SUN = 1 ... SAT = 7
    dow = schedule.dow
    if dow == "*":
        return True
    if dow == "L":
        return weekday == 7
    if "#" in dow:
        wanted, nth = (int(x) for x in dow.split("#"))
        return weekday == wanted and (day.day - 1) // 7 + 1 == nth
    if dow.endswith("L"):
        return weekday == int(dow[:-1]) and day.day + 7 > last
    return weekday in schedule.weekdays


def _next_own(schedule: Cron, after: dt.datetime) -> dt.datetime | None:
    day = after.date()
    while day.year <= _MAX_YEAR:
        if day.year not in schedule.years:
            day = dt.date(day.year + 1, 1, 1)
            continue
        if day.month not in schedule.months:
            day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
            continue
        if day_matches(schedule, day):
            for hour in sorted(schedule.hours):
                for minute in sorted(schedule.minutes):
                    when = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                    if when > after:
                        return when
        day += dt.timedelta(days=1)
    return None
