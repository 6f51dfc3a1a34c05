from decimal import ROUND_CEILING, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.money import BadAmount, format_usd, nanos_to_usd, parse_usd, spent_and_left, usd_to_nanos


def test_prices_round_up_to_the_nano_dollar() -> None:
    assert usd_to_nanos(Decimal("0.0000000001")) == 1
    assert usd_to_nanos(Decimal("0.0004425")) == 442_500
    assert usd_to_nanos(Decimal(0)) == 0


@pytest.mark.parametrize(
    ("nanos", "shown"),
    [
        (0, "$0.00"),
        (450_000, "$0.00045"),
        (10_000_000, "$0.01"),
        (5_000_000_000, "$5.00"),
        (1_234_567_890_123, "$1,234.56"),
        (-450_000, "-$0.00045"),
    ],
)
def test_amounts_for_people_keep_two_significant_digits_below_a_cent(nanos: int, shown: str) -> None:
    assert format_usd(nanos) == shown


@pytest.mark.parametrize(
    ("typed", "nanos"), [("5", 5_000_000_000), ("$0.25", 250_000_000), ("0.000000001", 1)]
)
def test_parse_usd_accepts_plain_dollar_amounts(typed: str, nanos: int) -> None:
    assert parse_usd(typed) == nanos


@pytest.mark.parametrize(
    "typed", ["-1", "NaN", "inf", "abc", "", "1e3", "1.2.3", "0.0000000001", "1000001", "."]
)
def test_parse_usd_refuses_what_cannot_be_a_cap(typed: str) -> None:
    with pytest.raises(BadAmount):
        parse_usd(typed)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("9" * 40, f"'{'9' * 20}…' is more than the $1,000,000 limit"),  # beyond Decimal's precision
        ("1000000.0000000001", "more than nine decimals"),  # the real problem, not a rounded "$1,000,000.00"
        ("1000000.5", "'1000000.5' is more than the $1,000,000 limit"),
    ],
)
def test_parse_usd_names_the_real_problem(typed: str, reason: str) -> None:
    with pytest.raises(BadAmount) as refused:
        parse_usd(typed)
    assert reason in str(refused.value)


def test_a_cap_of_exactly_the_limit_is_accepted() -> None:
    assert parse_usd("1000000") == 1_000_000 * 10**9


@pytest.mark.parametrize(
    ("spent", "left", "shown"),
    [
        (0, 10**9, ("$0.00", "$1.00")),
        (603_000, 10**9 - 603_000, ("$0.00061", "$0.99939")),
        (11_300_000, 988_700_000, ("$0.012", "$0.988")),
        (333_333_333, 666_666_667, ("$0.34", "$0.66")),
        (999_500_000, 500_000, ("$0.9995", "$0.0005")),
        (6_000, 10**9 - 6_000, ("$0.000006", "$0.999994")),
        (10**9, 0, ("$1.00", "$0.00")),
        (2 * 10**9, -(10**9), ("$2.00", "$0.00")),  # over a lowered cap: nothing is left, not less
    ],
)
def test_spent_rounds_up_and_what_is_left_down_to_one_precision(
    spent: int, left: int, shown: tuple[str, str]
) -> None:
    assert spent_and_left(spent, left) == shown


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_spent_and_left_never_add_up_to_more_than_the_cap(spent: int, left: int) -> None:
    """Shown side by side they add up to the cap (spent + left) within one shown unit, and never to more
    than the cap as shown at that precision."""
    shown = spent_and_left(spent, left)
    shown_spent, shown_left = (Decimal(s.removeprefix("$").replace(",", "")) for s in shown)
    unit = Decimal(1).scaleb(-len(shown[0].partition(".")[2]))
    cap = nanos_to_usd(spent + left)
    assert cap - unit < shown_spent + shown_left <= cap.quantize(unit, rounding=ROUND_CEILING)
    assert shown_spent >= nanos_to_usd(spent) and shown_left <= nanos_to_usd(left)
