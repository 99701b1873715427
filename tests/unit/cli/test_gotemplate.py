"""The Go template engine behind --format: docker's language, values and error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pinnace.cli.format import TemplateError
from pinnace.cli.gotemplate import parse
from pinnace.errors import InvalidArgument


@dataclass
class Row:
    Name: str
    Labels: dict[str, str]

    def Label(self, key: str) -> str:  # noqa: N802 - a Go-style method, as docker's ps rows have
        return self.Labels.get(key, "")


def run(src: str, data: Any = None) -> str:
    return parse(src).execute(data)


@pytest.mark.parametrize(
    ("src", "out"),
    [
        ("plain text", "plain text"),
        ("{{.A}}-{{.B.C}}", "1-deep"),
        ("{{.}}", "map[A:1 B:map[C:deep] L:[x y z] M:map[k:v] N:<nil> T:true]"),
        ("{{.L}} {{.M}} {{.T}} {{.N}}", "[x y z] map[k:v] true <no value>"),
        ("{{json .}}", '{"A":1,"B":{"C":"deep"},"L":["x","y","z"],"M":{"k":"v"},"N":null,"T":true}'),
        ("{{json .L}} {{.L | json}} {{json .B.C}}", '["x","y","z"] ["x","y","z"] "deep"'),
        ('{{index .M "k"}}|{{index .M "missing"}}|{{index .L 1}}', "v||y"),
        ("{{len .L}} {{len .M}} {{len .B.C}}", "3 1 4"),
        (
            '{{join .L ", "}} {{split "a:b" ":"}} {{lower "AbC"}} {{upper "x"}} {{title "hello wORLD-foo"}}',
            "x, y, z [a b] abc X Hello WORLD-Foo",
        ),
        ('[{{pad "x" 1 2}}][{{pad "" 1 2}}] {{truncate "abcdef" 3}} {{truncate "ab" 3}}', "[ x  ][] abc ab"),
        ("{{if .T}}yes{{else}}no{{end}} {{if .N}}yes{{else}}no{{end}}", "yes no"),
        ("{{if eq .A 2}}two{{else if eq .A 1}}one{{else}}many{{end}}", "one"),
        ("{{if and .T .A}}a{{end}}{{if or .N .L}}b{{end}}{{if not .N}}c{{end}}", "abc"),
        ("{{with .B}}{{.C}}{{end}} {{with .N}}x{{else}}none{{end}}", "deep none"),
        ("{{range .L}}<{{.}}>{{end}}", "<x><y><z>"),
        ("{{range $i, $e := .L}}{{if $i}},{{end}}{{$i}}={{$e}}{{end}}", "0=x,1=y,2=z"),
        ("{{range $k, $v := .M}}{{$k}}:{{$v}}{{end}} {{range .N}}x{{else}}empty{{end}}", "k:v empty"),
        ('{{range .L}}{{if eq . "y"}}{{continue}}{{end}}{{if eq . "z"}}{{break}}{{end}}{{.}}{{end}}', "x"),
        ("{{range .L}}{{$.A}}{{end}}", "111"),
        ("{{$x := .A}}{{$x}} {{$x = 5}}{{$x}}", "1 5"),
        ("{{(index .L 0)}} {{(.B).C}}", "x deep"),
        ("a  {{- .A -}}  b", "a1b"),
        ("a {{/* a comment */}}b {{- /* trimmed */ -}} c", "a bc"),
        (
            '{{printf "%-4s|%4d|%q|%v|%x|%.2f|%t|%%" "ab" 42 "q" .L 255 3.14159 true}}',
            'ab  |  42|"q"|[x y z]|ff|3.14|true|%',
        ),
        ('{{printf "%d %s" "x"}}', "%!d(string=x) %!s(MISSING)"),
        ('{{print 1 2 "a" 3}}|{{println 1 "a"}}', "1 2a3|1 a\n"),
        ("{{1.5}} {{1e6}} {{123456.0}} {{json 3.0}} {{json 1e-7}}", "1.5 1e+06 123456 3 1e-7"),
        ('{{"\\t"}}{{`raw\\n`}}', "\traw\\n"),
        ('{{lt 1 2}} {{ge 1 2}} {{ne "a" "b"}} {{eq 1 2 1}}', "true false true true"),
        ('{{slice "abcdef" 1 3}} {{slice .L 1}}', "bc [y z]"),
    ],
)
def test_template_features(src: str, out: str) -> None:
    data = {"A": 1, "B": {"C": "deep"}, "L": ["x", "y", "z"], "M": {"k": "v"}, "N": None, "T": True}
    assert run(src, data) == out


def test_objects_expose_fields_and_methods() -> None:
    row = Row("web", {"com.example": "1"})
    assert (
        run('{{.Name}} {{.Label "com.example"}} {{.Label "nope"}}|{{index .Labels "com.example"}}', row)
        == "web 1 |1"
    )


@pytest.mark.parametrize(
    ("src", "data", "message"),
    [
        ("{{.Foo}}", {}, 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
        (
            "x\n  {{.A.Foo}}",
            {"A": "s"},
            'template: :2:4: executing "" at <.A.Foo>: can\'t evaluate field Foo in type string',
        ),
        (
            "{{.Nope}}",
            Row("a", {}),
            'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type Row',
        ),
        ("{{nil}}", {}, 'template: :1:2: executing "" at <nil>: nil is not a command'),
        (
            "{{index .L 10}}",
            {"L": []},
            'template: :1:2: executing "" at <index .L 10>: error calling index: index out of range: 10',
        ),
        (
            '{{index .L "a" "bb" "cccccccccc"}}',
            {"L": None},
            'template: :1:2: executing "" at <index .L "a" "bb" "c...>: '  # context cut at 20 runes, as Go
            "error calling index: index of untyped nil",
        ),
        (
            "{{json}}",
            {},
            'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0',
        ),
        (
            '{{eq 1 "a"}}',
            {},
            'template: :1:2: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison',
        ),
        (
            '{{"a" "b"}}',
            {},
            'template: :1:2: executing "" at <"a">: can\'t give argument to non-function "a"',
        ),
        (
            "{{range .S}}{{end}}",
            {"S": "str"},
            'template: :1:8: executing "" at <.S>: range can\'t iterate over str',
        ),
    ],
)
def test_execution_errors_read_like_docker(src: str, data: Any, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        run(src, data)
    assert str(info.value) == "template parsing error: " + message
    assert isinstance(info.value, InvalidArgument)


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("{{InvalidFunction}}", 'function "InvalidFunction" not defined'),
        ("{{.A", "unclosed action"),
        ("{{if .A}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{if .A}}{{else}}{{else}}{{end}}", "expected end; found {{else}}"),
        ("{{break}}", "{{break}} outside {{range}}"),
        ("{{$x}}", 'undefined variable "$x"'),
        ("{{}}", "missing value for command"),
        ("{{if}}{{end}}", "missing value for if"),
        ("{{.A #}}", "unrecognized character in action: U+0023 '#'"),
        ('{{"abc}}', "unterminated quoted string"),
        ('a\nb\n{{template "x"}}', "{{template}} is not supported"),
    ],
)
def test_parse_errors_read_like_docker(src: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(src)
    line = src.count("\n") + 1 if "template" in src else 1
    assert str(info.value) == f"template parsing error: template: :{line}: {message}"
