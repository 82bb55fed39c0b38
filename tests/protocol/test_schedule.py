"""Schedule expressions: AWS' validation and firing times (AWS documentation examples)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from nimbus.errors import ValidationError
from nimbus.protocol import schedule
from nimbus.protocol.schedule import Cron, next_fire, parse

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def fires(expression: str, after: dt.datetime, count: int) -> list[dt.datetime]:
    out: list[dt.datetime] = []
    for _ in range(count):
        found = next_fire(expression, after)
        assert found is not None
        out.append(found)
        after = found
    return out


VALID = [
    "rate(1 minute)",
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "rate(1 day)",
    "rate(7 days)",
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 0 L * ? *)",
    "cron(0 0 ? * 6L *)",
    "cron(0 0 1W * ? *)",
    "cron(0 0 LW * ? *)",
    "cron(0 0 ? * L *)",
    "cron(15 10 ? * 6L 2019-2022)",
    "cron(0 0 ? JAN-MAR 1,7 2024)",
    "cron(0 0 ? * sun *)",
    "cron(5,35 14 * * ? *)",
    "cron(*/5 * * * ? *)",
    "cron(0 0 1 1 ? 1970)",
    "cron(59 23 31 12 ? 2199)",
]

INVALID = [
    "",
    "every 5 minutes",
    "rate(5 minute)",
    "rate(1 minutes)",
    "rate(2 hour)",
    "rate(1 days)",
    "rate(0 minutes)",
    "rate(-1 minutes)",
    "rate(1.5 hours)",
    "rate(5 seconds)",
    "rate(2 weeks)",
    "rate(5minutes)",
    "rate(5  minutes)",
    "rate(5 Minutes)",
    "rate( 5 minutes)",
    "cron(0 10 * * ?)",
    "cron(0 10 * * ? * *)",
    "cron(0 10 * * * *)",
    "cron(0 10 ? * ? *)",
    "cron(0 10 1 * MON *)",
    "cron(60 10 * * ? *)",
    "cron(0 24 * * ? *)",
    "cron(0 0 0 * ? *)",
    "cron(0 0 32 * ? *)",
    "cron(0 0 * 0 ? *)",
    "cron(0 0 * 13 ? *)",
    "cron(0 0 ? * 0 *)",
    "cron(0 0 ? * 8 *)",
    "cron(0 0 * * ? 1969)",
    "cron(0 0 * * ? 2200)",
    "cron(0 0 ? * 2#6 *)",
    "cron(0 0 ? * 2#0 *)",
    "cron(0 0 ? * 8L *)",
    "cron(0 0 32W * ? *)",
    "cron(0/0 * * * ? *)",
    "cron(0 0 ? * FOO *)",
    "cron(0  10 * * ? *)",
    "cron(0 10-5 * * ? *)",
    "cron(a b c d e f)",
    "cron()",
    "cron(0 10 * * ? *",
]


@pytest.mark.parametrize("expression", VALID)
def test_valid(expression: str) -> None:
    schedule.validate(expression)


@pytest.mark.parametrize("expression", INVALID)
def test_invalid_with_aws_message(expression: str) -> None:
    with pytest.raises(ValidationError) as caught:
        schedule.validate(expression)
    assert caught.value.message == "Parameter ScheduleExpression is not valid."
    assert caught.value.code == "ValidationException"


def test_rate_periods() -> None:
    assert schedule.period_seconds("rate(1 minute)") == 60
    assert schedule.period_seconds("rate(5 minutes)") == 300
    assert schedule.period_seconds("rate(2 hours)") == 7200
    assert schedule.period_seconds("rate(3 days)") == 3 * 86400
    assert schedule.period_seconds("cron(0 10 * * ? *)") is None


def test_rate_is_anchored_at_creation() -> None:
    anchor = at(2024, 1, 1, 0, 0, 30)
    assert next_fire("rate(5 minutes)", at(2024, 1, 1, 0, 1), anchor) == at(2024, 1, 1, 0, 5, 30)
    assert next_fire("rate(5 minutes)", anchor, anchor) == at(2024, 1, 1, 0, 5, 30)
    assert next_fire("rate(5 minutes)", at(2024, 1, 1, 0, 5, 30), anchor) == at(
        2024, 1, 1, 0, 10, 30
    )
    assert next_fire("rate(1 hour)", at(2024, 1, 1, 7, 59), anchor) == at(2024, 1, 1, 8, 0, 30)
    assert next_fire("rate(1 day)", at(2024, 1, 1, 12)) == at(2024, 1, 2, 12)


# 2024-01-01 is a Monday.
@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 10 * * ? *)", at(2024, 1, 1, 10), [at(2024, 1, 2, 10), at(2024, 1, 3, 10)]),
        ("cron(15 12 * * ? *)", at(2024, 1, 1), [at(2024, 1, 1, 12, 15), at(2024, 1, 2, 12, 15)]),
        (
            "cron(0 18 ? * MON-FRI *)",
            at(2024, 1, 5, 18),  # Friday 18:00 -> Monday
            [at(2024, 1, 8, 18), at(2024, 1, 9, 18)],
        ),
        ("cron(0 8 1 * ? *)", at(2024, 1, 1, 9), [at(2024, 2, 1, 8), at(2024, 3, 1, 8)]),
        (
            "cron(0/15 * * * ? *)",
            at(2024, 1, 1, 0, 50),
            [at(2024, 1, 1, 1), at(2024, 1, 1, 1, 15), at(2024, 1, 1, 1, 30)],
        ),
        (
            "cron(0/10 * ? * MON-FRI *)",
            at(2024, 1, 5, 23, 55),  # Friday night -> Monday 00:00
            [at(2024, 1, 8, 0, 0), at(2024, 1, 8, 0, 10)],
        ),
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            at(2024, 1, 1, 17, 55),
            [at(2024, 1, 2, 8, 0), at(2024, 1, 2, 8, 5)],
        ),
        # the first Monday of the month
        ("cron(0 9 ? * 2#1 *)", at(2024, 1, 2), [at(2024, 2, 5, 9), at(2024, 3, 4, 9)]),
        ("cron(0 0 L * ? *)", at(2024, 1, 1), [at(2024, 1, 31), at(2024, 2, 29), at(2024, 3, 31)]),
        # the last Friday of the month
        ("cron(0 0 ? * 6L *)", at(2024, 1, 1), [at(2024, 1, 26), at(2024, 2, 23), at(2024, 3, 29)]),
        # the weekday nearest the 1st: 2022-10-01 is a Saturday -> Monday the 3rd
        ("cron(0 0 1W * ? *)", at(2022, 9, 15), [at(2022, 10, 3), at(2022, 11, 1)]),
        # the last weekday: 2024-03-31 is a Sunday -> Friday the 29th
        ("cron(0 0 LW * ? *)", at(2024, 3, 1), [at(2024, 3, 29), at(2024, 4, 30)]),
        # L alone in day-of-week: Saturday
        ("cron(0 0 ? * L *)", at(2024, 1, 1), [at(2024, 1, 6), at(2024, 1, 13)]),
        ("cron(0 0 ? * 1 *)", at(2024, 1, 1), [at(2024, 1, 7), at(2024, 1, 14)]),  # SUN = 1
        ("cron(0 0 ? * 7 *)", at(2024, 1, 1), [at(2024, 1, 6)]),  # SAT = 7
        ("cron(0 0 1 1 ? 2026,2030)", at(2024, 6, 1), [at(2026, 1, 1), at(2030, 1, 1)]),
        ("cron(30 6 29 2 ? *)", at(2024, 3, 1), [at(2028, 2, 29, 6, 30)]),
    ],
)
def test_next_fire(expression: str, after: dt.datetime, expected: list[dt.datetime]) -> None:
    assert fires(expression, after, len(expected)) == expected


def test_year_range_ends() -> None:
    assert next_fire("cron(0 0 1 1 ? 2025)", at(2025, 1, 1)) is None
    assert next_fire("cron(15 10 ? * 6L 2019-2022)", at(2023, 1, 1)) is None


def test_naive_datetimes_are_utc_and_seconds_round_up() -> None:
    assert next_fire("cron(0/15 * * * ? *)", dt.datetime(2024, 1, 1, 0, 0, 1)) == at(
        2024, 1, 1, 0, 15
    )


def _random_expression(rng: random.Random) -> str:
    minute = rng.choice(["0", "*/7", "5,35", "10-20/5", "59"])
    hour = rng.choice(["*", "0", "8-17", "0/6", "23"])
    month = rng.choice(["*", "2", "JAN-MAR", "1,6,12", "*/4"])
    year = rng.choice(["*", "2024-2026", "2025"])
    if rng.random() < 0.5:
        dom = rng.choice(["*", "1", "L", "15W", "1W", "31", "1-7", "29", "L"])
        return f"cron({minute} {hour} {dom} {month} ? {year})"
    dow = rng.choice(["*", "1", "MON-FRI", "2#1", "6L", "L", "7", "1,7", "SUN-TUE", "5#5"])
    return f"cron({minute} {hour} ? {month} {dow} {year})"


def test_croniter_translation_agrees_with_own_evaluator() -> None:
    rng = random.Random(4)
    for _ in range(300):
        expression = _random_expression(rng)
        parsed = parse(expression)
        assert isinstance(parsed, Cron)
        after = at(2023, 12, 20) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
        mine: dt.datetime | None = after
        theirs: dt.datetime | None = after
        for _ in range(5):
            assert mine is not None and theirs is not None
            mine = schedule._next_own(parsed, mine)
            theirs = next_fire(expression, theirs)
            assert mine == theirs, expression
            if mine is None:
                break
