from decimal import Decimal

import pytest

from bot.money import BadAmount, format_usd, parse_usd, usd_to_nanos


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
