"""Command-line flags parsed as docker's (spf13/pflag) parses them.

Not argparse: pflag's rules differ where users notice (``-H=false``, ``-aq``,
``-fvalue``, flags after arguments, its error words), and argparse with its
helpers costs ~5 ms of start-up that every command would pay.

A usage error raises :class:`UsageError`; the entry point prints docker's
two lines (``unknown flag: --bogus`` / ``See 'pinnace images --help'.``) and
exits 125.
"""

from __future__ import annotations

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

_TRUE = ("1", "t", "true", "yes")
_FALSE = ("0", "f", "false", "no")


class UsageError(InvalidArgument):
    """A command line docker would refuse before doing anything (exit 125)."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


class HelpRequested(Exception):
    """``-h``/``--help``: print the help text and exit 0."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Flag:
    __slots__ = ("name", "short", "kind", "default", "help", "metavar")

    def __init__(self, name: str, short: str, kind: str, default: object, help: str, metavar: str) -> None:
        self.name = name
        self.short = short
        self.kind = kind  # "bool" | "string" | "list"
        self.default = default
        self.help = help
        self.metavar = metavar


class Values:
    """Parsed flag values as attributes (``--no-trunc`` is ``.no_trunc``) plus the arguments."""

    def __init__(self, values: dict[str, object], args: list[str]) -> None:
        self._values = values
        self.args = args

    def __getattr__(self, name: str) -> object:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def has(self, name: str) -> bool:
        """Whether the command declares flag ``name`` (shared parsers of commands with different flag sets)."""
        return name in self._values

    def flag(self, name: str) -> bool:
        return bool(self._values[name])

    def value(self, name: str) -> str | None:
        value = self._values[name]
        return value if isinstance(value, str) else None

    def values(self, name: str) -> list[str]:
        value = self._values[name]
        return list(value) if isinstance(value, list) else []


class Flags:
    """The flags of one command, declared then parsed once."""

    def __init__(
        self, command: str, summary: str, usage: str = "[OPTIONS]", *, interspersed: bool = True
    ) -> None:
        self.command = command
        self.summary = summary
        self.usage = usage
        self.interspersed = interspersed
        self._flags: list[_Flag] = []
        self._long: dict[str, _Flag] = {}
        self._short: dict[str, _Flag] = {}

    def _add(self, name: str, short: str, kind: str, default: object, help: str, metavar: str) -> None:
        flag = _Flag(name, short, kind, default, help, metavar)
        self._flags.append(flag)
        self._long[name] = flag
        if short:
            self._short[short] = flag

    def add_bool(self, name: str, short: str = "", *, help: str, default: bool = False) -> None:
        self._add(name, short, "bool", default, help, "")

    def add_string(
        self, name: str, short: str = "", *, help: str, default: str | None = None, metavar: str = "string"
    ) -> None:
        self._add(name, short, "string", default, help, metavar)

    def add_list(self, name: str, short: str = "", *, help: str, metavar: str = "list") -> None:
        self._add(name, short, "list", None, help, metavar)

    # -- parsing -----------------------------------------------------------
    def parse(self, argv: Sequence[str], *, min_args: int = 0, max_args: int | None = None) -> Values:
        values: dict[str, object] = {
            f.name.replace("-", "_"): ([] if f.kind == "list" else f.default) for f in self._flags
        }
        args: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                args.extend(argv[i:])
                break
            if arg.startswith("--") and len(arg) > 2:
                name, eq, value = arg[2:].partition("=")
                if name == "help":
                    raise HelpRequested(self.help())
                flag = self._long.get(name)
                if flag is None:
                    self._fail(f"unknown flag: --{name}")
                if not eq and flag.kind != "bool":
                    if i >= len(argv):
                        self._fail(f"flag needs an argument: --{name}")
                    value, i = argv[i], i + 1
                self._set(values, flag, value if eq or flag.kind != "bool" else None, f"--{name}")
            elif arg.startswith("-") and len(arg) > 1:
                j = 1
                while j < len(arg):
                    ch = arg[j]
                    if ch == "h" and "h" not in self._short:
                        raise HelpRequested(self.help())
                    flag = self._short.get(ch)
                    if flag is None:
                        self._fail(f"unknown shorthand flag: '{ch}' in {arg}")
                    rest = arg[j + 1 :]
                    if flag.kind == "bool":
                        if rest.startswith("="):
                            self._set(values, flag, rest[1:], f"-{ch}")
                            break
                        self._set(values, flag, None, f"-{ch}")
                        j += 1
                        continue
                    if rest:
                        value = rest[1:] if rest.startswith("=") else rest
                    elif i < len(argv):
                        value, i = argv[i], i + 1
                    else:
                        self._fail(f"flag needs an argument: '{ch}' in -{ch}")
                    self._set(values, flag, value, f"-{ch}")
                    break
            else:
                args.append(arg)
                if not self.interspersed:
                    args.extend(argv[i:])
                    break
        self._check_count(len(args), min_args, max_args)
        return Values(values, args)

    def _set(self, values: dict[str, object], flag: _Flag, value: str | None, shown: str) -> None:
        key = flag.name.replace("-", "_")
        if flag.kind == "bool":
            if value is None or value.lower() in _TRUE:
                values[key] = True
            elif value.lower() in _FALSE:
                values[key] = False
            else:
                self._fail(
                    f'invalid argument "{value}" for "{shown}" flag: strconv.ParseBool: parsing "{value}": invalid syntax'
                )
        elif flag.kind == "list":
            current = values[key]
            assert isinstance(current, list)
            current.append(value)
        else:
            values[key] = value

    def _check_count(self, n: int, lo: int, hi: int | None) -> None:
        def plural(k: int) -> str:
            return f"{k} argument" + ("" if k == 1 else "s")

        if hi == lo and n != lo:
            self._fail(f'"pinnace {self.command}" requires exactly {plural(lo)}.', usage=True)
        if n < lo:
            self._fail(f'"pinnace {self.command}" requires at least {plural(lo)}.', usage=True)
        if hi is not None and n > hi:
            if hi == 0:
                self._fail(f'"pinnace {self.command}" accepts no arguments.', usage=True)
            self._fail(f'"pinnace {self.command}" requires at most {plural(hi)}.', usage=True)

    def _fail(self, message: str, *, usage: bool = False) -> NoReturn:
        if usage:
            message += f"\nSee 'pinnace {self.command} --help'.\n\nUsage:  pinnace {self.command} {self.usage}\n\n{self.summary}"
            raise UsageError(message, "")
        raise UsageError(message, self.command)

    # -- help --------------------------------------------------------------
    def help(self) -> str:
        lines = [f"Usage:  pinnace {self.command} {self.usage}", "", self.summary, ""]
        if self._flags:
            lines.append("Options:")
            specs = []
            for f in self._flags:
                head = f"-{f.short}, " if f.short else "    "
                head += f"--{f.name}" + (f" {f.metavar}" if f.kind != "bool" else "")
                text = f.help
                if f.kind == "bool" and f.default:
                    text += " (default true)"
                elif f.kind == "string" and f.default:
                    text += f' (default "{f.default}")'
                specs.append((head, text))
            width = max(len(h) for h, _ in specs)
            lines += [f"  {h.ljust(width)}   {t}" for h, t in specs]
        return "\n".join(lines) + "\n"
