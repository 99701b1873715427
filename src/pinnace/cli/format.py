"""docker's ``--format`` for listings, and tables laid out like Go's tabwriter.

Users pass docker-style formats to ``images``, ``ps``, ``inspect`` and the
rest, and scripts read what comes out, so both halves follow docker/cli
exactly rather than approximately:

* :func:`render` applies docker's formatter rules: ``table`` and ``table
  TMPL`` get a header row and tabwriter columns (minwidth 10, padding 3),
  ``json`` is ``{{json .}}`` per line, anything else is the template per row.
* :func:`tabwrite` is Go's text/tabwriter as docker configures it.

This module is on the path of every listing command, so it imports nothing
heavy: a format made only of text and ``{{.Field}}`` over rows of strings
(every default table) is filled in by plain string operations, and only
anything else loads the Go template engine, :mod:`pinnace.cli.gotemplate`
(which also provides :class:`Template` and :func:`parse`, re-exported here
on first use).
"""

from __future__ import annotations

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from pinnace.cli.gotemplate import Template, parse
    from pinnace.cli.main import Context

__all__ = ["Template", "TemplateError", "parse", "render", "tabwrite", "write_inspected"]


class TemplateError(InvalidArgument):
    """A format docker would refuse to parse or fail to execute; the message is docker's."""


def __getattr__(name: str) -> object:
    """``Template`` and ``parse`` come from the engine, loaded only when asked for."""
    if name in ("Template", "parse"):
        from pinnace.cli import gotemplate

        return getattr(gotemplate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def render(rows: Iterable[Any], fmt: str | None, *, default_table: str, headers: Mapping[str, str]) -> str:
    """Format ``rows`` for a listing command exactly as docker's formatter would.

    ``fmt`` is the user's ``--format``: None/"" or "table" mean
    ``default_table`` (the command's ``table {{.A}}\\t{{.B}}`` format);
    ``table TMPL`` adds a header row (``headers`` maps each field to its
    column title) and aligns columns; ``json`` prints one JSON object per row;
    anything else is the template per row.  Literal ``\\t`` and ``\\n`` in the
    format are tabs and newlines, as docker un-escapes them.  Every row ends
    with a newline.
    """
    source = fmt or default_table
    if source == "table":
        source = default_table
    is_table = source.startswith("table")
    if is_table:
        source = source[len("table") :]
    elif source == "json":
        source = "{{json .}}"
    source = source.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    rows = list(rows)
    filled = _render_simple(source, rows, headers if is_table else None)
    if filled is not None:
        header, lines = filled
    else:
        from pinnace.cli.gotemplate import Template

        template = Template(source)
        lines = [template.execute(row) for row in rows]
        header = template.execute_header(headers) if is_table else ""
    body = "".join(line + "\n" for line in lines)
    if not is_table:
        return body
    return tabwrite(header + "\n" + body)


# --------------------------------------------------------------------------- fast path

_SPACE = " \t\r\n"  # what the template lexer skips inside an action


def _simple_parts(source: str) -> list[str] | None:
    """``[text, field, text, ..., field, text]`` if ``source`` is only text and ``{{.Field}}``s.

    None for anything else (functions, pipes, nested fields, trim markers,
    comments, unclosed actions...), which the engine must handle.  A field
    name is what the engine's lexer accepts: ASCII ``[A-Za-z_][A-Za-z0-9_]*``.
    """
    parts: list[str] = []
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            parts.append(source[pos:])
            return parts
        end = source.find("}}", start + 2)
        if end < 0:
            return None
        action = source[start + 2 : end].strip(_SPACE)
        name = action[1:]
        if action[:1] != "." or not (name.isascii() and name.isidentifier()):
            return None
        parts.append(source[pos:start])
        parts.append(name)
        pos = end + 2


def _fill(parts: list[str], row: object, missing: str | None) -> str | None:
    """``parts`` filled from the dict ``row``; None unless every field is a string there.

    A field ``row`` lacks is ``missing`` (the header row's ``<no value>``) or,
    when that is None, the engine's error to report.
    """
    if type(row) is not dict:  # a mapping of another kind may look fields up its own way
        return None
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        name = parts[i]
        value = row.get(name, missing)
        if not isinstance(value, str):
            return None
        out.append(value)
        out.append(parts[i + 1])
    return "".join(out)


def _render_simple(
    source: str, rows: list[Any], headers: Mapping[str, str] | None
) -> tuple[str, list[str]] | None:
    """(header, lines) rendered without the engine, or None if it is needed.

    Byte-identical to the engine for what it accepts: a string value prints
    as itself, and the header row shows a field's title or ``<no value>``.
    """
    parts = _simple_parts(source)
    if parts is None:
        return None
    header = ""
    if headers is not None:
        filled = _fill(parts, headers, "<no value>")
        if filled is None:
            return None
        header = filled
    lines: list[str] = []
    for row in rows:
        line = _fill(parts, row, None)
        if line is None:
            return None
        lines.append(line)
    return header, lines


# --------------------------------------------------------------------------- tabwriter


def _display_width(text: str) -> int:
    """Terminal columns of ``text`` (go-runewidth: wide East Asian 2, combining 0)."""
    if text.isascii():
        return len(text)
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


class _TabWriter:
    """Go's text/tabwriter (docker's copy) with padchar ' ' and no flags: elastic tabstops.

    A cell is text terminated by a tab; the text after a line's last tab is
    not part of any column.  A column is a run of consecutive lines that all
    have a cell there, and it is as wide as its widest cell plus ``padding``,
    but at least ``minwidth``.
    """

    def __init__(self, minwidth: int, padding: int) -> None:
        self.minwidth = minwidth
        self.padding = padding
        self.out: list[str] = []
        self.lines: list[list[tuple[str, int]]] = [[]]
        self.widths: list[int] = []

    def write(self, text: str) -> None:
        # Cells end at \t, \v, \n or \f; \v ends one as \t does, \f ends a line as \n does
        # and every column too.  The text after the last terminator is a cell if not empty.
        blocks = text.replace("\v", "\t").split("\f")
        last_block = len(blocks) - 1
        for b, block in enumerate(blocks):
            lines = block.split("\n")
            last_line = len(lines) - 1
            for n, text_line in enumerate(lines):
                cells = text_line.split("\t")
                ended = n < last_line or b < last_block
                if not ended and not cells[-1]:
                    cells.pop()
                line = self.lines[-1]
                line.extend((cell, _display_width(cell)) for cell in cells)
                if ended:
                    self.lines.append([])
                    # A line without tabs ends every column; a form feed always does.
                    if n == last_line or len(line) == 1:
                        self.flush()

    def flush(self) -> None:
        self._format(0, len(self.lines))
        self.lines = [[]]
        self.widths = []

    def _format(self, line0: int, line1: int) -> None:
        column = len(self.widths)
        this = line0
        while this < line1:
            if column >= len(self.lines[this]) - 1:
                this += 1
                continue
            self._write_lines(line0, this)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(self.lines[this]) - 1:
                width = max(width, self.lines[this][column][1] + self.padding)
                this += 1
            self.widths.append(width)
            self._format(line0, this)
            self.widths.pop()
            line0 = this
            this += 1
        self._write_lines(line0, line1)

    def _write_lines(self, line0: int, line1: int) -> None:
        last = len(self.lines) - 1
        for i in range(line0, line1):
            for j, (text, width) in enumerate(self.lines[i]):
                self.out.append(text)
                if j < len(self.widths):
                    self.out.append(" " * (self.widths[j] - width))
            if i != last:
                self.out.append("\n")


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated ``text`` as docker's tables do (tabwriter.NewWriter(out, 10, 1, 3, ' ', 0))."""
    writer = _TabWriter(minwidth, padding)
    writer.write(text)
    writer.flush()
    return "".join(writer.out)


def write_inspected(
    ctx: Context, refs: Sequence[str], fmt: str, lookup: Callable[[str], dict[str, Any]]
) -> int:
    """``volume inspect``/``network inspect``: each object's document as JSON, ``json`` or a template.

    A template is compiled before any lookup (docker exits 64 on a bad
    one); the objects found are printed first, then the daemon's errors
    for the others, and the exit code is 1 if there were any.
    """
    from pinnace._util import jsonc
    from pinnace.errors import PinnaceError

    template = None
    if fmt and fmt != "json":
        from pinnace.cli.gotemplate import Template

        try:
            template = Template(fmt)
        except TemplateError as e:
            ctx.stderr.write(f"{e}\n")
            return 64
    found: list[dict[str, Any]] = []
    out: list[str] = []
    errors: list[str] = []
    for ref in refs:
        try:
            doc = lookup(ref)
        except PinnaceError as e:
            errors.append(f"Error response from daemon: {e}")
            continue
        if template is None:
            found.append(doc)
            continue
        try:
            out.append(template.execute(doc) + "\n")
        except TemplateError as e:
            errors.append(str(e))
    if template is not None:
        ctx.stdout.write("".join(out) or "\n")
    elif fmt == "json":
        ctx.stdout.write(jsonc.dumps(found, compact=True) + "\n")
    else:
        ctx.stdout.write(jsonc.dumps(found, indent="    ") + "\n")
    if errors:
        ctx.stdout.flush()
        ctx.stderr.write("\n".join(errors) + "\n")
        return 1
    return 0
