"""Salaries: amount range, currency and pay period, and the annualised range.

Annualisation assumes full-time work: 2080 hours (40 h x 52 weeks), 260 working days,
52 weeks or 12 months a year. Amounts in other currencies are compared in US dollars
using `USD_PER_UNIT`, fixed approximate rates (mid-2026) that are good enough for a
salary filter and keep the service free of any network dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PayPeriod = Literal["hour", "day", "week", "month", "year"]
PAY_PERIODS: tuple[PayPeriod, ...] = ("hour", "day", "week", "month", "year")
PERIODS_PER_YEAR: dict[str, float] = {
    "hour": 2080.0,
    "day": 260.0,
    "week": 52.0,
    "month": 12.0,
    "year": 1.0,
}
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CHF": 1.12,
    "CAD": 0.73,
    "AUD": 0.66,
    "NZD": 0.60,
    "JPY": 0.0067,
    "CNY": 0.14,
    "INR": 0.012,
    "SGD": 0.74,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "PLN": 0.25,
    "BRL": 0.18,
    "MXN": 0.055,
    "ZAR": 0.054,
}
CURRENCIES = tuple(USD_PER_UNIT)


class SalaryError(ValueError):
    """A salary that cannot be right (negative, max below min, unknown unit)."""


@dataclass(frozen=True, slots=True)
class Salary:
    """A pay range as stated: `minimum`/`maximum` per `period` in `currency`.

    Either bound may be missing, not both. `annual_min_usd`/`annual_max_usd` give the
    range per year in US dollars.
    """

    minimum: float | None
    maximum: float | None
    currency: str = "USD"
    period: PayPeriod = "year"

    def __post_init__(self) -> None:
        if self.minimum is None and self.maximum is None:
            raise SalaryError("a salary needs a minimum or a maximum")
        for bound in (self.minimum, self.maximum):
            if bound is not None and not (bound >= 0 and bound < 1e12):
                raise SalaryError(f"salary amount out of range: {bound}")
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and high < low:
            raise SalaryError(f"salary maximum {self.maximum} is below minimum {self.minimum}")
        if self.currency not in USD_PER_UNIT:
            known = ", ".join(CURRENCIES)
            raise SalaryError(f"unknown currency {self.currency!r}; known: {known}")
        if self.period not in PERIODS_PER_YEAR:
            known = ", ".join(PAY_PERIODS)
            raise SalaryError(f"unknown pay period {self.period!r}; known: {known}")

    @property
    def annual_min_usd(self) -> float:
        return to_annual_usd(self.bounds[0], self.currency, self.period)

    @property
    def annual_max_usd(self) -> float:
        return to_annual_usd(self.bounds[1], self.currency, self.period)

    @property
    def bounds(self) -> tuple[float, float]:
        """(minimum, maximum) per `period`, a missing bound taken from the other."""
        low = self.minimum if self.minimum is not None else self.maximum
        high = self.maximum if self.maximum is not None else self.minimum
        if low is None or high is None:  # __post_init__ refuses it
            raise SalaryError("a salary needs a minimum or a maximum")
        return low, high


def to_annual_usd(amount: float, currency: str = "USD", period: str = "year") -> float:
    """`amount` per `period` in `currency` -> US dollars per year."""
    try:
        return float(amount) * PERIODS_PER_YEAR[period] * USD_PER_UNIT[currency]
    except KeyError as exc:
        raise SalaryError(f"unknown currency or pay period: {currency!r} / {period!r}") from exc


_AMOUNT = r"\$?\s*(\d+(?:[.,]\d+)*)\s*([kK])?"
_RANGE = re.compile(_AMOUNT + r"(?:\s*(?:-|–|to)\s*" + _AMOUNT + r")?")
_PERIOD_WORDS = {
    "hour": ("per hour", "/hr", "/hour", "an hour", "hourly"),
    "day": ("per day", "/day", "daily"),
    "week": ("per week", "/week", "weekly"),
    "month": ("per month", "/month", "/mo", "monthly"),
    "year": ("per year", "/year", "/yr", "annually", "a year"),
}


def parse_salary_text(text: str | None) -> Salary | None:
    """Parse a posted salary string; None when it states no salary.

    >>> parse_salary_text("$53K-$91K (Glassdoor est.)")
    Salary(minimum=53000.0, maximum=91000.0, currency='USD', period='year')
    >>> parse_salary_text("$17-$24 Per Hour(Glassdoor est.)").annual_max_usd
    49920.0
    >>> parse_salary_text("-1") is None
    True
    """
    if text is None:
        return None
    raw = str(text).strip()
    if raw in {"", "-1", "NA", "N/A", "nan", "None"}:
        return None
    lowered = raw.lower()
    period: PayPeriod = "year"
    for name, words in _PERIOD_WORDS.items():
        if any(w in lowered for w in words):
            period = name  # type: ignore[assignment]
            break
    # The amounts follow the last ':' ("Employer Provided Salary:$150K-$160K").
    body = raw.split(":")[-1]
    match = _RANGE.search(body)
    if not match:
        return None
    low = _amount(match.group(1), match.group(2))
    high = _amount(match.group(3), match.group(4)) if match.group(3) else low
    if match.group(3) and match.group(4) and not match.group(2):
        low *= 1000.0  # "$53-$91K": the K applies to both ends
    currency = "USD"
    for code in CURRENCIES:
        if code in raw.upper():
            currency = code
            break
    if "£" in raw:
        currency = "GBP"
    elif "€" in raw:
        currency = "EUR"
    return Salary(minimum=low, maximum=high, currency=currency, period=period)


def _amount(number: str, thousands: str | None) -> float:
    value = float(number.replace(",", ""))
    return value * 1000.0 if thousands else value
