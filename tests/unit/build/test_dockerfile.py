"""The Dockerfile parser and shell lexer against BuildKit's behaviour (its parser and lexer tests)."""

from __future__ import annotations

import pytest

from pinnace.build.dockerfile import (
    Dockerfile,
    DockerfileError,
    Heredoc,
    Instruction,
    arg_pairs,
    expand,
    expand_words,
    key_values,
    parse,
    split_from,
)
from pinnace.errors import InvalidArgument


def one(text: str) -> Instruction:
    (ins,) = parse(text).instructions
    return ins


def error(text: str, filename: str = "Dockerfile") -> str:
    with pytest.raises(DockerfileError) as info:
        parse(text, filename)
    return str(info.value)


# --- instructions: keyword, args, json, flags -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keyword", "args", "is_json", "flags"),
    [
        ("FROM alpine", "FROM", ("alpine",), False, ()),
        ("from alpine AS b", "FROM", ("alpine AS b",), False, ()),
        ("FROM --platform=linux/amd64 alpine", "FROM", ("alpine",), False, (("platform", "linux/amd64"),)),
        ("  RUN   echo hi  ", "RUN", ("echo hi",), False, ()),
        ('RUN ["echo", "hi"]', "RUN", ("echo", "hi"), True, ()),
        ('RUN [ "a" ]', "RUN", ("a",), True, ()),
        ("RUN []", "RUN", (), True, ()),
        ('RUN ["a", "b"] trailing', "RUN", ("a", "b"), True, ()),  # BuildKit decodes the first value only
        ('RUN ["a", "b"', "RUN", ('["a", "b"',), False, ()),
        ("RUN [a]", "RUN", ("[a]",), False, ()),
        ("RUN ['a']", "RUN", ("['a']",), False, ()),
        ('CMD "a"', "CMD", ('"a"',), False, ()),
        ("CMD", "CMD", (), False, ()),
        ('ENTRYPOINT ["/bin/sh", "-c"]', "ENTRYPOINT", ("/bin/sh", "-c"), True, ()),
        ('SHELL ["pwsh", "-c"]', "SHELL", ("pwsh", "-c"), True, ()),
        ('COPY ["a b", "/c"]', "COPY", ("a b", "/c"), True, ()),
        ("COPY a b /c/", "COPY", ("a b /c/",), False, ()),
        ('WORKDIR ["/a"]', "WORKDIR", ('["/a"]',), False, ()),  # no JSON form for WORKDIR
        ('VOLUME ["/a", "/b"]', "VOLUME", ("/a", "/b"), True, ()),
        ("VOLUME /a /b", "VOLUME", ("/a /b",), False, ()),
        ("EXPOSE 80/tcp 443", "EXPOSE", ("80/tcp 443",), False, ()),
        ("USER 1000:1000", "USER", ("1000:1000",), False, ()),
        ("STOPSIGNAL SIGTERM", "STOPSIGNAL", ("SIGTERM",), False, ()),
        ("MAINTAINER Jane <j@x>", "MAINTAINER", ("Jane <j@x>",), False, ()),
        (
            "RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none make",
            "RUN",
            ("make",),
            False,
            (("mount", "type=cache,target=/c"), ("mount", "type=tmpfs,target=/t"), ("network", "none")),
        ),
        ("COPY --link --from=b /a /b", "COPY", ("/a /b",), False, (("link", ""), ("from", "b"))),
        ("COPY --link=false a b", "COPY", ("a b",), False, (("link", "false"),)),
        ('COPY --chown="1 2" a b', "COPY", ("a b",), False, (("chown", "1 2"),)),
        ("COPY --chown=a\\ b x y", "COPY", ("x y",), False, (("chown", "a b"),)),
        ("COPY -- --from=x y", "COPY", ("--from=x y",), False, ()),  # a lone -- ends the flags
        (
            "COPY --exclude=*.md --exclude=*.txt . /",
            "COPY",
            (". /",),
            False,
            (("exclude", "*.md"), ("exclude", "*.txt")),
        ),
        (
            "ADD --checksum=sha256:abc https://x/y /y",
            "ADD",
            ("https://x/y /y",),
            False,
            (("checksum", "sha256:abc"),),
        ),
        (
            "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/",
            "HEALTHCHECK",
            ("CMD curl -f http://x/",),
            False,
            (("interval", "5s"), ("retries", "3")),
        ),
        ('HEALTHCHECK CMD ["curl", "x"]', "HEALTHCHECK", ('CMD ["curl", "x"]',), False, ()),
        ("HEALTHCHECK NONE", "HEALTHCHECK", ("NONE",), False, ()),
        ("ENV A=1 B=2", "ENV", ("A=1 B=2",), False, ()),
        ("LABEL a=b", "LABEL", ("a=b",), False, ()),
        ("ARG A", "ARG", ("A",), False, ()),
        ("RUN echo --not-a-flag", "RUN", ("echo --not-a-flag",), False, ()),
        ("RUN -x", "RUN", ("-x",), False, ()),
    ],
)
def test_instruction_fields(
    text: str, keyword: str, args: tuple[str, ...], is_json: bool, flags: tuple[tuple[str, str], ...]
) -> None:
    ins = one(text)
    assert (ins.keyword, ins.args, ins.json, ins.flags) == (keyword, args, is_json, flags)
    assert ins.line == ins.end_line == 1
    assert ins.heredocs == ()
    assert ins.onbuild is None


def test_lines_original_and_result_shape() -> None:
    df = parse("\n# comment\nFROM a\n\nRUN echo \\\n  one \\\n  two\nCMD x\n")
    assert isinstance(df, Dockerfile)
    assert [(i.keyword, i.line, i.end_line) for i in df.instructions] == [
        ("FROM", 3, 3),
        ("RUN", 5, 7),
        ("CMD", 8, 8),
    ]
    assert df.instructions[1].original == "RUN echo   one   two"
    assert df.instructions[1].args == ("echo   one   two",)
    assert df.escape == "\\"
    assert df.syntax == ""
    assert df.warnings == ()


def test_comments_inside_continuations_are_dropped() -> None:
    ins = one("RUN apt-get install \\\n    # the compiler\n  gcc \\\n\t# and make\n  make")
    assert ins.args == ("apt-get install   gcc   make",)
    assert (ins.line, ins.end_line) == (1, 5)


def test_hash_inside_a_line_is_not_a_comment() -> None:
    assert one("RUN echo # not a comment").args == ("echo # not a comment",)


def test_continuation_whitespace_and_escaped_escape() -> None:
    assert one("RUN a \\  \t\nb").args == ("a b",)
    # An escaped escape at the end is a literal backslash, not a continuation.
    df = parse("RUN echo a\\\\\nRUN b")
    assert [i.args for i in df.instructions] == [("echo a\\\\",), ("b",)]
    # A line holding only the escape continues too.
    assert one("RUN a \\\n\\\nb").args == ("a b",)


def test_continuation_at_end_of_file() -> None:
    assert one("RUN a \\").args == ("a",)


def test_empty_continuation_line_warns_and_continues() -> None:
    df = parse("FROM a\nRUN a \\\n\n  b\n")
    assert df.instructions[1].args == ("a   b",)
    assert df.instructions[1].end_line == 4
    assert df.warnings == ("Dockerfile:2: empty continuation lines will become errors in a future release",)


def test_crlf_and_bom() -> None:
    df = parse("\ufeffFROM a\r\nRUN x \\\r\n y\r\n")
    assert [i.args for i in df.instructions] == [("a",), ("x  y",)]


# --- directives ------------------------------------------------------------------------------------


def test_escape_directive_backtick() -> None:
    df = parse("# escape=`\nFROM windows\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  /s\n")
    assert df.escape == "`"
    assert [i.args for i in df.instructions] == [("windows",), ("testfile.txt c:\\",), ("dir c:\\   /s",)]


def test_directives_case_and_spacing() -> None:
    df = parse("#  ESCAPE = `\n# Syntax=docker/dockerfile:1.7\nFROM a")
    assert (df.escape, df.syntax) == ("`", "docker/dockerfile:1.7")
    assert df.warnings == ("Dockerfile:2: the syntax directive is ignored (pinnace's builder is built in)",)


@pytest.mark.parametrize(
    "text",
    [
        "FROM a\n# escape=`\nRUN x",  # after an instruction
        "# a comment\n# escape=`\nFROM a",  # after a plain comment
        "\n# escape=`\nFROM a",  # after a blank line
        "# unknown=1\n# escape=`\nFROM a",  # after an unknown directive
    ],
)
def test_directive_not_at_top_is_a_comment(text: str) -> None:
    assert parse(text).escape == "\\"


def test_directive_errors() -> None:
    assert error("# escape=x\nFROM a") == "Dockerfile:1: invalid escape token 'x' does not match ` or \\"
    assert (
        error("# escape=`\n# escape=\\\nFROM a")
        == "Dockerfile:2: only one escape parser directive can be used"
    )


# --- heredocs --------------------------------------------------------------------------------------


def test_heredoc_run() -> None:
    ins = one('RUN <<EOF\necho "$HOME"\nset -e\nEOF')
    assert ins.args == ("<<EOF",)
    assert ins.heredocs == (Heredoc("EOF", 'echo "$HOME"\nset -e\n', True, False),)
    assert (ins.line, ins.end_line) == (1, 4)


def test_heredoc_with_program_and_quoted() -> None:
    ins = one("RUN python3 <<'PY'\nprint('$x')\nPY")
    assert ins.args == ("python3 <<'PY'",)
    assert ins.heredocs == (Heredoc("PY", "print('$x')\n", False, False),)
    assert one('RUN <<"EOF"\nx\nEOF').heredocs[0].expand is False


def test_heredoc_several_on_one_line() -> None:
    df = parse("RUN <<EOF1 cat /dev/stdin <<EOF2\none\nEOF1\ntwo\nEOF2\nRUN after")
    ins = df.instructions[0]
    assert ins.args == ("<<EOF1 cat /dev/stdin <<EOF2",)
    assert [(h.name, h.content) for h in ins.heredocs] == [("EOF1", "one\n"), ("EOF2", "two\n")]
    assert ins.end_line == 5
    assert df.instructions[1].line == 6


def test_heredoc_chomp() -> None:
    ins = one("RUN <<-EOF\n\t\techo a\n\t  echo b\n\tEOF")
    assert ins.heredocs == (Heredoc("EOF", "echo a\n  echo b\n", True, True),)
    # Without chomp the tabbed terminator is body text.
    with pytest.raises(DockerfileError):
        parse("RUN <<EOF\n\tEOF\n")


def test_heredoc_copy_and_empty_body() -> None:
    ins = one("COPY <<EOF /dest\nEOF")
    assert ins.args == ("<<EOF /dest",)
    assert ins.heredocs == (Heredoc("EOF", "", True, False),)
    ins = one("COPY --chmod=755 <<run.sh <<-end /app/\n#!/bin/sh\nrun.sh\n\tx\nend")
    assert [(h.name, h.content, h.chomp) for h in ins.heredocs] == [
        ("run.sh", "#!/bin/sh\n", False),
        ("end", "x\n", True),
    ]


def test_heredoc_body_lines_are_not_comments_or_continuations() -> None:
    ins = one("RUN <<EOF\n# kept\nline \\\n\nEOF")
    assert ins.heredocs[0].content == "# kept\nline \\\n\n"


def test_heredoc_not_in_json_or_quotes_or_other_instructions() -> None:
    assert one('RUN ["<<EOF"]').heredocs == ()
    assert one('RUN echo "<<EOF"').heredocs == ()
    assert one("CMD <<EOF").heredocs == ()


def test_heredoc_in_onbuild() -> None:
    ins = one("ONBUILD RUN <<EOF\necho hi\nEOF")
    assert ins.onbuild is not None
    assert ins.onbuild.heredocs == ins.heredocs == (Heredoc("EOF", "echo hi\n", True, False),)
    assert ins.end_line == 3


def test_unterminated_heredoc() -> None:
    assert error("FROM a\nRUN <<EOF\necho\n") == "Dockerfile:2: unterminated heredoc"


# --- ENV, LABEL, ARG, FROM helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("ENV A=1", [("A", "1")]),
        ("ENV A=1 B=\"v 2\" C='x y'", [("A", "1"), ("B", '"v 2"'), ("C", "'x y'")]),
        ("ENV A=a\\ b C=", [("A", "a\\ b"), ("C", "")]),
        ("ENV PATH=$PATH:/x", [("PATH", "$PATH:/x")]),
        ("ENV KEY value with  spaces", [("KEY", "value with  spaces")]),
        ('ENV KEY "quoted value"', [("KEY", '"quoted value"')]),
        ('LABEL "com.example.a"="b c" d=e', [('"com.example.a"', '"b c"'), ("d", "e")]),
        ("ENV A=1 \\\n    B=2", [("A", "1"), ("B", "2")]),
    ],
)
def test_key_values(text: str, pairs: list[tuple[str, str]]) -> None:
    assert key_values(one(text)) == pairs


def test_key_values_with_backtick_escape() -> None:
    df = parse('# escape=`\nENV A=x`"y B=c:\\dir')
    assert key_values(df.instructions[0], df.escape) == [("A", 'x`"y'), ("B", "c:\\dir")]


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("ARG A", [("A", None)]),
        ("ARG A=", [("A", "")]),
        ("ARG A=1 B C='x y'", [("A", "1"), ("B", None), ("C", "'x y'")]),
        ('ARG V="${BASE:-a b}"', [("V", '"${BASE:-a b}"')]),
    ],
)
def test_arg_pairs(text: str, pairs: list[tuple[str, str | None]]) -> None:
    assert arg_pairs(one(text)) == pairs


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("FROM alpine", ("alpine", "")),
        ("FROM alpine:3 AS Builder", ("alpine:3", "builder")),
        ("FROM a as b-c_d.e", ("a", "b-c_d.e")),
        ("FROM --platform=$BUILDPLATFORM ${IMG} AS x", ("${IMG}", "x")),
        ("FROM scratch", ("scratch", "")),
    ],
)
def test_split_from(text: str, result: tuple[str, str]) -> None:
    assert split_from(one(text)) == result


def test_helpers_refuse_other_instructions() -> None:
    run = one("RUN x")
    for fn in (key_values, arg_pairs, split_from):
        with pytest.raises(DockerfileError):
            fn(run)


def test_onbuild() -> None:
    ins = one("ONBUILD run --mount=type=cache,target=/x make")
    assert (ins.keyword, ins.args, ins.original) == (
        "ONBUILD",
        ("run --mount=type=cache,target=/x make",),
        "ONBUILD run --mount=type=cache,target=/x make",
    )
    assert ins.onbuild == Instruction(
        "RUN",
        ("make",),
        False,
        (("mount", "type=cache,target=/x"),),
        (),
        1,
        1,
        "run --mount=type=cache,target=/x make",
    )
    assert one('ONBUILD CMD ["a"]').onbuild == Instruction("CMD", ("a",), True, (), (), 1, 1, 'CMD ["a"]')


def test_no_from_is_left_to_the_executor() -> None:
    # ONBUILD triggers are parsed on their own; the stage check belongs to the builder.
    assert [i.keyword for i in parse("RUN echo hi\nCOPY a b").instructions] == ["RUN", "COPY"]


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\n\nFRM b", "Dockerfile:3: unknown instruction: FRM"),
        ("FROM a\nfoo bar", "Dockerfile:2: unknown instruction: FOO"),
        ("FROM", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a b", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a AS b c", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a IS b", "Dockerfile:1: FROM requires either one or three arguments"),
        (
            "FROM a AS 1st",
            'Dockerfile:1: invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
        ),
        ("FROM --plat=x a", "Dockerfile:1: unknown flag: plat"),
        ("FROM --platform a", "Dockerfile:1: missing a value on flag: platform"),
        ("FROM a\nRUN --foo=bar x", "Dockerfile:2: unknown flag: foo"),
        ("FROM a\nCOPY --from=a --from=b x y", "Dockerfile:2: duplicate flag specified: from"),
        ("FROM a\nCOPY --link= x y", "Dockerfile:2: missing a value on flag: link"),
        ("FROM a\nCOPY --link=yes x y", "Dockerfile:2: expecting boolean value for flag link, not: yes"),
        ("FROM a\nENV --x=1 A=b", "Dockerfile:2: unknown flag: x"),
        ("FROM a\nENV", "Dockerfile:2: ENV requires at least one argument"),
        ("FROM a\nENV A", "Dockerfile:2: ENV must have two arguments"),
        ("FROM a\nLABEL", "Dockerfile:2: LABEL requires at least one argument"),
        ("FROM a\nENV =x", "Dockerfile:2: ENV names can not be blank"),
        (
            "FROM a\nENV A=1 B",
            'Dockerfile:2: Syntax error - can\'t find = in "B". Must be of the form: name=value',
        ),
        ("ARG", "Dockerfile:1: ARG requires at least one argument"),
        ("ARG =x", "Dockerfile:1: ARG names can not be blank"),
        ("FROM a\nWORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument"),
        ("FROM a\nUSER", "Dockerfile:2: USER requires exactly one argument"),
        ("FROM a\nSTOPSIGNAL", "Dockerfile:2: STOPSIGNAL requires exactly one argument"),
        ("FROM a\nMAINTAINER", "Dockerfile:2: MAINTAINER requires exactly one argument"),
        ("FROM a\nEXPOSE", "Dockerfile:2: EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME", "Dockerfile:2: VOLUME requires at least one argument"),
        ("FROM a\nVOLUME []", "Dockerfile:2: VOLUME requires at least one argument"),
        ('FROM a\nVOLUME ["/a", " "]', "Dockerfile:2: VOLUME specified can not be an empty string"),
        (
            "FROM a\nCOPY onlyone",
            "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        (
            'FROM a\nADD ["x"]',
            "Dockerfile:2: ADD requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        ("FROM a\nCOPY x <<EOF\nbody\nEOF", "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
        ("FROM a\nSHELL", "Dockerfile:2: SHELL requires at least one argument"),
        ("FROM a\nSHELL []", "Dockerfile:2: SHELL requires at least one argument"),
        ("FROM a\nSHELL sh -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nHEALTHCHECK", "Dockerfile:2: HEALTHCHECK requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK CMD []", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK RUN x", 'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)'),
        ("FROM a\nHEALTHCHECK --bogus=1 CMD x", "Dockerfile:2: unknown flag: bogus"),
        ("FROM a\nONBUILD", "Dockerfile:2: ONBUILD requires at least one argument"),
        (
            "FROM a\nONBUILD ONBUILD RUN x",
            "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        ("FROM a\nONBUILD FROM b", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD maintainer me", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD FRM x", "Dockerfile:2: unknown instruction: FRM"),
        (
            'FROM a\nCMD ["a", 1]',
            "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (
            'FROM a\nHEALTHCHECK CMD ["a", null]',
            "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only",
        ),
        ("", "Dockerfile:1: file with no instructions"),
        ("# only a comment\n\n", "Dockerfile:2: file with no instructions"),
        ("FROM a\nRUN x \\\n  y\nFRM", "Dockerfile:4: unknown instruction: FRM"),
    ],
)
def test_errors(text: str, message: str) -> None:
    assert error(text) == message


def test_error_names_the_file_and_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse("FROM a\nFRM b", "Dockerfile.dev")
    assert str(info.value) == "Dockerfile.dev:2: unknown instruction: FRM"


def test_parse_errors_come_before_instruction_errors() -> None:
    # As BuildKit: the whole file is parsed (heredocs, JSON) before instructions are checked.
    assert error("FRM a\nRUN <<EOF\n") == "Dockerfile:2: unterminated heredoc"


def test_healthcheck_none_flags_are_not_checked_here() -> None:
    assert one("HEALTHCHECK --interval=1s NONE").flags == (("interval", "1s"),)


# --- expand: BuildKit's envVarTest (Unix rows), env PWD=/home SHELL=bash KOREAN=한국어 ---------------

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어"}

ERROR = object()

ENV_VAR_TEST: list[tuple[str, object]] = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", ERROR),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo", ERROR),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hello', ERROR),
    ('"hello\\"', ERROR),
    ('"hel\'lo"', "hel'lo"),
    ("'hello", ERROR),
    ("'hello\\'", "hello\\"),
    ("'hello\\there'", "hello\\there"),
    ("'hello\\\\there'", "hello\\\\there"),
    ("\"''\"", "''"),
    ("$.", "$."),
    ("$1", ""),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("\\${}aaa", "${}aaa"),
    ("he\\${}", "he${}"),
    ("he\\${}xx", "he${}xx"),
    ("${}", ERROR),
    ("${}aaa", ERROR),
    ("he${}", ERROR),
    ("he${}xx", ERROR),
    ("he${hi}", "he"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${.}", ERROR),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${XXX:YYY}", ERROR),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ("\"he'$PWD'\"", "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("'he\\$PWD'", "he\\$PWD"),
    ("he${PWD", ERROR),
    ("he${PWD:=000}xx", ERROR),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕하세요", "안녕하세요"),
    ("안'녕'하세요", "안녕하세요"),
    ("안'녕하세요", ERROR),
    ("안녕\\'하세요", "안녕'하세요"),
    ("안녕$PWD", "안녕/home"),
    ("안녕${XXX:-${YYY:-yyy}}xx", "안녕yyyxx"),
    ("$KOREAN", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    ("${{aaa}", ERROR),
    ("${aaa}}", "}"),
    ("${aaa", ERROR),
    ("${{aaa:-bbb}", ERROR),
    ("${aaa:-bbb}}", "bbb}"),
    ("${aaa:-bbb", ERROR),
    ("${aaa:-bbb}", "bbb"),
    ("${aaa:-${bbb:-ccc}}", "ccc"),
    ("${aaa:-bbb ${foo}", ERROR),
    ("${aaa:-bbb {foo}", "bbb {foo"),
    ("${:}", ERROR),
    ("${:-bbb}", ERROR),
    ("${:+bbb}", ERROR),
]


@pytest.mark.parametrize(("word", "expected"), ENV_VAR_TEST)
def test_expand_env_var_test(word: str, expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(DockerfileError):
            expand(word, ENV)
    else:
        assert expand(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "env", "expected"),
    [
        ("${A-d}", {"A": ""}, ""),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {}, "d"),
        ("${A+s}", {"A": ""}, "s"),
        ("${A:+s}", {"A": ""}, ""),
        ("${A?}", {"A": ""}, ""),
        ("${A:?}", {"A": "v"}, "v"),
        ("${A#*/}", {"A": "a/b/c"}, "b/c"),
        ("${A##*/}", {"A": "a/b/c"}, "c"),
        ("${A%/*}", {"A": "a/b/c"}, "a/b"),
        ("${A%%/*}", {"A": "a/b/c"}, "a"),
        ("${A#x}", {"A": "abc"}, "abc"),
        ("${A/b/X}", {"A": "abcb"}, "aXcb"),
        ("${A//b/X}", {"A": "abcb"}, "aXcX"),
        ("${A//?/-}", {"A": "ab"}, "--"),
        ("$A$B", {"A": "x", "B": "y"}, "xy"),
        ("${A}_b", {"A": "x"}, "x_b"),
        ("$A_b", {"A": "x"}, ""),
        ("100$", {}, "100$"),
        ("$", {}, "$"),
    ],
)
def test_expand_modifiers(word: str, env: dict[str, str], expected: str) -> None:
    assert expand(word, env) == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${}", 'failed to process "${}": syntax error: bad substitution'),
        ("${A", "failed to process \"${A\": syntax error: missing '}'"),
        ("${A:-x", "failed to process \"${A:-x\": syntax error: missing '}'"),
        ("${A:=x}", 'failed to process "${A:=x}": unsupported modifier (:=) in substitution'),
        ("${A?}", 'failed to process "${A?}": A: is not allowed to be unset'),
        ("${A:?must be set}", 'failed to process "${A:?must be set}": A: must be set'),
        (
            "'abc",
            'failed to process "\'abc": unexpected end of statement while looking for matching single-quote',
        ),
        (
            '"abc',
            'failed to process "\\"abc": unexpected end of statement while looking for matching double-quote',
        ),
    ],
)
def test_expand_error_messages(word: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        expand(word, {})
    assert str(info.value) == message


def test_expand_empty_is_error_for_colon_question() -> None:
    with pytest.raises(DockerfileError, match="A: is not allowed to be empty"):
        expand("${A:?}", {"A": ""})


def test_expand_backtick_escape() -> None:
    assert expand("c:\\dir\\$A", {"A": "x"}, "`") == "c:\\dir\\x"
    assert expand("`$A", {"A": "x"}, "`") == "$A"
    assert expand('"a`"b"', {}, "`") == 'a"b'


@pytest.mark.parametrize(
    ("text", "env", "words"),
    [
        ("a b  c", {}, ["a", "b", "c"]),
        ('"a b" c', {}, ["a b", "c"]),
        ("'a  b'c d", {}, ["a  bc", "d"]),
        ("a\\ b c", {}, ["a b", "c"]),
        ("$V", {"V": "x y"}, ["x", "y"]),
        ('"$V"', {"V": "x y"}, ["x y"]),
        ("pre$V", {"V": "x y"}, ["prex", "y"]),
        ('"" a', {}, ["a"]),
        ("  ", {}, []),
        ("src/ ${DEST:-/app}", {}, ["src/", "/app"]),
    ],
)
def test_expand_words(text: str, env: dict[str, str], words: list[str]) -> None:
    assert expand_words(text, env) == words
