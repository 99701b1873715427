"""Go's strconv as docker's messages show it."""

from __future__ import annotations

import os

import pytest

from pinnace._util.golang import atoi, is_digits, json_text, parse_bool, parse_float, quote
from pinnace.errors import InvalidArgument


def test_quote_like_strconv_quote() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("tab\there\n") == '"tab\\there\\n"'
    assert quote("\x01\x7f") == '"\\x01\\x7f"'
    assert quote("é") == '"é"'


@pytest.mark.parametrize("text", ["1", "1.5", ".5", "5.", "-2", "1e3", "+1E-2"])
def test_parse_float_accepts_go_decimals(text: str) -> None:
    assert parse_float(text) == float(text)


@pytest.mark.parametrize("text", ["", " 1", "1_0", "nan", "inf", "1e", "1.2.3", "٣"])
def test_parse_float_refuses_what_go_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument, match="strconv.ParseFloat: parsing .*: invalid syntax"):
        parse_float(text)


def test_atoi_and_parse_bool() -> None:
    assert atoi("-12") == -12
    with pytest.raises(InvalidArgument, match='strconv.Atoi: parsing "1x": invalid syntax'):
        atoi("1x")
    with pytest.raises(InvalidArgument, match="value out of range"):
        atoi(str(2**63))
    assert parse_bool("T") is True and parse_bool("false") is False
    with pytest.raises(InvalidArgument, match='strconv.ParseBool: parsing "yes": invalid syntax'):
        parse_bool("yes")
    assert is_digits("123") and not is_digits("") and not is_digits("١٢")


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        (b"plain", "plain"),
        ("caf\u00e9 \u2713".encode(), "caf\u00e9 \u2713"),
        (b"a\xffb", "a\ufffdb"),
        (b"\xfe\xfd", "\ufffd\ufffd"),
    ],
)
def test_json_text_replaces_what_is_not_utf8_as_go_does(raw: bytes, sent: str) -> None:
    assert json_text(os.fsdecode(raw)) == sent
