"""docker's --format: the Go template subset, and table layout byte-identical to docker's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pinnace.cli import format as format_module
from pinnace.cli import gotemplate
from pinnace.cli.format import TemplateError, render, tabwrite

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


def test_render_reports_template_errors_before_printing() -> None:
    with pytest.raises(TemplateError, match=r"function \"nope\" not defined"):
        images([], "table {{nope}}")
    with pytest.raises(TemplateError, match='map has no entry for key "Foo"'):
        images([_image("a", "b", "c", "d", "e")], "table {{.Foo}}")


# ---------------------------------------------------------------- the fast path and the engine agree


@pytest.mark.parametrize(
    "fmt",
    [
        None,
        "table",
        IMAGES_TABLE.replace("{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}", "{{.CreatedSince}}"),
        "table {{ .Repository }}\\t{{.Tag}}\\t{{.Nope}}",  # a field without a title in the header
        "{{.Repository}}:{{.Tag}}",
        "  {{.Repository}} }} {x} {{\t.ID\n}}\\n",
        "{{.ID}}",
        "plain text, no fields",
        "",
        "tablex {{.ID}}\t{{.Size}}",
    ],
)
def test_fast_path_matches_the_engine(fmt: str | None) -> None:
    """Rows of plain dicts take the fast path; the same rows as another mapping take the engine's."""
    rows = [
        _image("busybox", "latest", "abc", "2 hours ago", "4.26MB"),
        _image("<none>", "<none>", "d", "", "0B"),
        _image("名前/長い", "v1", "ef01", "3 days ago", "1.2GB"),
    ]
    default = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}"
    if fmt is not None and "Nope" in fmt:
        rows = []  # a data row without the field is an error, the header row is not
    fast = render(rows, fmt, default_table=default, headers=IMAGES_HEADERS)
    engine = render(
        [MappingProxyType(r) for r in rows],
        fmt,
        default_table=default,
        headers=MappingProxyType(IMAGES_HEADERS),
    )
    assert fast == engine


def test_values_that_are_not_strings_go_through_the_engine() -> None:
    rows: list[dict[str, Any]] = [{"A": 1, "B": None, "C": ["x", "y"]}, {"A": 2.5, "B": True, "C": []}]
    assert render(rows, "{{.A}}|{{.B}}|{{.C}}", default_table="", headers={}) == (
        "1|<no value>|[x y]\n2.5|true|[]\n"
    )


def test_template_and_parse_are_reexported_from_the_engine() -> None:
    assert format_module.Template is gotemplate.Template
    assert format_module.parse is gotemplate.parse
    with pytest.raises(AttributeError):
        format_module.nothing_here  # noqa: B018


def test_importing_format_and_rendering_a_table_loads_nothing_heavy() -> None:
    """Listing commands pay for every import at start-up; the engine, re and typing stay unloaded."""
    src = str(Path(format_module.__file__).parents[2])
    code = (
        f"import sys; sys.path[:0] = [{src!r}]\n"
        "import pinnace.cli.format as f\n"
        "heavy = ('re', 'typing', 'json', 'pinnace.cli.gotemplate')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "out = f.render([{'A': 'x', 'B': 'y'}], None, default_table='table {{.A}}\\t{{.B}}',"
        " headers={'A': 'AA', 'B': 'BB'})\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(repr(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.splitlines() == ["[]", "[]", repr("AA        BB\nx         y\n")]
