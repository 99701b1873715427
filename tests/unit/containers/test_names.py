"""Docker's container name generator, name grammar and IDs."""

from __future__ import annotations

import pytest

from pinnace.containers import names
from pinnace.errors import Conflict, InvalidArgument


def split(name: str) -> tuple[str, str, str]:
    left, _, rest = name.partition("_")
    surname = rest.rstrip("0123456789")
    return left, surname, rest[len(surname) :]


def test_generated_names_are_adjective_underscore_surname() -> None:
    for _ in range(300):
        left, surname, digits = split(names.random_name())
        assert left in names._LEFT
        assert surname in names._RIGHT
        assert digits == ""


def test_retries_append_one_digit() -> None:
    for retry in (1, 5):
        for _ in range(100):
            _, surname, digits = split(names.random_name(retry))
            assert surname in names._RIGHT
            assert len(digits) == 1


def test_word_lists_are_dockers() -> None:
    assert (len(names._LEFT), len(names._RIGHT)) == (108, 236)
    assert {"admiring", "zen", "boring"} <= set(names._LEFT)
    assert {"agnesi", "turing", "wozniak", "zhukovsky"} <= set(names._RIGHT)
    assert len(set(names._LEFT)) == len(names._LEFT) and len(set(names._RIGHT)) == len(names._RIGHT)
    for word in names._LEFT + names._RIGHT:  # every generated name passes docker's grammar
        assert word.isalpha() and word.islower()


def test_boring_wozniak_is_never_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    picks = iter([names._LEFT.index("boring"), names._RIGHT.index("wozniak"), 0, 0])
    monkeypatch.setattr(names, "_below", lambda n: next(picks))
    assert names.random_name() == f"{names._LEFT[0]}_{names._RIGHT[0]}"


def test_generate_retries_with_a_digit_on_conflict() -> None:
    seen: list[str] = []

    def exists(name: str) -> bool:
        seen.append(name)
        return len(seen) < 3  # the first two are taken

    name = names.generate(exists)
    assert seen[-1] == name and len(seen) == 3
    assert split(seen[0])[2] == ""  # the first attempt has no suffix
    assert len(split(name)[2]) == 1


def test_generate_falls_back_to_the_short_id_after_six_attempts() -> None:
    calls: list[str] = []

    def taken(name: str) -> bool:
        calls.append(name)
        return True

    cid = names.new_id()
    assert names.generate(taken, fallback=cid) == cid[:12]
    assert len(calls) == names.NAME_ATTEMPTS == 6
    with pytest.raises(Conflict):
        names.generate(lambda _: True)


@pytest.mark.parametrize("name", ["ab", "/ab", "web-1", "a.b_c-d", "0x", "A9"])
def test_valid_names(name: str) -> None:
    assert names.validate(name) == name.removeprefix("/")


@pytest.mark.parametrize(
    "name", ["a", "/a", "", "/", "-ab", "_ab", ".ab", "a b", "a/b", "//ab", "ab\n", "ünï"]
)
def test_invalid_names_in_dockers_words(name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        names.validate(name)
    assert str(err.value) == f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"


def test_new_id_is_64_hex_and_never_an_all_digit_short_id(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = names.new_id()
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    draws = iter([bytes.fromhex("123456789012" + "ab" * 26), bytes.fromhex("12345678901a" + "cd" * 26)])
    monkeypatch.setattr(names.os, "urandom", lambda n: next(draws))
    assert names.new_id() == "12345678901a" + "cd" * 26
    assert names.short_id(cid) == cid[:12]
