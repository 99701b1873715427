"""The Go text/template engine behind docker's ``--format`` (lexer, parser, executor, functions).

:mod:`pinnace.cli.format` renders the common ``{{.Field}}`` tables itself
and imports this module only for a format that needs the language, so that
listing commands do not pay for ``re`` and this parser at start-up.

:class:`Template` implements the text/template language docker exposes:
``{{.Field.Sub}}``, pipelines ``|``, ``( )``, variables, ``if``/``else if``/
``with``/``range``/``break``/``continue``, trim markers ``{{-``/``-}}``,
comments, Go's builtins (``and or not len index slice print printf println
eq ne lt le gt ge``) and docker's functions (``json split join title lower
upper pad truncate``).  Values are printed as Go's ``%v`` prints them.  A
template is parsed once and executed per row.

Rows are mappings (or objects: attributes and methods are looked up like a
Go struct's fields and methods).  A field a row does not have is an error,
as it is for docker's typed rows.  ``json`` of a mapping sorts its keys, as
Go's encoding of a map does (docker's ``--format json`` rows are maps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pinnace._util.golang import quote
from pinnace.cli.format import TemplateError

__all__ = ["Template", "parse"]

_PREFIX = "template parsing error: template: "
_MISSING: Any = object()  # "no piped value" / "no such attribute" (None is a value)


# --------------------------------------------------------------------------- nodes


class _Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _Field(_Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, names: tuple[str, ...]) -> None:
        super().__init__(pos)
        self.names = names


class _Var(_Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, name: str, names: tuple[str, ...]) -> None:
        super().__init__(pos)
        self.name = name
        self.names = names


class _Dot(_Node):
    __slots__ = ()


class _Nil(_Node):
    __slots__ = ()


class _Literal(_Node):
    __slots__ = ("value", "text")

    def __init__(self, pos: int, value: Any, text: str) -> None:
        super().__init__(pos)
        self.value = value
        self.text = text


class _Ident(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name


class _SubPipe(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: _Pipe) -> None:
        super().__init__(pos)
        self.pipe = pipe


class _Chain(_Node):
    __slots__ = ("node", "names")

    def __init__(self, pos: int, node: _Node, names: tuple[str, ...]) -> None:
        super().__init__(pos)
        self.node = node
        self.names = names


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, args: list[_Node]) -> None:
        super().__init__(pos)
        self.args = args


class _Pipe(_Node):
    __slots__ = ("decls", "assign", "cmds")

    def __init__(self, pos: int, decls: list[str], assign: bool, cmds: list[_Command]) -> None:
        super().__init__(pos)
        self.decls = decls
        self.assign = assign
        self.cmds = cmds


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: _Pipe) -> None:
        super().__init__(pos)
        self.pipe = pipe


class _Control(_Node):
    __slots__ = ("kind", "pipe", "body", "else_body")

    def __init__(self, pos: int, kind: str, pipe: _Pipe, body: list[_Node], else_body: list[_Node]) -> None:
        super().__init__(pos)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class _Jump(_Node):
    __slots__ = ("kind",)

    def __init__(self, pos: int, kind: str) -> None:
        super().__init__(pos)
        self.kind = kind


def _show(node: _Node) -> str:
    """Go's Node.String(): how an error names the node it happened at."""
    if isinstance(node, _Field):
        return "".join("." + n for n in node.names)
    if isinstance(node, _Var):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, _Dot):
        return "."
    if isinstance(node, _Nil):
        return "nil"
    if isinstance(node, _Literal):
        return node.text
    if isinstance(node, _Ident):
        return node.name
    if isinstance(node, _SubPipe):
        return "(" + _show(node.pipe) + ")"
    if isinstance(node, _Chain):
        return _show(node.node) + "".join("." + n for n in node.names)
    if isinstance(node, _Command):
        return " ".join(_show(a) for a in node.args)
    if isinstance(node, _Pipe):
        decl = ", ".join(node.decls) + (" = " if node.assign else " := ") if node.decls else ""
        return decl + " | ".join(_show(c) for c in node.cmds)
    return ""


# --------------------------------------------------------------------------- lexer

_SPACE = " \t\r\n"
_TOKEN_RE = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?))
    |(?P<dot>\.)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<declare>:=)
    |(?P<punct>[|(),=])""",
    re.VERBOSE,
)
_PUNCT = {"|": "pipe", "(": "lp", ")": "rp", ",": "comma", "=": "assign"}
_ESCAPE = r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)"
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SIMPLE_ESCAPES.update({"\\": "\\", '"': '"', "'": "'"})


class _Token:
    __slots__ = ("kind", "value", "pos", "spaced")

    def __init__(self, kind: str, value: Any, pos: int, spaced: bool = False) -> None:
        self.kind = kind
        self.value = value
        self.pos = pos
        self.spaced = spaced


class _ParseError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def _unquote(text: str, pos: int) -> str:
    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[esc]
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567" and len(esc) == 3:
            return chr(int(esc, 8))
        raise _ParseError(pos, f"invalid syntax: {text}")

    return re.sub(_ESCAPE, one, text[1:-1], flags=re.S)


def _number(text: str) -> int | float:
    body = text.lstrip("+-")
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", body):
        if len(body) > 1 and body[0] == "0" and body[1] not in "xX":
            value = int(body, 8)  # Go's legacy octal literal
        else:
            value = int(body, 0)
        return -value if text.startswith("-") else value
    return float(text)


def _space_at(src: str, i: int) -> bool:
    return i < len(src) and src[i] in _SPACE


def _lex(src: str) -> list[_Token]:
    """Split ``src`` into text and action tokens, applying trim markers and dropping comments."""
    tokens: list[_Token] = []
    pos = 0
    trim_next = False
    n = len(src)
    while True:
        start = src.find("{{", pos)
        text = src[pos:] if start < 0 else src[pos:start]
        left_trim = start >= 0 and src.startswith("-", start + 2) and _space_at(src, start + 3)
        if trim_next:
            text = text.lstrip(_SPACE)
        if left_trim:
            text = text.rstrip(_SPACE)
        if text:
            tokens.append(_Token("text", text, pos))
        if start < 0:
            tokens.append(_Token("eof", None, n))
            return tokens
        i = start + (4 if left_trim else 2)
        if src.startswith("/*", i):  # a comment must fill the whole action
            end = src.find("*/", i + 2)
            if end < 0:
                raise _ParseError(start, "unclosed comment")
            i = end + 2
            if src.startswith("}}", i):
                pos, trim_next = i + 2, False
            elif _space_at(src, i) and src.startswith("-}}", i + 1):
                pos, trim_next = i + 4, True
            else:
                raise _ParseError(start, "comment ends before closing delimiter")
            continue
        tokens.append(_Token("ld", None, start))
        spaced = True
        while True:
            if i >= n:
                raise _ParseError(start, "unclosed action")
            if src.startswith("}}", i):
                pos, trim_next = i + 2, False
                break
            m = _TOKEN_RE.match(src, i)
            if m is None:
                ch = src[i]
                if ch == '"':
                    raise _ParseError(i, "unterminated quoted string")
                if ch == "`":
                    raise _ParseError(i, "unterminated raw quoted string")
                raise _ParseError(i, f"unrecognized character in action: U+{ord(ch):04X} {ch!r}")
            kind = m.lastgroup
            value = m.group()
            i = m.end()
            if kind == "ws":
                if src.startswith("-}}", i):
                    pos, trim_next = i + 3, True
                    break
                spaced = True
                continue
            tok_pos = m.start()
            if kind == "punct":
                tokens.append(_Token(_PUNCT[value], value, tok_pos, spaced))
            elif kind == "string":
                tokens.append(_Token("literal", (_unquote(value, tok_pos), value), tok_pos, spaced))
            elif kind == "raw":
                tokens.append(_Token("literal", (value[1:-1], value), tok_pos, spaced))
            elif kind == "char":
                decoded = _unquote(value, tok_pos)
                if len(decoded) != 1:
                    raise _ParseError(tok_pos, f"malformed character constant: {value}")
                tokens.append(_Token("literal", (ord(decoded), value), tok_pos, spaced))
            elif kind == "number":
                if i < n and (src[i].isalnum() or src[i] == "_"):
                    raise _ParseError(tok_pos, f'bad number syntax: "{value}{src[i]}"')
                tokens.append(_Token("literal", (_number(value), value), tok_pos, spaced))
            else:
                tokens.append(_Token(str(kind), value, tok_pos, spaced))
            spaced = False
        tokens.append(_Token("rd", None, pos))


# --------------------------------------------------------------------------- parser

_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


class _Parser:
    def __init__(self, tokens: list[_Token], funcs: Mapping[str, Any]) -> None:
        self.tokens = tokens
        self.i = 0
        self.funcs = funcs
        self.vars: list[str] = ["$"]
        self.loops = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, kind: str, context: str) -> _Token:
        tok = self.next()
        if tok.kind != kind:
            raise _ParseError(tok.pos, f"unexpected {_describe(tok)} in {context}")
        return tok

    def parse(self) -> list[_Node]:
        nodes, stop = self.parse_list()
        if stop is not None:
            raise _ParseError(stop.pos, f"unexpected {{{{{stop.value}}}}}")
        return nodes

    def parse_list(self) -> tuple[list[_Node], _Token | None]:
        """Nodes up to EOF or an ``{{end}}``/``{{else``, which is returned (``end`` consumed whole)."""
        nodes: list[_Node] = []
        while True:
            tok = self.next()
            if tok.kind == "text":
                nodes.append(_Text(tok.pos, tok.value))
            elif tok.kind == "eof":
                return nodes, None
            else:  # "ld"
                head = self.peek()
                word = head.value if head.kind == "ident" else ""
                if word in ("end", "else"):
                    self.next()
                    if word == "end":
                        self.expect("rd", "end")
                    return nodes, head
                if word in ("if", "range", "with"):
                    self.next()
                    nodes.append(self.parse_control(word, head.pos))
                elif word in ("break", "continue"):
                    self.next()
                    if not self.loops:
                        raise _ParseError(head.pos, f"{{{{{word}}}}} outside {{{{range}}}}")
                    self.expect("rd", word)
                    nodes.append(_Jump(head.pos, word))
                elif word in ("define", "template", "block"):
                    raise _ParseError(head.pos, f"{{{{{word}}}}} is not supported")
                else:
                    pipe = self.parse_pipeline("command", "rd")
                    self.next()
                    nodes.append(_Action(head.pos, pipe))

    def parse_control(self, kind: str, pos: int) -> _Control:
        scope = len(self.vars)
        pipe = self.parse_pipeline(kind, "rd")
        self.next()
        self.loops += kind == "range"
        body, stop = self.parse_list()
        self.loops -= kind == "range"
        else_body: list[_Node] = []
        if stop is None:
            raise _ParseError(self.peek().pos, "unexpected EOF")
        if stop.value == "else":
            chained = self.peek()
            if kind != "range" and chained.kind == "ident" and chained.value == kind:
                # {{else if X}} is {{else}}{{if X}}...{{end}}{{end}} sharing the one {{end}}.
                self.next()
                else_body = [self.parse_control(kind, chained.pos)]
            else:
                self.expect("rd", "else")
                else_body, stop = self.parse_list()
                if stop is None:
                    raise _ParseError(self.peek().pos, "unexpected EOF")
                if stop.value == "else":
                    raise _ParseError(stop.pos, "expected end; found {{else}}")
        del self.vars[scope:]
        return _Control(pos, kind, pipe, body, else_body)

    def parse_pipeline(self, context: str, end: str) -> _Pipe:
        pos = self.peek().pos
        decls: list[str] = []
        assign = False
        tok = self.peek()
        if tok.kind == "var" and "." not in tok.value:
            names = [tok.value]
            ahead = 1
            if context == "range" and self.peek(1).kind == "comma" and self.peek(2).kind == "var":
                names.append(self.peek(2).value)
                ahead = 3
            op = self.peek(ahead).kind
            if op in ("declare", "assign"):
                self.i += ahead + 1
                assign = op == "assign"
                for name in names:
                    if assign and name not in self.vars:
                        raise _ParseError(tok.pos, f"undefined variable {name!r}".replace("'", '"'))
                    if not assign:
                        self.vars.append(name)
                decls = names
        cmds: list[_Command] = []
        while True:
            tok = self.peek()
            if tok.kind == end:
                break
            if tok.kind == "eof":
                raise _ParseError(tok.pos, "unclosed action")
            cmds.append(self.parse_command())
            tok = self.peek()
            if tok.kind == "pipe":
                self.next()
            elif tok.kind != end:
                raise _ParseError(tok.pos, f"unexpected {_describe(tok)} in {context}")
        if not cmds:
            raise _ParseError(pos, f"missing value for {context}")
        return _Pipe(pos, decls, assign, cmds)

    def parse_command(self) -> _Command:
        pos = self.peek().pos
        args: list[_Node] = []
        while self.peek().kind not in ("rd", "rp", "pipe", "eof"):
            args.append(self.parse_operand())
        if not args:
            raise _ParseError(pos, "missing value for command")
        return _Command(pos, args)

    def parse_operand(self) -> _Node:
        tok = self.next()
        node: _Node
        if tok.kind == "field":
            node = _Field(tok.pos, tuple(tok.value[1:].split(".")))
        elif tok.kind == "var":
            name, *names = tok.value.split(".")
            if name not in self.vars:
                raise _ParseError(tok.pos, f'undefined variable "{name}"')
            node = _Var(tok.pos, name, tuple(names))
        elif tok.kind == "dot":
            node = _Dot(tok.pos)
        elif tok.kind == "literal":
            node = _Literal(tok.pos, tok.value[0], tok.value[1])
        elif tok.kind == "ident":
            word = tok.value
            if word in ("true", "false"):
                node = _Literal(tok.pos, word == "true", word)
            elif word == "nil":
                node = _Nil(tok.pos)
            elif word in _KEYWORDS:
                raise _ParseError(tok.pos, f"unexpected <{word}> in command")
            elif word in self.funcs:
                node = _Ident(tok.pos, word)
            else:
                raise _ParseError(tok.pos, f'function "{word}" not defined')
        elif tok.kind == "lp":
            pipe = self.parse_pipeline("parenthesized pipeline", "rp")
            self.next()
            node = _SubPipe(tok.pos, pipe)
        else:
            raise _ParseError(tok.pos, f"unexpected {_describe(tok)} in operand")
        following = self.peek()
        if following.kind == "field" and not following.spaced:
            self.next()
            node = _Chain(node.pos, node, tuple(following.value[1:].split(".")))
        return node


def _describe(tok: _Token) -> str:
    if tok.kind == "rd":
        return '"}}"'
    if tok.kind == "eof":
        return "EOF"
    if tok.kind == "literal":
        return f"<{tok.value[1]}>"
    return f'"{tok.value}"' if isinstance(tok.value, str) else f"<{tok.kind}>"


# --------------------------------------------------------------------------- values


def _go_type(v: Any) -> str:
    """The Go type docker would have had for ``v``, for error messages."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    return type(v).__name__


def _truth(v: Any) -> bool:
    """Go template truth: false, 0, nil, and empty strings/slices/maps are false."""
    if v is None:
        return False
    if isinstance(v, bool | int | float | str | list | tuple | Mapping):
        return bool(v)
    return True


def _shortest(x: float) -> tuple[str, int]:
    """(digits, dp) of |x|'s shortest round-trip form: value = 0.DIGITS x 10**dp."""
    mant, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    dp = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def _format_float(x: float, *, json: bool = False) -> str:
    """Go's %v of a float64 (strconv 'g', shortest), or encoding/json's form of it."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if str(x).startswith("-") and not json else "0"
    sign = "-" if x < 0 else ""
    digits, dp = _shortest(x)
    exp = dp - 1
    use_e = (abs(x) < 1e-6 or abs(x) >= 1e21) if json else (exp < -4 or exp >= 6)
    if use_e:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        width = 1 if json else 2  # json trims e-07 to e-7
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):0{width}d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _fmt_v(v: Any, nested: bool = False) -> str:
    """Go's %v; at top level of an action a nil prints as ``<no value>``."""
    if v is None:
        return "<nil>" if nested else "<no value>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _format_float(v)
    if isinstance(v, list | tuple):
        return "[" + " ".join(_fmt_v(x, True) for x in v) + "]"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{_fmt_v(k, True)}:{_fmt_v(v[k], True)}" for k in _sorted_keys(v)) + "]"
    if hasattr(v, "__dataclass_fields__"):
        return "{" + " ".join(_fmt_v(value, True) for _, value in _dataclass_items(v)) + "}"
    return str(v)


def _dataclass_items(v: Any) -> list[tuple[str, Any]]:
    """A dataclass instance's fields in declaration order, as Go orders a struct's."""
    from dataclasses import fields

    return [(f.name, getattr(v, f.name)) for f in fields(v)]


def _sorted_keys(m: Mapping[Any, Any]) -> list[Any]:
    return sorted(
        m, key=lambda k: (not isinstance(k, int | float), k if isinstance(k, int | float) else str(k))
    )


def _json(v: Any) -> str:
    """docker's ``json`` function: Go's encoding/json, compact, without HTML escaping."""
    out: list[str] = []
    try:
        _json_into(v, out)
    except ValueError:  # NaN/Inf: Go's encoder fails and docker prints nothing
        return ""
    return "".join(out)


def _json_into(v: Any, out: list[str]) -> None:
    if v is None:
        out.append("null")
    elif isinstance(v, str):
        from json.encoder import encode_basestring

        # Go escapes U+2028/U+2029 (for JavaScript); Python's encoder does not.
        out.append(encode_basestring(v).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    elif isinstance(v, bool):
        out.append("true" if v else "false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("json: unsupported value")
        out.append(_format_float(v, json=True))
    elif isinstance(v, Mapping):
        out.append("{")
        for i, k in enumerate(_sorted_keys(v)):
            if i:
                out.append(",")
            _json_into(str(k), out)
            out.append(":")
            _json_into(v[k], out)
        out.append("}")
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _json_into(x, out)
        out.append("]")
    elif hasattr(v, "__dataclass_fields__") or hasattr(v, "json_fields"):
        # A struct: its fields in order; json_fields() gives them as Go's json tags name them.
        out.append("{")
        items = v.json_fields() if hasattr(v, "json_fields") else _dataclass_items(v)
        for i, (name, value) in enumerate(items):
            if i:
                out.append(",")
            _json_into(name, out)
            out.append(":")
            _json_into(value, out)
        out.append("}")
    else:
        _json_into(str(v), out)


# --------------------------------------------------------------------------- functions


class _ArgError(Exception):
    """A value of the wrong type for a function; the message stands alone."""


class _CallError(Exception):
    """A function failed; reported as ``error calling NAME: MSG``."""


def _want_str(v: Any) -> str:
    if not isinstance(v, str):
        raise _ArgError(f"wrong type for value; expected string; got {_go_type(v)}")
    return v


def _want_int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise _ArgError(f"wrong type for value; expected int; got {_go_type(v)}")
    return v


def _fn_split(s: Any, sep: Any) -> list[str]:
    s, sep = _want_str(s), _want_str(sep)
    return list(s) if sep == "" else s.split(sep)


def _fn_join(items: Any, sep: Any) -> str:
    if not isinstance(items, list | tuple):
        raise _ArgError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return _want_str(sep).join(_fmt_v(x, True) for x in items)


def _fn_title(s: Any) -> str:
    """strings.Title: upper-case the first letter of every word (the rest is kept)."""
    out = []
    prev = " "
    for ch in _want_str(s):
        if prev.isascii():
            separator = not (prev.isalnum() or prev == "_")
        else:
            separator = not (prev.isalpha() or prev.isdigit()) and prev.isspace()
        out.append(ch.upper() if separator and len(ch.upper()) == 1 else ch)
        prev = ch
    return "".join(out)


def _fn_pad(s: Any, prefix: Any, suffix: Any) -> str:
    text = _want_str(s)
    return text and " " * _want_int(prefix) + text + " " * _want_int(suffix)


def _fn_truncate(s: Any, length: Any) -> str:
    data = _want_str(s).encode()
    n = _want_int(length)
    return s if len(data) < n else data[:n].decode(errors="ignore")


def _fn_len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, list | tuple | Mapping):
        return len(v)
    raise _CallError(f"len of type {_go_type(v)}")


def _fn_index(item: Any, *indices: Any) -> Any:
    for idx in indices:
        if isinstance(item, Mapping):
            if not isinstance(idx, str | int | float | bool):
                raise _CallError(f"value has type {_go_type(idx)}; should be string")
            if idx in item:
                item = item[idx]
            else:  # the map's zero value: "" for a map of strings (labels), else nil
                item = "" if all(isinstance(x, str) for x in item.values()) else None
        elif isinstance(item, list | tuple | str):
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise _CallError(f"cannot index slice/array with type {_go_type(idx)}")
            if not 0 <= idx < len(item):
                raise _CallError(f"index out of range: {idx}")
            item = item[idx] if not isinstance(item, str) else item.encode()[idx]
        elif item is None:
            raise _CallError("index of untyped nil")
        else:
            raise _CallError(f"can't index item of type {_go_type(item)}")
    return item


def _fn_slice(item: Any, *indices: Any) -> Any:
    if not isinstance(item, list | tuple | str):
        raise _CallError(f"can't slice item of type {_go_type(item)}")
    if len(indices) > 2:
        raise _CallError(f"too many slice indexes: {len(indices)}")
    bounds = [_want_int(i) for i in indices]
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise _CallError(f"index out of range: {hi if hi > len(item) else lo}")
    return item[lo:hi]


def _fn_print(*args: Any) -> str:
    """fmt.Sprint: a space goes between operands when neither is a string."""
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_fmt_v(a, True))
    return "".join(out)


def _fn_println(*args: Any) -> str:
    return " ".join(_fmt_v(a, True) for a in args) + "\n"


_VERB = r"%([-+# 0]*)([0-9]+)?(?:\.([0-9]*))?(.?)"


def _fn_printf(fmt: Any, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: %v %s %q %d %x %X %o %b %c %t %e %f %g."""
    fmt = _want_str(fmt)
    out: list[str] = []
    pos = argi = 0
    while True:
        j = fmt.find("%", pos)
        if j < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:j])
        m = re.compile(_VERB, re.S).match(fmt, j)  # re caches the compiled pattern
        assert m is not None
        flags, width, prec, verb = m.groups()
        pos = m.end()
        if verb == "%":
            out.append("%")
        elif not verb:
            out.append("%!(NOVERB)")
        elif argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_format_verb(args[argi], flags, width, prec, verb))
            argi += 1
    if argi < len(args):
        extra = ", ".join(f"{_go_type(a)}={_fmt_v(a, True)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_verb(arg: Any, flags: str, width: str | None, prec: str | None, verb: str) -> str:
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "v":
        verb = "d" if is_int else "t" if isinstance(arg, bool) else "g" if isinstance(arg, float) else "s"
        if verb == "s" and not isinstance(arg, str):
            return _pad(_fmt_v(arg, True), flags, width)
    spec = "%" + flags + (width or "") + ("." + prec if prec is not None else "") + verb
    if verb == "s" and isinstance(arg, str | list | tuple | Mapping):
        text = arg if isinstance(arg, str) else _fmt_v(arg, True)
        return _pad(text[: int(prec or 0)] if prec is not None else text, flags, width)
    if verb == "q" and isinstance(arg, str):
        return _pad(quote(arg), flags, width)
    if verb == "q" and is_int:
        return _pad("'" + chr(arg) + "'", flags, width)
    if verb == "t" and isinstance(arg, bool):
        return _pad("true" if arg else "false", flags, width)
    if verb in "doxX" and is_int:
        return str(spec % arg)
    if verb == "b" and is_int:
        return _pad(format(arg, "b"), flags, width)
    if verb == "c" and is_int:
        return _pad(chr(arg), flags, width)
    if verb in "xX" and isinstance(arg, str):
        text = arg.encode().hex()
        return _pad(text.upper() if verb == "X" else text, flags, width)
    if verb in "eEfFgG" and isinstance(arg, float):
        if verb in "gG" and prec is None:
            text = _format_float(arg)
            sign = "+" if "+" in flags and arg >= 0 else " " if " " in flags and arg >= 0 else ""
            return _pad(sign + (text.upper() if verb == "G" else text), flags, width)
        return spec % arg
    shown = "<nil>" if arg is None else f"{_go_type(arg)}={_fmt_v(arg, True)}"
    return f"%!{verb}({shown})"


def _pad(text: str, flags: str, width: str | None) -> str:
    if not width or len(text) >= int(width):
        return text
    if "-" in flags:
        return text.ljust(int(width))
    return text.rjust(int(width), "0" if "0" in flags else " ")


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    kind_a, kind_b = _basic_kind(a), _basic_kind(b)
    if kind_a is None or kind_b is None:
        raise _CallError("invalid type for comparison")
    if kind_a != kind_b:
        raise _CallError("incompatible types for comparison")
    return a, b


def _basic_kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return None


def _fn_eq(a: Any, *others: Any) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    for b in others:
        if a is None or b is None:
            if a is b:
                return True
            continue
        x, y = _comparable(a, b)
        if x == y:
            return True
    return False


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        x, y = _comparable(a, b)
        if isinstance(x, bool):
            raise _CallError("invalid type for comparison")
        return op(x, y)

    return compare


#: name -> (function, min args, max args or None for variadic)
_FuncTable = dict[str, tuple[Callable[..., Any], int, int | None]]

_BASIC_FUNCS: _FuncTable = {
    # Go's builtins ("and"/"or" are evaluated lazily by the executor)
    "and": (lambda *a: a[-1], 1, None),
    "or": (lambda *a: a[-1], 1, None),
    "not": (lambda a: not _truth(a), 1, 1),
    "len": (_fn_len, 1, 1),
    "index": (_fn_index, 1, None),
    "slice": (_fn_slice, 1, None),
    "print": (_fn_print, 0, None),
    "printf": (_fn_printf, 1, None),
    "println": (_fn_println, 0, None),
    "eq": (_fn_eq, 1, None),
    "ne": (lambda a, b: not _fn_eq(a, b), 2, 2),
    "lt": (_ordered(lambda a, b: a < b), 2, 2),
    "le": (_ordered(lambda a, b: a <= b), 2, 2),
    "gt": (_ordered(lambda a, b: a > b), 2, 2),
    "ge": (_ordered(lambda a, b: a >= b), 2, 2),
    # docker/cli templates.basicFunctions
    "json": (_json, 1, 1),
    "split": (_fn_split, 2, 2),
    "join": (_fn_join, 2, 2),
    "title": (_fn_title, 1, 1),
    "lower": (lambda s: _want_str(s).lower(), 1, 1),
    "upper": (lambda s: _want_str(s).upper(), 1, 1),
    "pad": (_fn_pad, 3, 3),
    "truncate": (_fn_truncate, 2, 2),
}

# docker's HeaderFunctions: in the header row a column's function leaves the
# header name as it is ("REPOSITORY", not "repository" or its JSON); pad is kept
# so that padded columns stay aligned with their header.
_HEADER_FUNCS: _FuncTable = {
    **_BASIC_FUNCS,
    "json": (lambda v: _want_str(v), 1, 1),
    "split": (lambda v, _sep: _want_str(v), 2, 2),
    "join": (lambda v, _sep: _want_str(v), 2, 2),
    "title": (lambda v: _want_str(v), 1, 1),
    "lower": (lambda v: _want_str(v), 1, 1),
    "upper": (lambda v: _want_str(v), 1, 1),
    "truncate": (lambda v, _n: _want_str(v), 2, 2),
}


# --------------------------------------------------------------------------- executor


class _ExecError(Exception):
    def __init__(self, node: _Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, data: Any, funcs: _FuncTable, *, header: bool) -> None:
        self.funcs = funcs
        self.header = header
        self.vars: list[list[Any]] = [["$", data]]
        self.out: list[str] = []

    def walk(self, nodes: list[_Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decls:
                    self.out.append(_fmt_v(value))
            elif isinstance(node, _Control):
                mark = len(self.vars)
                if node.kind == "range":
                    self.walk_range(node, dot)
                else:
                    value = self.pipeline(dot, node.pipe)
                    if _truth(value):
                        self.walk(node.body, value if node.kind == "with" else dot)
                    else:
                        self.walk(node.else_body, dot)
                del self.vars[mark:]
            elif isinstance(node, _Jump):
                raise _Break() if node.kind == "break" else _Continue()

    def walk_range(self, node: _Control, dot: Any) -> None:
        value = self.commands(dot, node.pipe)
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, Mapping):
            items = [(k, value[k]) for k in _sorted_keys(value)]
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None:
            items = []
        else:
            raise _ExecError(node.pipe, f"range can't iterate over {_fmt_v(value, True)}")
        if not items:
            self.walk(node.else_body, dot)
            return
        decls = node.pipe.decls
        for key, elem in items:
            mark = len(self.vars)
            if len(decls) == 1:
                self.vars.append([decls[0], elem])
            elif len(decls) == 2:
                self.vars.append([decls[0], key])
                self.vars.append([decls[1], elem])
            try:
                self.walk(node.body, elem)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del self.vars[mark:]

    def pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value = self.commands(dot, pipe)
        for name in pipe.decls:
            if pipe.assign:
                self.var_slot(name, pipe)[1] = value
            else:
                self.vars.append([name, value])
        return value

    def commands(self, dot: Any, pipe: _Pipe) -> Any:
        value = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        return value

    def var_slot(self, name: str, node: _Node) -> list[Any]:
        for slot in reversed(self.vars):
            if slot[0] == name:
                found: list[Any] = slot
                return found
        raise _ExecError(node, f"undefined variable: {name}")  # pragma: no cover - parser checks

    def command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first, args = cmd.args[0], cmd.args[1:]
        if isinstance(first, _Field):
            return self.field_chain(dot, dot, first, first.names, args, final)
        if isinstance(first, _Chain):
            return self.field_chain(dot, self.arg(dot, first.node), first, first.names, args, final)
        if isinstance(first, _Var) and first.names:
            return self.field_chain(dot, self.var_slot(first.name, first)[1], first, first.names, args, final)
        if isinstance(first, _Ident):
            return self.function(dot, first, cmd, args, final)
        if isinstance(first, _Nil):
            raise _ExecError(first, "nil is not a command")
        if args or final is not _MISSING:
            raise _ExecError(first, f"can't give argument to non-function {_show(first)}")
        return self.arg(dot, first)

    def arg(self, dot: Any, node: _Node) -> Any:
        """The value of an operand used as an argument."""
        if isinstance(node, _Field):
            return self.field_chain(dot, dot, node, node.names, [], _MISSING)
        if isinstance(node, _Var):
            value = self.var_slot(node.name, node)[1]
            return self.field_chain(dot, value, node, node.names, [], _MISSING) if node.names else value
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Nil):
            return None
        if isinstance(node, _Ident):
            return self.function(dot, node, _Command(node.pos, [node]), [], _MISSING)
        if isinstance(node, _SubPipe):
            return self.pipeline(dot, node.pipe)
        if isinstance(node, _Chain):
            return self.field_chain(dot, self.arg(dot, node.node), node, node.names, [], _MISSING)
        raise _ExecError(node, f"can't handle {_show(node)}")  # pragma: no cover - parser bounds nodes

    def field_chain(
        self, dot: Any, receiver: Any, node: _Node, names: tuple[str, ...], args: list[_Node], final: Any
    ) -> Any:
        for name in names[:-1]:
            receiver = self.field(dot, receiver, name, node, [], _MISSING)
        return self.field(dot, receiver, names[-1], node, args, final)

    def field(self, dot: Any, receiver: Any, name: str, node: _Node, args: list[_Node], final: Any) -> Any:
        has_args = bool(args) or final is not _MISSING
        if receiver is None:
            return None  # Go: a field of a nil value is no value, not an error
        if isinstance(receiver, Mapping):
            if name in receiver:
                if has_args:
                    raise _ExecError(node, f"{name} is not a method but has arguments")
                return receiver[name]
            if self.header:
                return None
            raise _ExecError(node, f'map has no entry for key "{name}"')
        attr = _MISSING
        if not name.startswith("_") and not isinstance(receiver, str | int | float | list | tuple):
            attr = getattr(receiver, name, _MISSING)
        if attr is _MISSING:
            raise _ExecError(node, f"can't evaluate field {name} in type {_go_type(receiver)}")
        if callable(attr) and not isinstance(attr, type):
            argv = [self.arg(dot, a) for a in args] + ([final] if final is not _MISSING else [])
            try:
                return attr(*argv)
            except Exception as exc:  # a row method failing is the template's error
                raise _ExecError(node, f"error calling {name}: {exc}") from exc
        if has_args:
            raise _ExecError(node, f"{name} has arguments but cannot be invoked as function")
        return attr

    def function(self, dot: Any, ident: _Ident, cmd: _Command, args: list[_Node], final: Any) -> Any:
        name = ident.name
        fn, least, most = self.funcs[name]
        count = len(args) + (final is not _MISSING)
        if count < least or (most is not None and count > most):
            want = f"at least {least}" if most is None else str(least)
            raise _ExecError(cmd, f"wrong number of args for {name}: want {want} got {count}")
        if name in ("and", "or"):  # short-circuit, as Go >= 1.18
            value: Any = None
            for a in args:
                value = self.arg(dot, a)
                if _truth(value) != (name == "and"):
                    return value
            return final if final is not _MISSING else value
        argv = [self.arg(dot, a) for a in args]
        if final is not _MISSING:
            argv.append(final)
        try:
            return fn(*argv)
        except _ArgError as exc:
            raise _ExecError(cmd, str(exc)) from None
        except _CallError as exc:
            raise _ExecError(cmd, f"error calling {name}: {exc}") from None


# --------------------------------------------------------------------------- public API


class Template:
    """A parsed template, executed once per value (docker's ``templates.Parse``)."""

    __slots__ = ("source", "_nodes")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._nodes = _Parser(_lex(source), _BASIC_FUNCS).parse()
        except _ParseError as exc:
            raise TemplateError(f"{_PREFIX}:{self._line(exc.pos)}: {exc.message}") from None

    def _line(self, pos: int) -> int:
        return self.source.count("\n", 0, pos) + 1

    def execute(self, data: Any) -> str:
        """Render ``data``; an unknown field or failed function raises :class:`TemplateError`."""
        state = _Exec(data, _BASIC_FUNCS, header=False)
        try:
            state.walk(self._nodes, data)
        except _ExecError as exc:
            pos = exc.node.pos
            col = pos - (self.source.rfind("\n", 0, pos) + 1)
            context = _show(exc.node)
            if len(context) > 20:
                context = context[:20] + "..."
            where = f":{self._line(pos)}:{col}"
            raise TemplateError(f'{_PREFIX}{where}: executing "" at <{context}>: {exc.message}') from None
        return "".join(state.out)

    def execute_header(self, headers: Mapping[str, str]) -> str:
        """The header row: the template over the header names, with docker's header functions.

        As docker's, this never fails: a field without a header prints
        ``<no value>`` and an error ends the row where it happened.
        """
        state = _Exec(headers, _HEADER_FUNCS, header=True)
        try:
            state.walk(self._nodes, headers)
        except (_ExecError, _Break, _Continue):
            pass
        return "".join(state.out)


def parse(source: str) -> Template:
    """Parse a template as given (``docker inspect -f``: no ``table`` or ``\\t`` handling)."""
    return Template(source)
