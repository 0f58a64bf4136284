"""Quantity parsing: round-trips, unit conversions, one-line errors."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.errors import UsageError
from advisor.units import parse_energy_mj, parse_percent, parse_size_bytes, parse_time_ms

finite = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(finite)
def test_time_round_trip(x):
    assert parse_time_ms(f"{x!r}ms") == pytest.approx(x)
    assert parse_time_ms(f"{x!r}s") == pytest.approx(x * 1000)


@given(finite)
def test_energy_and_size_round_trip(x):
    assert parse_energy_mj(f"{x!r} mJ") == pytest.approx(x)
    assert parse_energy_mj(f"{x!r}J") == pytest.approx(1000 * x)
    assert parse_size_bytes(f"{x!r}MB") == pytest.approx(1e6 * x)
    assert parse_size_bytes(f"{x!r}KiB") == pytest.approx(1024 * x)


@pytest.mark.parametrize("text, value", [("50ms", 50), ("0.2s", 200), ("300us", 0.3), ("1e3ms", 1000)])
def test_time_examples(text, value):
    assert parse_time_ms(text) == pytest.approx(value)


def test_percent():
    assert parse_percent("1%") == 1.0
    assert parse_percent("0.5") == 0.5


@pytest.mark.parametrize("parser, text", [(parse_time_ms, "50"), (parse_time_ms, "fast"), (parse_time_ms, "50 parsecs"),
                                          (parse_size_bytes, "-1MB"), (parse_energy_mj, "nanJ"), (parse_percent, "1 %%")])
def test_bad_quantities(parser, text):
    with pytest.raises(UsageError) as info:
        parser(text)
    assert "\n" not in str(info.value) and text.strip() in str(info.value)


@given(st.text(max_size=20))
def test_parsers_never_raise_anything_else(text):
    for parser in (parse_time_ms, parse_energy_mj, parse_size_bytes, parse_percent):
        try:
            assert parser(text) >= 0
        except UsageError:
            pass
