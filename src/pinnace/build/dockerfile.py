"""Dockerfile parsing and word expansion, with BuildKit's dockerfile frontend as the reference.

Two layers, as in BuildKit: :func:`parse` turns the text into :class:`Instruction` records (the
line-level grammar: directives, comments, continuations, flags, JSON vs shell form, heredocs) and
checks each instruction the way BuildKit's ``instructions`` package does before anything runs, so a
typo fails the build at once with docker's words.  Variable expansion is *not* done here: it depends
on the build state (ARG/ENV values at that step), so the executor calls :func:`expand` /
:func:`expand_words` (BuildKit's shell lexer ``ProcessWord`` / ``ProcessWords``) when it runs a step.

Errors are :class:`DockerfileError` with one line ``<file>:<line>: <message>``; the messages are
BuildKit's for the same condition.  Whether a stage exists before an instruction ("no build stage in
current context") is the executor's check: ONBUILD triggers are parsed on their own, without FROM.
"""

from __future__ import annotations

import json
import re

from pinnace._util.golang import quote
from pinnace._util.record import record
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "Dockerfile",
    "DockerfileError",
    "Heredoc",
    "Instruction",
    "arg_pairs",
    "expand",
    "expand_words",
    "key_values",
    "parse",
    "split_from",
]


class DockerfileError(InvalidArgument):
    """A Dockerfile that docker would refuse to build, or a word its shell lexer refuses."""


@record
class Heredoc:
    """One ``<<NAME`` body attached to a RUN/COPY/ADD line.

    ``content`` is the body as written, each line with its newline (so a non-empty body ends in
    "\\n", as docker keeps it); for ``<<-`` the leading tabs are already stripped (docker strips them
    when it uses the body; doing it here once makes the content final and stripping is idempotent).
    """

    name: str
    content: str
    expand: bool
    chomp: bool


@record
class Instruction:
    """One logical instruction (continuations joined, comment lines inside it dropped)."""

    keyword: str
    args: tuple[str, ...]
    json: bool
    flags: tuple[tuple[str, str], ...]
    heredocs: tuple[Heredoc, ...]
    line: int
    end_line: int
    original: str
    onbuild: Instruction | None = None


@record
class Dockerfile:
    """A parsed Dockerfile: its instructions and what the directives at its top said."""

    instructions: tuple[Instruction, ...]
    escape: str
    syntax: str
    warnings: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------
# Tables

INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)

#: Instructions whose arguments may be a JSON array (BuildKit's parseMaybeJSON / parseMaybeJSONToList).
_JSON_FORM = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "ADD", "COPY", "VOLUME"})
#: Instructions whose line may open heredocs (BuildKit's heredocDirectives).
_HEREDOC_FORM = frozenset({"RUN", "COPY", "ADD"})

_STRING, _BOOL, _STRINGS = "string", "bool", "strings"
#: The flags each instruction accepts and their kinds (BuildKit's BFlags definitions): a string flag
#: needs ``=value``, a bool flag may stand alone, a strings flag may repeat.
_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS},
    "COPY": {
        "from": _STRING,
        "chown": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "parents": _BOOL,
        "exclude": _STRINGS,
    },
    "ADD": {
        "chown": _STRING,
        "chmod": _STRING,
        "checksum": _STRING,
        "link": _BOOL,
        "keep-git-dir": _BOOL,
        "unpack": _BOOL,
        "exclude": _STRINGS,
    },
    "HEALTHCHECK": {
        "interval": _STRING,
        "timeout": _STRING,
        "start-period": _STRING,
        "start-interval": _STRING,
        "retries": _STRING,
    },
}

_DIRECTIVES = frozenset({"escape", "syntax", "check"})


# Go's \s is ASCII-only; spell it out so Python's Unicode \s does not widen the match.
class _Lazy:
    """A regular expression compiled on first use: each costs about a millisecond to compile, and a
    command pays for what its imports compile (most Dockerfiles need few of these)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


_RE_DIRECTIVE = _Lazy(r"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
_RE_WHITESPACE = _Lazy(r"[\t\v\f\r ]+")
_RE_HEREDOC = _Lazy(r"^([0-9]*)<<(-?)([^<]*)$")
_RE_LEADING_TABS = _Lazy(r"^\t+", re.MULTILINE)
_RE_STAGE_NAME = _Lazy(r"^[a-z][a-z0-9_.-]*$")
_EOF = ""


def _is_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's isspace also counts the ASCII separators 0x1c-0x1f)."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


class _Error(Exception):
    """A message without a location; :func:`parse` adds ``file:line`` when it surfaces."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# ---------------------------------------------------------------------------------------------------
# The shell lexer (BuildKit's frontend/dockerfile/shell)


class _Words:
    """Word splitting that only splits on whitespace that came from unquoted text or expansions."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch) and self.in_word:
            if self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        elif not _is_space(ch):
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    """One pass over a word: quotes, escapes and ``$`` expansions, as BuildKit's shellWord does.

    ``raw_quotes``/``raw_escapes`` keep the quote and escape characters in the result and
    ``skip_unset`` leaves references to unset variables as written: the parser uses those modes to
    find heredoc words on a line without changing them.
    """

    def __init__(
        self,
        text: str,
        env: Mapping[str, str],
        escape: str,
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
    ) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch != _EOF:
            self.pos += 1
        return ch

    def process(self) -> tuple[str, list[str]]:
        try:
            return self._stop_on(_EOF, self.raw_escapes)
        except _Error as e:
            raise DockerfileError(f"failed to process {quote(self.text)}: {e.message}") from None

    def _stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            result: list[str] = []
            words = _Words()
            while self.peek() != _EOF:
                ch = self.peek()
                if stop != _EOF and ch == stop:
                    self.next()
                    return "".join(result), words.get()
                if ch == "$":
                    tmp = self._dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                elif ch == "'" or ch == '"':
                    tmp = self._single_quote() if ch == "'" else self._double_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                else:
                    ch = self.next()
                    if ch == self.escape:
                        if self.raw_escapes:
                            words.add_raw_char(ch)
                            result.append(ch)
                        ch = self.next()
                        if ch == _EOF:
                            break
                        words.add_raw_char(ch)
                    else:
                        words.add_char(ch)
                    result.append(ch)
            if stop != _EOF:
                raise _Error(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get()
        finally:
            self.raw_escapes = saved

    def _single_quote(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        result: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            result.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _Error("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def _double_quote(self) -> str:
        # Literal except $ expansions; the escape only escapes ", $ and itself (else it stays).
        result: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            result.append(ch)
        while True:
            peek = self.peek()
            if peek == _EOF:
                raise _Error("unexpected end of statement while looking for matching double-quote")
            if peek == '"':
                ch = self.next()
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if peek == "$":
                result.append(self._dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    result.append(ch)
                after = self.peek()
                if after == _EOF:
                    continue
                if after in ('"', "$", self.escape):
                    ch = self.next()
            result.append(ch)

    def _name(self) -> str:
        # A run of letters, digits and _; a leading digit run or one special parameter stands alone.
        name: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not name and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in "@*#?-$!0":
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def _get(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def _dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            if not found and self.skip_unset:
                return "$" + name
            return value

        self.next()  # the {
        peek = self.peek()
        if peek == _EOF:
            raise _Error("syntax error: missing '}'")
        if peek in ("{", "}", ":"):
            raise _Error("syntax error: bad substitution")
        name = self._name()
        ch = self.next()
        if ch == _EOF:
            # BuildKit reports this as an unsupported modifier of U+FFFD; say what is wrong instead.
            raise _Error("syntax error: missing '}'")
        chs = ch
        if ch == "}":
            value, found = self._get(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
        elif ch not in "+-?#%":
            raise _Error(f"unsupported modifier ({chs}) in substitution")
        try:
            word, _ = self._stop_on("}", ch in ("#", "%") and ch != _EOF)
        except _Error:
            if self.peek() == _EOF:
                raise _Error("syntax error: missing '}'") from None
            raise
        value, found = self._get(name)
        if self.skip_unset and not found:
            return "${" + name + chs + word + "}"
        if ch == "-":
            return word if not found or (null_is_unset and value == "") else value
        if ch == "+":
            return "" if not found or (null_is_unset and value == "") else word
        if ch == "?":
            if not found:
                raise _Error(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _Error(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            return _trim(word, value, suffix=ch == "%", greedy=greedy)
        raise _Error(f"unsupported modifier ({chs}) in substitution")

    def _replace(self, name: str) -> str:
        # ${var/pattern/replacement} (first match) and ${var//pattern/replacement} (all).
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self._stop_on("/", True)
        except _Error:
            if self.peek() == _EOF:
                raise _Error("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self._stop_on("}", True)
        except _Error:
            if self.peek() == _EOF:
                raise _Error("syntax error: missing '}'") from None
            raise
        value, found = self._get(name)
        if self.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = re.compile(_pattern_regex(pattern))
        count = 0 if replace_all else 1
        return regex.sub(lambda _m: replacement, value, count=count)


def _pattern_regex(pattern: str) -> str:
    """A shell pattern (``*``, ``?``, escapes; no bracket expressions, as BuildKit) as a regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue  # the escape only kept } or / from ending the ${}; not part of the pattern
            if nxt not in ("*", "?", "\\"):
                shown = nxt if nxt else "\ufffd"
                raise _Error(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'")
            out.append(re.escape(nxt))
            i += 1
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _trim(pattern: str, value: str, *, suffix: bool, greedy: bool) -> str:
    """${var#p} / ${var##p} (prefix) and ${var%p} / ${var%%p} (suffix): shortest or longest match."""
    regex = re.compile(_pattern_regex(pattern), re.DOTALL)
    n = len(value)
    if suffix:
        starts = range(n + 1) if greedy else range(n, -1, -1)
        for i in starts:
            if regex.fullmatch(value, i):
                return value[:i]
        return value
    ends = range(n, -1, -1) if greedy else range(n + 1)
    for j in ends:
        if regex.fullmatch(value, 0, j):
            return value[j:]
    return value


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Docker's shell-lexer ProcessWord: the word with quotes removed and variables expanded.

    ``'...'`` is literal, ``"..."`` expands ``$`` and honours escapes of ``"``, ``$`` and the escape
    itself; outside quotes the escape makes the next character literal.  ``$var``, ``${var}``,
    ``${var:-word}``, ``${var-word}``, ``${var:+word}``, ``${var+word}``, ``${var:?msg}``,
    ``${var?msg}``, ``${var#p}``, ``${var##p}``, ``${var%p}``, ``${var%%p}``, ``${var/p/r}`` and
    ``${var//p/r}``; unset variables expand to "".  The error message carries no location (the
    caller knows the instruction).
    """
    return _Lexer(word, env, escape).process()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Docker's ProcessWords: like :func:`expand`, split into words on unquoted whitespace.

    Whitespace that comes out of a variable's value splits too (as in docker), whitespace inside
    quotes or after the escape does not; empty words are dropped.
    """
    return _Lexer(text, env, escape).process()[1]


# ---------------------------------------------------------------------------------------------------
# Line-level helpers (BuildKit's frontend/dockerfile/parser)


def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (ENV/LABEL/ARG arguments)."""
    words: list[str] = []
    spaces, in_word, in_quote = 0, 1, 2
    phase = spaces
    quote = ""
    blank_ok = False
    buf: list[str] = []
    n = len(rest)
    pos = 0
    while pos <= n:
        ch = rest[pos] if pos < n else _EOF
        if phase == spaces:
            if pos == n:
                break
            if _is_space(ch):
                pos += 1
                continue
            phase = in_word
        if pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == in_word:
            if _is_space(ch):
                phase = spaces
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
            if ch == escape:
                if pos + 1 == n:
                    pos += 1  # an escape at the very end is dropped
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            buf.append(ch)
            ch = rest[pos]
        buf.append(ch)
        pos += 1
    return words


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """The leading ``--flag[=value]`` words (quotes and backslashes processed) and the rest.

    A lone ``--`` ends the flags.  The escape here is always backslash, as in BuildKit.
    """
    words: list[str] = []
    n = len(line)
    pos = 0
    while True:
        while pos < n and _is_space(line[pos]):
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        buf: list[str] = []
        blank_ok = False
        quote = ""
        while pos < n:
            ch = line[pos]
            if not quote:
                if _is_space(ch):
                    break
                if ch in ("'", '"'):
                    quote = ch
                    blank_ok = True
                    pos += 1
                    continue
            elif ch == quote:
                quote = ""
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    quote = ""
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
        word = "".join(buf)
        if pos >= n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            return "", words
        if word == "--":
            return line[pos:], words
        if blank_ok or word:
            words.append(word)


def _maybe_json(rest: str) -> list[str] | None:
    """The JSON array of strings ``rest`` is, or None for shell form.

    Like BuildKit (a streaming JSON decoder), only the first JSON value counts: text after the
    closing bracket is ignored.  An array holding anything but strings is an error, not shell form.
    """
    text = rest.lstrip()
    if not text.startswith("["):
        return None

    def no_constants(name: str) -> object:
        raise ValueError(name)  # Go's decoder has no NaN/Infinity: not JSON, so shell form

    try:
        value, _ = json.JSONDecoder(parse_constant=no_constants).raw_decode(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _Error("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _heredoc_from_word(word: str) -> Heredoc | None:
    """The heredoc a ``[n]<<[-]NAME`` word opens (content still empty), or None."""
    m = _RE_HEREDOC.match(word)
    if m is None or not m.group(3):
        return None
    rest = m.group(3)
    words = _Lexer(rest, {}, "\\", skip_unset=True).process()[1]
    if len(words) != 1:
        return None
    raw = _Lexer(rest, {}, "\\", raw_quotes=True, skip_unset=True).process()[1]
    if len(raw) != len(words):
        raise _Error(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=name, content="", expand=quotes == raw_quotes, chomp=m.group(2) == "-")


def _is_heredoc(word: str) -> bool:
    """Whether ``word`` opens a heredoc (BuildKit's MustParseHeredoc: a word it cannot lex does not)."""
    try:
        return _heredoc_from_word(word) is not None
    except (DockerfileError, _Error):
        return False


def _heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = _Lexer(line, {}, "\\", raw_quotes=True, raw_escapes=True, skip_unset=True).process()[1]
    except DockerfileError:
        return []  # BuildKit ignores a line it cannot lex here: no heredocs
    docs: list[Heredoc] = []
    for word in words:
        try:
            doc = _heredoc_from_word(word)
        except DockerfileError as e:
            raise _Error(e.message) from None
        if doc is not None:
            docs.append(doc)
    return docs


# ---------------------------------------------------------------------------------------------------
# The parser


class _Node:
    """An instruction before validation: flags still as written (``--name[=value]``)."""

    __slots__ = ("cmd", "flags", "rest", "args", "json", "original", "line", "end_line", "sub", "heredocs")

    def __init__(
        self, cmd: str, flags: list[str], rest: str, args: tuple[str, ...], json: bool, original: str,
        line: int, end_line: int, sub: _Node | None = None, heredocs: tuple[Heredoc, ...] = (),
    ) -> None:  # fmt: skip
        self.cmd = cmd
        self.flags = flags
        self.rest = rest
        self.args = args
        self.json = json
        self.original = original
        self.line = line
        self.end_line = end_line
        self.sub = sub
        self.heredocs = heredocs


def _new_node(line: str, start: int, end: int) -> _Node:
    """BuildKit's newNodeFromLine: keyword, flags, and the arguments in shell or JSON form."""
    stripped = line.strip()
    parts = _RE_WHITESPACE.split(stripped, maxsplit=1)
    cmd = parts[0]
    rest = ""
    flags: list[str] = []
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
    rest = rest.strip()
    keyword = cmd.upper()
    node = _Node(cmd, flags, rest, (rest,) if rest else (), False, line, start, end)
    if keyword not in INSTRUCTIONS:
        node.args = ()
    elif keyword in _JSON_FORM:
        array = _maybe_json(rest)
        if array is not None:
            node.args = tuple(array)
            node.json = True
    elif keyword == "HEALTHCHECK":
        type_and_cmd = rest.split(None, 1)
        if len(type_and_cmd) == 2:
            _maybe_json(type_and_cmd[1])  # only for its error; the executor parses the CMD form
    elif keyword == "ONBUILD" and rest:
        node.sub = _new_node(rest, start, end)
    return node


def _can_have_heredocs(node: _Node) -> bool:
    target = node.sub if node.cmd.upper() == "ONBUILD" and node.sub is not None else node
    return target.cmd.upper() in _HEREDOC_FORM and not target.json


class _Directives:
    """The parser directives: only in the comment lines at the very top of the file."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.syntax = ""
        self.syntax_line = 0
        self.done = False
        self.seen: set[str] = set()

    def check(self, token: str, line: int) -> None:
        if self.done:
            return
        m = _RE_DIRECTIVE.match(token)
        if m is None or m.group(1).lower() not in _DIRECTIVES:
            self.done = True
            return
        key, value = m.group(1).lower(), m.group(2)
        if key in self.seen:
            raise _Error(f"only one {key} parser directive can be used", line)
        self.seen.add(key)
        if key == "escape":
            if value not in ("`", "\\"):
                raise _Error(f"invalid escape token '{value}' does not match ` or \\", line)
            self.escape = value
        elif key == "syntax":
            self.syntax = value
            self.syntax_line = line

    def continued(self, line: str) -> tuple[str, bool]:
        """The line without its continuation escape, and whether the instruction ends here.

        The escape continues the line when it is the last non-blank character and not itself
        escaped (``foo\\\\`` ends the instruction with a literal backslash).
        """
        body = line.rstrip(" \t")
        if body.endswith(self.escape) and (len(body) == 1 or body[-2] != self.escape):
            return body[:-1], False
        return line, True


def _split_lines(text: str) -> list[str]:
    """The lines, each with its "\\n" (heredoc bodies keep line endings); only "\\n" splits."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip().startswith("#")


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse and check a Dockerfile as BuildKit would before building anything.

    Parse errors come first for the whole file (directives, JSON arrays, heredocs), then each
    instruction is checked in order (unknown instruction, argument counts, flags, names) - the same
    order docker reports them in.
    """
    try:
        nodes, directives, warnings = _scan(text, filename)
        instructions = tuple(_instruction(node, directives.escape) for node in nodes)
    except _Error as e:
        raise DockerfileError(f"{filename}:{e.line}: {e.message}") from None
    return Dockerfile(instructions, directives.escape, directives.syntax, tuple(warnings))


def _scan(text: str, filename: str) -> tuple[list[_Node], _Directives, list[str]]:
    d = _Directives()
    lines = _split_lines(text)
    nodes: list[_Node] = []
    warnings: list[str] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        if i == 0:
            raw = raw.removeprefix("\ufeff")
        i += 1
        start = i
        token = raw.rstrip("\r\n").lstrip()
        d.check(token, i)
        if token.startswith("#"):
            continue
        line, ended = d.continued(token)
        if ended and not line:
            continue
        empty_continuation = False
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            token = raw.rstrip("\r\n")
            d.check(token, i)
            if _is_comment(raw):
                continue
            if not token.strip():
                empty_continuation = True
                continue
            more, ended = d.continued(token)
            line += more
        if empty_continuation:
            warnings.append(
                f"{filename}:{start}: empty continuation lines will become errors in a future release"
            )
        try:
            node = _new_node(line, start, i)
            if _can_have_heredocs(node):
                docs: list[Heredoc] = []
                for doc in _heredocs_from_line(line):
                    body: list[str] = []
                    while True:
                        if i >= len(lines):
                            raise _Error("unterminated heredoc")
                        raw = lines[i]
                        i += 1
                        candidate = raw.rstrip("\r\n")
                        if doc.chomp:
                            candidate = candidate.lstrip("\t")
                        if candidate == doc.name:
                            break
                        body.append(raw)
                    content = "".join(body)
                    if doc.chomp:
                        content = _RE_LEADING_TABS.sub("", content)
                    docs.append(Heredoc(doc.name, content, doc.expand, doc.chomp))
                node.heredocs = tuple(docs)
                node.end_line = i
                if node.sub is not None:
                    node.sub.heredocs = node.heredocs
                    node.sub.end_line = i
        except _Error as e:
            e.line = start
            raise
        nodes.append(node)
    if d.syntax:
        warnings.insert(
            0, f"{filename}:{d.syntax_line}: the syntax directive is ignored (pinnace's builder is built in)"
        )
    if not nodes:
        raise _Error("file with no instructions", max(len(lines), 1))
    return nodes, d, warnings


# ---------------------------------------------------------------------------------------------------
# Per-instruction checks (BuildKit's frontend/dockerfile/instructions)


def _parse_flags(keyword: str, raw_flags: list[str]) -> tuple[tuple[str, str], ...]:
    """The flags as (name, value), refused as BuildKit's BFlags.Parse refuses them."""
    known = _FLAGS.get(keyword, {})
    used: set[str] = set()
    out: list[tuple[str, str]] = []
    for raw in raw_flags:
        body = raw[2:]
        name, eq, value = body.partition("=")
        kind = known.get(name)
        if kind is None:
            raise _Error(f"unknown flag: {name}")
        if name in used and kind != _STRINGS:
            raise _Error(f"duplicate flag specified: {name}")
        used.add(name)
        if kind == _BOOL:
            if eq and not value:
                raise _Error(f"missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise _Error(f"expecting boolean value for flag {name}, not: {value}")
        elif not eq:
            raise _Error(f"missing a value on flag: {name}")
        out.append((name, value))
    return tuple(out)


def _instruction(node: _Node, escape: str) -> Instruction:
    try:
        return _checked(node, escape)
    except _Error as e:
        e.line = node.line
        raise


def _checked(node: _Node, escape: str) -> Instruction:
    keyword = node.cmd.upper()
    if keyword not in INSTRUCTIONS:
        raise _Error(f"unknown instruction: {keyword}")
    if keyword == "HEALTHCHECK" and [w.upper() for w in node.rest.split(None, 1)[:1]] == ["NONE"]:
        # BuildKit does not look at the flags of HEALTHCHECK NONE; the executor refuses any.
        flags = tuple((f[2:].partition("=")[0], f[2:].partition("=")[2]) for f in node.flags)
    else:
        flags = _parse_flags(keyword, node.flags)
    inner: Instruction | None = None
    rest = node.rest
    if keyword in ("ENV", "LABEL"):
        _name_values(rest, keyword, escape)
    elif keyword == "ARG":
        _arg_words(rest, escape)
    elif keyword in ("MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL") and not rest:
        raise _Error(f"{keyword} requires exactly one argument")
    elif keyword in ("EXPOSE", "VOLUME") and not node.args:
        raise _Error(f"{keyword} requires at least one argument")
    elif keyword == "VOLUME" and node.json and any(not v.strip() for v in node.args):
        raise _Error("VOLUME specified can not be an empty string")
    elif keyword == "FROM":
        _from_words(rest)
    elif keyword in ("COPY", "ADD"):
        _check_sources(keyword, node)
    elif keyword == "SHELL":
        if not node.args:
            raise _Error("SHELL requires at least one argument")
        if not node.json:
            raise _Error("SHELL requires the arguments to be in JSON form")
    elif keyword == "HEALTHCHECK":
        _check_healthcheck(rest)
    elif keyword == "ONBUILD":
        if node.sub is None:
            raise _Error("ONBUILD requires at least one argument")
        trigger = node.sub.cmd.upper()
        if trigger == "ONBUILD":
            raise _Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise _Error(f"{trigger} isn't allowed as an ONBUILD trigger")
        inner = _checked(node.sub, escape)
    return Instruction(
        keyword=keyword,
        args=node.args,
        json=node.json,
        flags=flags,
        heredocs=node.heredocs,
        line=node.line,
        end_line=node.end_line,
        original=node.original,
        onbuild=inner,
    )


def _check_sources(keyword: str, node: _Node) -> None:
    words = list(node.args) if node.json else _RE_WHITESPACE.split(node.rest) if node.rest else []
    if len(words) < 2:
        raise _Error(
            f"{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        )
    if not node.json and _is_heredoc(words[-1]):
        raise _Error(f"{keyword} cannot accept a heredoc as a destination")


def _check_healthcheck(rest: str) -> None:
    words = rest.split(None, 1)
    if not words:
        raise _Error("HEALTHCHECK requires at least one argument")
    kind = words[0].upper()
    if kind == "NONE":
        if len(words) > 1:
            raise _Error("HEALTHCHECK NONE takes no arguments")
        return
    if kind != "CMD":
        raise _Error(f"Unknown type {quote(kind)} in HEALTHCHECK (try CMD)")
    command = words[1] if len(words) > 1 else ""
    array = _maybe_json(command)
    if not command or array == []:
        raise _Error("Missing command after HEALTHCHECK CMD")


def _from_words(rest: str) -> tuple[str, str]:
    args = _RE_WHITESPACE.split(rest) if rest else []
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _RE_STAGE_NAME.match(name):
            raise _Error(
                f"invalid name for build stage: {quote(args[2])}, name can't start with a number or contain symbols"
            )
        return args[0], name
    if len(args) != 1:
        raise _Error("FROM requires either one or three arguments")
    return args[0], ""


def _name_values(rest: str, keyword: str, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL: ``k=v k2="v 2"`` pairs, or the legacy ``KEY value with spaces`` (one pair)."""
    words = _parse_words(rest, escape)
    if not words:
        raise _Error(f"{keyword} requires at least one argument")
    pairs: list[tuple[str, str]] = []
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Error(f"{keyword} must have two arguments")
        pairs.append((parts[0], parts[1]))
    else:
        for word in words:
            if "=" not in word:
                raise _Error(f"Syntax error - can't find = in {quote(word)}. Must be of the form: name=value")
            key, _, value = word.partition("=")
            pairs.append((key, value))
    if any(not key for key, _ in pairs):
        raise _Error(f"{keyword} names can not be blank")
    return pairs


def _arg_words(rest: str, escape: str) -> list[tuple[str, str | None]]:
    words = _parse_words(rest, escape)
    if not words:
        raise _Error("ARG requires at least one argument")
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise _Error("ARG names can not be blank")
            pairs.append((key, value))
        else:
            pairs.append((word, None))
    return pairs


def _located(instruction: Instruction, e: _Error) -> DockerfileError:
    return DockerfileError(f"line {instruction.line}: {e.message}")


def key_values(instruction: Instruction, escape: str = "\\") -> list[tuple[str, str]]:
    """For ENV and LABEL: the (key, value) pairs, raw (not yet expanded, quotes kept for expand()).

    Both the ``KEY=VALUE KEY2="v 2"`` form and the legacy ``ENV KEY value with spaces`` form (one
    pair, the value the rest of the line).  ``escape`` is the Dockerfile's escape character: it
    decides which quotes and spaces are escaped when splitting the pairs.
    """
    if instruction.keyword not in ("ENV", "LABEL"):
        raise DockerfileError(f"line {instruction.line}: {instruction.keyword} has no key=value arguments")
    try:
        return _name_values(instruction.args[0] if instruction.args else "", instruction.keyword, escape)
    except _Error as e:
        raise _located(instruction, e) from None


def arg_pairs(instruction: Instruction, escape: str = "\\") -> list[tuple[str, str | None]]:
    """For ARG: each ``NAME`` (default None) or ``NAME=default`` (raw default), in order."""
    if instruction.keyword != "ARG":
        raise DockerfileError(f"line {instruction.line}: {instruction.keyword} is not ARG")
    try:
        return _arg_words(instruction.args[0] if instruction.args else "", escape)
    except _Error as e:
        raise _located(instruction, e) from None


def split_from(instruction: Instruction) -> tuple[str, str]:
    """FROM: (image, stage name lower-cased or "") from ``FROM image [AS name]``."""
    if instruction.keyword != "FROM":
        raise DockerfileError(f"line {instruction.line}: {instruction.keyword} is not FROM")
    try:
        return _from_words(instruction.args[0] if instruction.args else "")
    except _Error as e:
        raise _located(instruction, e) from None
