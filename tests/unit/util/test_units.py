"""Sizes and durations read exactly as docker's go-units prints and parses them."""

from __future__ import annotations

import pytest

from pinnace._util.units import ago, bytes_size, from_human_size, human_duration, human_size, ram_in_bytes
from pinnace.errors import InvalidArgument


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (10, "10B"),
        (999, "999B"),
        (1000, "1kB"),
        (1024, "1.02kB"),
        (10000, "10kB"),
        (4_261_888, "4.26MB"),
        (120_000_000, "120MB"),
        (1_234_567_890, "1.23GB"),
        (999_999, "1e+03kB"),  # go's %.3g, as `docker images` really prints it
        (-1, "-1B"),
    ],
)
def test_human_size_is_docker_images_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_human_size_precision_four_is_go_units_human_size() -> None:
    assert human_size(2_746_000, precision=4) == "2.746MB"
    assert human_size(796_000, precision=4) == "796kB"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (45_056, "44KiB"),
        (17 * 1024**2, "17MiB"),
        (1.5 * 1024**3, "1.5GiB"),
    ],
)
def test_bytes_size_is_binary(size: float, text: str) -> None:
    assert bytes_size(size) == text


MINUTE, HOUR, DAY = 60, 3600, 86400
WEEK, MONTH, YEAR = 7 * DAY, 30 * DAY, 365 * DAY


@pytest.mark.parametrize(
    ("seconds", "text"),
    # go-units' own TestHumanDuration table
    [
        (0.45, "Less than a second"),
        (-5, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (3 * MINUTE, "3 minutes"),
        (35 * MINUTE + 40, "35 minutes"),
        (59 * MINUTE, "59 minutes"),
        (HOUR, "About an hour"),
        (HOUR + 29 * MINUTE, "About an hour"),
        (HOUR + 31 * MINUTE, "2 hours"),
        (3 * HOUR + 29 * MINUTE, "3 hours"),
        (3 * HOUR + 31 * MINUTE, "4 hours"),
        (DAY, "24 hours"),
        (DAY + 12 * HOUR, "36 hours"),
        (2 * DAY, "2 days"),
        (13 * DAY + 5 * HOUR, "13 days"),
        (2 * WEEK, "2 weeks"),
        (2 * WEEK + 4 * DAY, "2 weeks"),
        (4 * WEEK + 3 * DAY, "4 weeks"),
        (MONTH + 2 * WEEK, "6 weeks"),
        (2 * MONTH, "2 months"),
        (5 * MONTH + 2 * WEEK, "5 months"),
        (24 * MONTH, "24 months"),
        (24 * MONTH + 2 * WEEK, "2 years"),
        (3 * YEAR + 2 * MONTH, "3 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_ago() -> None:
    assert ago(1000.0, now=1000.0 + 2 * HOUR) == "2 hours ago"
    assert ago(1000.0, now=1000.5) == "Less than a second ago"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("32", 32),
        ("32b", 32),
        ("32B", 32),
        ("32k", 32 * 1024),
        ("32K", 32 * 1024),
        ("32kb", 32 * 1024),
        ("32Kib", 32 * 1024),
        ("32KIB", 32 * 1024),
        ("10m", 10 * 1024**2),
        ("10 MiB", 10 * 1024**2),
        ("1.5g", int(1.5 * 1024**3)),
        ("2t", 2 * 1024**4),
        ("1p", 1024**5),
        ("0.5k", 512),
        ("1.", 1),
    ],
)
def test_parse_size_is_ram_in_bytes(text: str, size: int) -> None:
    assert ram_in_bytes(text) == size


def test_parse_human_size_is_decimal() -> None:
    assert from_human_size("10MB") == 10_000_000
    assert from_human_size("1.5k") == 1500


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid size: ''"),
        ("m", "invalid size: 'm'"),
        ("-1", "invalid size: '-1'"),
        ("10x", "invalid suffix: 'x'"),
        ("10kx", "invalid suffix: 'kx'"),
        ("10kBx", "invalid suffix: 'kbx'"),  # go-units lowers the suffix before this check...
        ("10kBxx", "invalid suffix: 'kBxx'"),  # ...but not before the length check
        ("10ki", "invalid suffix: 'ki'"),
        ("10bb", "invalid suffix: 'bb'"),
        ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
        (" 10", 'strconv.ParseFloat: parsing " 10": invalid syntax'),
    ],
)
def test_parse_size_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ram_in_bytes(text)
    assert str(info.value) == message
