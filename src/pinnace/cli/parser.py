"""argparse, made to behave like docker's flag parsing where users notice.

* a usage error prints docker's two lines and exits 125:
  ``unknown flag: --bogus`` / ``See 'pinnace images --help'.``
* boolean flags take an optional ``=true|false`` (``-H=false``, ``--no-trunc=true``)
  but never eat the next word, as Go's pflag does;
* repeatable options (``--filter``, ``--change``) collect into lists.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import NoReturn

from pinnace.errors import InvalidArgument


class UsageError(InvalidArgument):
    """A command line docker would refuse before doing anything (exit 125)."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


_TRUE = ("true", "1", "t", "yes")
_FALSE = ("false", "0", "f", "no")


class _DockerHelp(argparse.HelpFormatter):
    """Help laid out as docker's: ``Usage:  pinnace images [OPTIONS]`` and an Options section."""

    def add_usage(self, usage: str | None, actions: Iterable[argparse.Action],
                  groups: Iterable[argparse._MutuallyExclusiveGroup], prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix="Usage:  ")


class Parser(argparse.ArgumentParser):
    def __init__(self, command: str, summary: str, usage: str = "[OPTIONS]") -> None:
        super().__init__(
            prog=f"pinnace {command}",
            usage=f"pinnace {command} {usage}",
            description=summary,
            add_help=True,
            allow_abbrev=False,
            formatter_class=_DockerHelp,
        )
        self._optionals.title = "Options"
        self.command = command
        self._bools: dict[str, str] = {}  # option string -> dest

    def add_bool(self, *flags: str, help: str, default: bool = False, dest: str | None = None) -> None:
        action = self.add_argument(*flags, action="store_true", default=default, help=help, dest=dest)
        for flag in flags:
            self._bools[flag] = action.dest

    def add_list(self, *flags: str, help: str, metavar: str = "value", dest: str | None = None) -> None:
        self.add_argument(*flags, action="append", default=[], help=help, metavar=metavar, dest=dest)

    def parse(self, argv: Sequence[str]) -> argparse.Namespace:
        overrides: dict[str, bool] = {}
        rewritten: list[str] = []
        for i, token in enumerate(argv):
            if token == "--":
                rewritten.extend(argv[i:])
                break
            flag, sep, value = token.partition("=")
            if sep and flag in self._bools:
                if value.lower() in _TRUE:
                    overrides[self._bools[flag]] = True
                elif value.lower() in _FALSE:
                    overrides[self._bools[flag]] = False
                else:
                    self.error(
                        f'invalid argument "{value}" for "{flag}" flag: strconv.ParseBool: parsing '
                        f'"{value}": invalid syntax'
                    )
                continue
            rewritten.append(token)
        ns = self.parse_args(rewritten)
        for dest, value in overrides.items():
            setattr(ns, dest, value)
        return ns

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            word = message.split(": ", 1)[1].split()[0]
            message = (
                f"unknown flag: {word}"
                if word.startswith("-")
                else f'"{self.prog}" accepts no argument {word!r}'
            )
        raise UsageError(message, self.command)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.error(message.strip())
        raise SystemExit(status)


def filters(values: Sequence[str]) -> dict[str, list[str]]:
    """``--filter key=value`` (repeatable) into docker's filter map."""
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep:
            raise InvalidArgument("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(arg)
    return out
