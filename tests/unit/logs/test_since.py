"""``--since``/``--until`` as docker reads them: its client's GetTimestamp and its daemon's ParseTimestamps."""

from __future__ import annotations

import pytest

from pinnace._util.gotime import get_timestamp, parse_layout, parse_timestamps, since_arg
from pinnace.errors import InvalidArgument

NOW = 1704164645_123456789  # 2024-01-02T03:04:05.123456789Z
SEC = 1_000_000_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Go durations count back from now, to the second
        ("10m", "1704164045"),
        ("1h30m", "1704159245"),
        ("1.5s", "1704164643"),
        ("-1h", "1704168245"),  # the future: nothing is that new
        ("0s", "1704164645"),
        # RFC 3339 and its prefixes, with or without nanoseconds and zone
        ("2024-01-02T03:04:05Z", "1704164645.000000000"),
        ("2024-01-02T03:04:05.5Z", "1704164645.500000000"),
        ("2024-01-02T03:04:05.123456789123Z", "1704164645.123456789"),
        ("2024-01-02T04:04:05+01:00", "1704164645.000000000"),
        ("2024-01-02T02:34:05.25-00:30", "1704164645.250000000"),
        ("2024-01-02T03:04Z", "1704164640.000000000"),
        ("2024-01-02T03Z", "1704164400.000000000"),
        ("2024-01-02Z", "1704153600.000000000"),
        ("2024-01-02+01:00", "1704150000.000000000"),
        # no zone: local time (UTC here, see the test below for an offset)
        ("2024-01-02", "1704153600.000000000"),
        ("2024-01-02T03", "1704164400.000000000"),
        ("2024-01-02T03:04", "1704164640.000000000"),
        ("2024-01-02T03:04:05", "1704164645.000000000"),
        ("2024-01-02T03:04:05.000000001", "1704164645.000000001"),
        ("1969-12-31T23:59:59.5Z", "-1.500000000"),
        # unix timestamps pass as they are
        ("1704164645", "1704164645"),
        ("1704164645.5", "1704164645.5"),
        ("0", "0"),
    ],
)
def test_get_timestamp(value: str, expected: str) -> None:
    assert get_timestamp(value, NOW, local_offset=0) == expected


def test_local_time_is_the_zone_now() -> None:
    assert get_timestamp("2024-01-02T03:04:05", NOW, local_offset=3600) == "1704161045.000000000"
    assert get_timestamp("2024-01-02T03:04:05Z", NOW, local_offset=3600) == "1704164645.000000000"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", 'failed to parse value as time or duration: "x"'),
        ("1.", 'failed to parse value as time or duration: "1."'),
        ("2024/01/02", 'failed to parse value as time or duration: "2024/01/02"'),
        ("2013-13-01", 'parsing time "2013-13-01": month out of range'),
        ("2024-02-30", 'parsing time "2024-02-30": day out of range'),
        ("2024-01-02T25:00", 'parsing time "2024-01-02T25:00": hour out of range'),
        ("2024-01-02T03:60", 'parsing time "2024-01-02T03:60": minute out of range'),
        ("2024-1-02", 'parsing time "2024-1-02" as "2006-01-02": cannot parse "1-02" as "01"'),
        (
            "2024-01-02T03:04:05z",
            'parsing time "2024-01-02T03:04:05z" as "2006-01-02T15:04:05Z07:00": cannot parse "z" as "Z07:00"',
        ),
        ("2024-01-02 03:04", 'parsing time "2024-01-02 03:04": extra text: " 03:04"'),
        # GetTimestamp counts the zone's colon off: without one it picks the layout without seconds
        (
            "2024-01-02T03:04:05+0100",
            'parsing time "2024-01-02T03:04:05+0100" as "2006-01-02T15:04Z07:00": cannot parse ":05+0100" as "Z07:00"',
        ),
    ],
)
def test_errors_are_gos(value: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        get_timestamp(value, NOW, local_offset=0)
    assert str(err.value) == message


def test_since_arg_wraps_as_the_docker_client() -> None:
    with pytest.raises(InvalidArgument) as err:
        since_arg("until", "x", NOW)
    assert str(err.value) == 'invalid value for "until": failed to parse value as time or duration: "x"'
    assert since_arg("since", "1h", NOW) == "1704161045"


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("1704164645", 1704164645 * SEC),
        ("1704164645.5", 1704164645 * SEC + 500_000_000),
        ("1704164645.000000001", 1704164645 * SEC + 1),
        ("-1.500000000", -SEC + 500_000_000),  # what get_timestamp makes of 1969-12-31T23:59:59.5Z
        ("0", 0),
    ],
)
def test_parse_timestamps(value: str, ns: int) -> None:
    assert parse_timestamps(value) == ns


def test_parse_timestamps_errors() -> None:
    with pytest.raises(ValueError, match=r'^strconv.ParseInt: parsing "x": invalid syntax$'):
        parse_timestamps("x.5")
    with pytest.raises(ValueError, match=r'^strconv.ParseInt: parsing "": invalid syntax$'):
        parse_timestamps("1.")
    with pytest.raises(ValueError, match="value out of range"):
        parse_timestamps("99999999999999999999")


def test_parse_layout_round_trips_a_leap_day() -> None:
    assert parse_layout("2006-01-02T15:04:05Z07:00", "2000-02-29T00:00:00Z") == 951782400 * SEC
    with pytest.raises(ValueError, match="day out of range"):
        parse_layout("2006-01-02", "2001-02-29")
