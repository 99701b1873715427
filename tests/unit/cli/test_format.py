"""docker's --format: the Go template subset, and table layout byte-identical to docker's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pinnace.cli.format import TemplateError, parse, render, tabwrite
from pinnace.errors import InvalidArgument

IMAGES_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
IMAGES_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
}


def _image(repo: str, tag: str, image_id: str, created: str, size: str) -> dict[str, str]:
    return {
        "Repository": repo,
        "Tag": tag,
        "ID": image_id,
        "Digest": "<none>",
        "CreatedSince": created,
        "CreatedAt": "2024-01-01 00:00:00 +0000 UTC",
        "Size": size,
    }


def _container(
    cid: str, image: str, cmd: str, created: str, status: str, ports: str, name: str
) -> dict[str, str]:
    return {
        "ID": cid,
        "Image": image,
        "Command": cmd,
        "RunningFor": created,
        "Status": status,
        "Ports": ports,
        "Names": name,
    }


def images(rows: list[dict[str, str]], fmt: str | None = None) -> str:
    return render(rows, fmt, default_table=IMAGES_TABLE, headers=IMAGES_HEADERS)


# ---------------------------------------------------------------- tables, against real docker output


def test_empty_listings_print_dockers_header_lines() -> None:
    assert images([]) == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    assert render([], "table", default_table=PS_TABLE, headers=PS_HEADERS) == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    )


def test_docker_images_layout() -> None:
    out = images([_image("bitnami/minideb", "latest", "c5eecd6244a8", "3 days ago", "120MB")])
    assert out == (
        "REPOSITORY        TAG       IMAGE ID       CREATED      SIZE\n"
        "bitnami/minideb   latest    c5eecd6244a8   3 days ago   120MB\n"
    )


def test_docker_ps_layout_with_empty_ports_and_wide_cells() -> None:
    rows = [
        _container(
            "a8472c73207b", "nginx", '"/docker-entrypoint.…"', "27 seconds ago",
            "Exited (0) 2 seconds ago", "", "keen_albattani",
        ),
        _container(
            "db9f3eaf9c17", "nginx", '"/docker-entrypoint.…"', "About a minute ago",
            "Up About a minute", "80/tcp", "serene_chatelet",
        ),
    ]  # fmt: skip
    assert render(rows, None, default_table=PS_TABLE, headers=PS_HEADERS) == (
        "CONTAINER ID   IMAGE     COMMAND                  CREATED              STATUS"
        "                     PORTS     NAMES\n"
        'a8472c73207b   nginx     "/docker-entrypoint.…"   27 seconds ago       Exited (0) 2 seconds ago'
        "             keen_albattani\n"
        'db9f3eaf9c17   nginx     "/docker-entrypoint.…"   About a minute ago   Up About a minute'
        "          80/tcp    serene_chatelet\n"
    )


def test_custom_table_and_escapes() -> None:
    rows = [
        _image("busybox", "latest", "abc", "2 hours ago", "4.26MB"),
        _image("<none>", "<none>", "d", "", "0B"),
    ]
    assert images(rows, "table {{.Repository}}") == "REPOSITORY\nbusybox\n<none>\n"
    assert images(rows, r"table {{.Repository}}\t{{.Size}}") == (
        "REPOSITORY   SIZE\nbusybox      4.26MB\n<none>       0B\n"
    )
    # the default's {{if}} gives N/A for an unknown creation time; the header is not affected
    assert images(rows).splitlines()[2].split() == ["<none>", "<none>", "d", "N/A", "0B"]
    assert images(rows, r"{{.Repository}}\n{{.Tag}}") == "busybox\nlatest\n<none>\n<none>\n"


def test_header_row_keeps_titles_through_functions() -> None:
    out = images(
        [_image("busybox", "latest", "abc", "x", "1B")],
        "table {{.Repository | upper | lower}}\t{{json .Tag}}\t{{truncate .ID 2}}\t{{pad .Size 1 1}}",
    )
    assert out == (
        "REPOSITORY   TAG        IMAGE ID    SIZE \n"  # pad applies to the header too (docker keeps it)
        'busybox      "latest"   ab          1B \n'
    )


def test_header_of_a_field_without_title_is_no_value() -> None:
    assert render(
        [], "table {{.Repository}}\t{{.Other}}", default_table="table", headers={"Repository": "REPO"}
    ) == ("REPO      <no value>\n")


def test_non_table_formats_have_no_header_and_json_sorts_keys() -> None:
    rows = [_image("busybox", "latest", "abc", "x", "1B")]
    assert images(rows, "{{.Repository}}:{{.Tag}}") == "busybox:latest\n"
    assert images(rows, "json") == (
        '{"CreatedAt":"2024-01-01 00:00:00 +0000 UTC","CreatedSince":"x","Digest":"<none>",'
        '"ID":"abc","Repository":"busybox","Size":"1B","Tag":"latest"}\n'
    )
    assert images([], "json") == ""
    assert images([], "{{.ID}}") == ""


# ---------------------------------------------------------------- tabwriter


def test_tabwriter_columns_are_blocks_of_contiguous_lines() -> None:
    # Go's text/tabwriter doc example: b and c are distinct columns, d and e none.
    text = "aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n"
    assert tabwrite(text, minwidth=0, padding=1) == "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n"


def test_tabwriter_counts_wide_characters_twice() -> None:
    assert tabwrite("名前\tx\nab\ty\n", minwidth=0, padding=1) == "名前 x\nab   y\n"


def test_tabwriter_line_without_tabs_resets_columns() -> None:
    assert tabwrite("a\tb\nplain\nlonger\tc\n", minwidth=0, padding=1) == "a b\nplain\nlonger c\n"


# ---------------------------------------------------------------- template language


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


def test_render_reports_template_errors_before_printing() -> None:
    with pytest.raises(TemplateError, match=r"function \"nope\" not defined"):
        images([], "table {{nope}}")
    with pytest.raises(TemplateError, match='map has no entry for key "Foo"'):
        images([_image("a", "b", "c", "d", "e")], "table {{.Foo}}")
