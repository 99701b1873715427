"""The build context against docker's rules: Go's filepath.Match table, moby's patternmatcher and
ignorefile tests, buildkit-style COPY source resolution, content checksums, and a tar context's safety."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from pinnace.build.context import (
    IgnoreMatcher,
    checksum,
    extract_context,
    go_match,
    is_tar,
    read_dockerignore,
    resolve_sources,
    walk,
)
from pinnace.errors import InvalidArgument, UnsafeArchive

BAD = "bad"

# Go's src/path/filepath/match_test.go matchTests: (pattern, name, matched or BAD for ErrBadPattern)
GO_MATCH_TESTS = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", BAD),
    ("[-]", "-", BAD),
    ("[x-]", "x", BAD),
    ("[x-]", "-", BAD),
    ("[x-]", "z", BAD),
    ("[-x]", "x", BAD),
    ("[-x]", "-", BAD),
    ("[-x]", "a", BAD),
    ("\\", "a", BAD),
    ("[a-b-c]", "a", BAD),
    ("[", "a", BAD),
    ("[^", "a", BAD),
    ("[^bc", "a", BAD),
    ("a[", "a", BAD),
    ("a[", "ab", BAD),
    ("a[", "x", BAD),
    ("a/b[", "x", BAD),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "name", "want"), GO_MATCH_TESTS)
def test_go_match_table(pattern: str, name: str, want: object) -> None:
    if want == BAD:
        with pytest.raises(InvalidArgument, match="^syntax error in pattern$"):
            go_match(pattern, name)
    else:
        assert go_match(pattern, name) is want


@pytest.mark.parametrize(
    ("pattern", "name", "want"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("[*]", "*", True),  # '*' inside a class is literal
        ("[*]", "a", False),
        ("[z-a]", "m", False),  # an inverted range matches nothing, no error
        ("*.go", ".go", True),
        ("?", "/", False),
        ("a\\b", "ab", True),  # an escaped ordinary character is itself
    ],
)
def test_go_match_more(pattern: str, name: str, want: bool) -> None:
    assert go_match(pattern, name) is want


# moby patternmatcher_test.go TestMatches: (pattern, text, matches the text or a parent of it)
MOBY_MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    # ("**", "/") and ("**/", "/") left out: "/" is the context root here, never excluded
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    # moby's copy of Go's table through Matches: a pattern matching a parent matches the child
    ("a*", "ab/c", True),
    ("a*/b", "a/c/b", False),
    ("*", "abc", True),
    ("ab[^c]", "abc", False),
]


@pytest.mark.parametrize(("pattern", "text", "want"), MOBY_MATCHES)
def test_moby_pattern_matches(pattern: str, text: str, want: bool) -> None:
    assert IgnoreMatcher([pattern]).excluded(text) is want


@pytest.mark.parametrize(
    ("patterns", "text", "want"),
    [
        (["**", "!util/docker/web"], "util/docker/web/foo", False),
        (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
        (
            ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            False,
        ),
        (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
        (["*"], "fileutils.go", True),
        (["*.go"], "fileutils.go", True),
        (["!fileutils.go", "*.go"], "fileutils.go", True),
        (["*.go", "!fileutils.go"], "fileutils.go", False),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs/", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/README.md", False),
        (["docs", "!docs/README.md"], "docs/other.md", True),
        (["docs", "!docs/README.md"], "docs", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
        (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
        (["**/*.go"], "main.go", True),
        (["**/*.go"], "a/b/c/main.go", True),
        (["**/*.go"], "a/b/c/main.go.txt", False),
        (["*/temp*"], "somedir/temporary.txt", True),
        (["*/temp*"], "somedir/temp", True),
        (["*/temp*"], "temp", False),
        (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
        (["temp?"], "tempa", True),
        (["temp?"], "dir/tempa", False),
        (["/foo/bar"], "foo/bar", False),  # as moby's New: only ReadAll drops a leading "/"
        (["./foo"], "foo", True),
        (["foo/"], "foo", True),
        (["foo/"], "foo/x", True),
        (["foo/../bar"], "bar", True),
        (["  docs  ", "  !docs/README.md  "], "docs/README.md", False),
        (["", "docs", ""], "docs/x", True),
        ([], "anything/at/all", False),
        (["*"], ".", False),  # the root is never excluded
        (["**"], "", False),
        (["."], "x", False),
        (["*"], "./x", True),
        (["*"], "/x", True),
    ],
)
def test_ignore_semantics(patterns: list[str], text: str, want: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(text) is want


def test_ignore_bad_patterns() -> None:
    with pytest.raises(InvalidArgument, match='^illegal exclusion pattern: "!"$'):
        IgnoreMatcher(["!"])
    with pytest.raises(InvalidArgument, match="^syntax error in pattern$"):
        IgnoreMatcher(["["])
    with pytest.raises(InvalidArgument, match="^syntax error in pattern$"):
        IgnoreMatcher(["ok", "a[^bc"])


@pytest.mark.parametrize(
    ("patterns", "directory", "want"),
    [
        (["docs"], "docs", False),
        (["docs", "!docs/README.md"], "docs", True),
        (["docs", "!docs/README.md"], "other", False),
        (["docs", "!docs"], "docs/sub", False),  # matches the dir itself: nothing deeper to re-include
        (["**", "!**/*.go"], "a/b", True),
        (["**", "!*/keep"], "a", True),
        (["**", "!*/keep"], "a/b", False),
        (["**", "!src/*/keep"], "src/x", True),
        (["**", "!src/*/keep"], "lib/x", False),
        (["a", "!a/b/c"], "a", True),
        (["a", "!a/b/c"], "a/b", True),
        (["a", "!a/b/c"], "a/x", False),
    ],
)
def test_may_descend(patterns: list[str], directory: str, want: bool) -> None:
    assert IgnoreMatcher(patterns).may_descend(directory) is want


# ---------------------------------------------------------------------------------------------
# .dockerignore files


def _write(path: Path, data: str | bytes = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def test_read_dockerignore_like_moby_readall(tmp_path: Path) -> None:
    content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    _write(tmp_path / ".dockerignore", content)
    assert read_dockerignore(str(tmp_path), str(tmp_path / "Dockerfile")) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]


def test_read_dockerignore_cleans_and_trims(tmp_path: Path) -> None:
    _write(
        tmp_path / ".dockerignore",
        b"\xef\xbb\xbf# bom then comment\r\n  spaced  \r\n  # not a comment when indented\nfoo/../bar/\n./x//y/\n//z\n",
    )
    assert read_dockerignore(str(tmp_path), "Dockerfile") == [
        "spaced",
        "# not a comment when indented",
        "bar",
        "x/y",
        "z",
    ]


def test_no_dockerignore(tmp_path: Path) -> None:
    assert read_dockerignore(str(tmp_path), "Dockerfile") == []


def test_dockerfile_dockerignore_wins(tmp_path: Path) -> None:
    _write(tmp_path / ".dockerignore", "from-context\n")
    _write(tmp_path / "Dockerfile.dockerignore", "from-dockerfile\n")
    _write(tmp_path / "build" / "build.Dockerfile.dockerignore", "from-build\n")
    assert read_dockerignore(str(tmp_path), str(tmp_path / "Dockerfile")) == ["from-dockerfile"]
    assert read_dockerignore(str(tmp_path), "Dockerfile") == ["from-dockerfile"]
    assert read_dockerignore(str(tmp_path), str(tmp_path / "build" / "build.Dockerfile")) == ["from-build"]
    # a Dockerfile without its own ignore file falls back to the context's
    assert read_dockerignore(str(tmp_path), str(tmp_path / "other.Dockerfile")) == ["from-context"]
    # the Dockerfile may live outside the context
    outside = tmp_path.parent / (tmp_path.name + "-df")
    _write(outside / "Dockerfile.dockerignore", "outside\n")
    try:
        assert read_dockerignore(str(tmp_path), str(outside / "Dockerfile")) == ["outside"]
    finally:
        shutil.rmtree(outside)


def test_empty_dockerfile_dockerignore_still_wins(tmp_path: Path) -> None:
    _write(tmp_path / ".dockerignore", "x\n")
    _write(tmp_path / "Dockerfile.dockerignore", "# nothing\n")
    assert read_dockerignore(str(tmp_path), "Dockerfile") == []


# ---------------------------------------------------------------------------------------------
# walk and resolve_sources


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    for name in [
        "Dockerfile",
        "a.txt",
        "b.txt",
        "c.md",
        ".hidden",
        "src/main.go",
        "src/util/util.go",
        "src/util/notes.txt",
        "docs/README.md",
        "docs/guide.md",
        "secret.key",
        "dir with space/f",
    ]:
        _write(root / name, name)
    os.symlink("src", root / "srclink")
    os.symlink("/etc", root / "abslink")
    os.symlink("missing", root / "dangling")
    return root


def test_walk_sorted_and_filtered(ctx: Path) -> None:
    got = list(walk(str(ctx), IgnoreMatcher(["*.md", "secret.key", "docs"])))
    assert got == [
        ".hidden",
        "Dockerfile",
        "a.txt",
        "abslink",
        "b.txt",
        "dangling",
        "dir with space",
        "dir with space/f",
        "src",
        "src/main.go",
        "src/util",
        "src/util/notes.txt",
        "src/util/util.go",
        "srclink",
    ]


def test_walk_reincluded_child_brings_its_parent(ctx: Path) -> None:
    got = list(walk(str(ctx), IgnoreMatcher(["docs", "!docs/README.md", "src", "!**/*.txt"])))
    assert "docs" in got and "docs/README.md" in got and "docs/guide.md" not in got
    assert got.index("docs") < got.index("docs/README.md")
    assert "src" in got and "src/util" in got and "src/util/notes.txt" in got
    assert "src/main.go" not in got and "src/util/util.go" not in got


def test_walk_everything_but(ctx: Path) -> None:
    got = list(walk(str(ctx), IgnoreMatcher(["*", "!Dockerfile", "!src/util"])))
    assert got == ["Dockerfile", "src", "src/util", "src/util/notes.txt", "src/util/util.go"]


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("a.txt", ["a.txt"]),
        ("/a.txt", ["a.txt"]),
        ("./a.txt", ["a.txt"]),
        ("*.txt", ["a.txt", "b.txt"]),
        ("?.txt", ["a.txt", "b.txt"]),
        ("[ab].txt", ["a.txt", "b.txt"]),
        ("[^a].txt", ["b.txt"]),
        # abslink -> /etc is the context's /etc (absent), dangling leads nowhere: neither counts
        (
            "*",
            [
                ".hidden",
                "Dockerfile",
                "a.txt",
                "b.txt",
                "c.md",
                "dir with space",
                "docs",
                "secret.key",
                "src",
                "srclink",
            ],
        ),
        ("src/*/*.go", ["src/util/util.go"]),
        ("*/util", ["src/util", "srclink/util"]),
        ("src/", ["src"]),
        ("srclink/main.go", ["srclink/main.go"]),
        (".", ["."]),
        ("/", ["."]),
        ("", ["."]),
        ("dir with space", ["dir with space"]),
        ("src/../a.txt", ["a.txt"]),
        ("/../a.txt", ["a.txt"]),
    ],
)
def test_resolve_sources(ctx: Path, source: str, want: list[str]) -> None:
    assert resolve_sources(str(ctx), source, IgnoreMatcher([])) == want


@pytest.mark.parametrize(
    "source", ["nope", "*.nope", "src/*/nothing", "dangling", "a.txt/x", "abslink/passwd"]
)
def test_resolve_sources_not_found(ctx: Path, source: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(str(ctx), source, IgnoreMatcher([]))
    assert str(e.value) == f'"{source}": not found'


@pytest.mark.parametrize("source", ["../x", "..", "src/../../x", "./../x"])
def test_resolve_sources_outside_context(ctx: Path, source: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(str(ctx), source, IgnoreMatcher([]))
    assert str(e.value) == f"forbidden path outside the build context: {source}"


def test_resolve_sources_ignored_are_absent(ctx: Path) -> None:
    m = IgnoreMatcher(["secret.key", "**/*.md", "src/util", "!docs/README.md"])
    with pytest.raises(InvalidArgument, match='^"secret.key": not found$'):
        resolve_sources(str(ctx), "secret.key", m)
    with pytest.raises(InvalidArgument, match='^"src/util/util.go": not found$'):
        resolve_sources(str(ctx), "src/util/util.go", m)
    with pytest.raises(InvalidArgument, match=r'^"\*.md": not found$'):
        resolve_sources(str(ctx), "*.md", m)
    assert resolve_sources(str(ctx), "docs/*", m) == ["docs/README.md"]
    assert resolve_sources(str(ctx), "s*", m) == ["src", "srclink"]
    assert resolve_sources(str(ctx), "src/*", m) == ["src/main.go"]
    # through a symlink, the real path is what .dockerignore decides
    with pytest.raises(InvalidArgument):
        resolve_sources(str(ctx), "srclink/util/util.go", m)


def test_resolve_sources_excluded_dir_with_reincluded_child(ctx: Path) -> None:
    m = IgnoreMatcher(["docs", "!docs/README.md"])
    assert resolve_sources(str(ctx), "docs", m) == ["docs"]
    assert resolve_sources(str(ctx), "docs/README.md", m) == ["docs/README.md"]
    with pytest.raises(InvalidArgument):
        resolve_sources(str(ctx), "docs/guide.md", m)


def test_resolve_sources_bad_pattern(ctx: Path) -> None:
    with pytest.raises(InvalidArgument, match="^syntax error in pattern$"):
        resolve_sources(str(ctx), "[a", IgnoreMatcher([]))


def test_resolve_sources_link_loop(ctx: Path) -> None:
    os.symlink("loop2", ctx / "loop1")
    os.symlink("loop1", ctx / "loop2")
    with pytest.raises(InvalidArgument, match="not found"):
        resolve_sources(str(ctx), "loop1", IgnoreMatcher([]))


# ---------------------------------------------------------------------------------------------
# checksum


def _tree(root: Path) -> Path:
    _write(root / "a.txt", "hello")
    _write(root / "sub" / "b.bin", bytes(range(256)) * 100)
    _write(root / "sub" / "deeper" / "c", "")
    (root / "empty").mkdir()
    os.symlink("sub/b.bin", root / "link")
    os.chmod(root / "a.txt", 0o644)
    os.chmod(root / "sub" / "b.bin", 0o755)
    return root


ALL = [".", "a.txt", "sub", "link", "sub/deeper/c"]


def test_checksum_is_stable_across_copies(tmp_path: Path) -> None:
    one = _tree(tmp_path / "one")
    os.umask(0o022)
    two = tmp_path / "two"
    shutil.copytree(one, two, symlinks=True)  # new inodes, mtimes
    for dirpath, dirnames, filenames in os.walk(two):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            os.utime(p, (1, 2), follow_symlinks=False)
            if os.getuid() == 0:
                os.lchown(p, 1234, 5678)
    os.chmod(two, 0o700)  # the source directory's own mode is not part of what COPY copies
    m = IgnoreMatcher([])
    for paths in ([p] for p in ALL):
        assert checksum(str(one), paths, m) == checksum(str(two), paths, m)
        assert checksum(str(one), paths, m).startswith("sha256:")
    assert len(checksum(str(one), ALL, m)) == len("sha256:") + 64


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "a.txt").write_text("hellp"),
        lambda r: (r / "a.txt").write_text("hello!"),
        lambda r: os.chmod(r / "a.txt", 0o600),
        lambda r: os.chmod(r / "a.txt", 0o4644),
        lambda r: os.chmod(r / "sub" / "deeper", 0o700),
        lambda r: os.rename(r / "a.txt", r / "b.txt"),
        lambda r: os.rename(r / "sub" / "deeper" / "c", r / "sub" / "deeper" / "d"),
        lambda r: (os.unlink(r / "link"), os.symlink("sub/deeper/c", r / "link")),
        lambda r: (r / "empty" / "new").write_text(""),
        lambda r: (r / "empty").rmdir(),
        lambda r: (os.unlink(r / "a.txt"), (r / "a.txt").mkdir()),
    ],
)
def test_checksum_changes(tmp_path: Path, change: object) -> None:
    root = _tree(tmp_path / "t")
    m = IgnoreMatcher([])
    before = checksum(str(root), ["."], m)
    change(root)  # type: ignore[operator]
    assert checksum(str(root), ["."], m) != before


def test_checksum_follows_a_source_link_but_not_inner_links(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    m = IgnoreMatcher([])
    via_link = checksum(str(root), ["link"], m)
    (root / "sub" / "b.bin").write_bytes(b"changed")
    assert checksum(str(root), ["link"], m) != via_link  # COPY link copies the target's bytes


def test_checksum_names_and_paths_order(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    m = IgnoreMatcher([])
    assert checksum(str(root), ["a.txt", "sub"], m) != checksum(str(root), ["sub", "a.txt"], m)
    assert checksum(str(root), ["a.txt"], m) == checksum(str(root), ["./a.txt"], m)
    assert checksum(str(root), ["a.txt"], m) != checksum(str(root), ["sub"], m)


def test_checksum_skips_excluded(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    m = IgnoreMatcher(["sub/deeper"])
    before = checksum(str(root), ["."], m)
    (root / "sub" / "deeper" / "c").write_text("ignored change")
    _write(root / "sub" / "deeper" / "new", "x")
    assert checksum(str(root), ["."], m) == before
    (root / "a.txt").write_text("seen")
    assert checksum(str(root), ["."], m) != before
    with pytest.raises(InvalidArgument, match="not found"):
        checksum(str(root), ["sub/deeper/c"], m)


def test_checksum_many_small_files_is_fast(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(100):
        d = root / f"d{i:03}"
        d.mkdir(parents=True)
        for j in range(100):
            (d / f"f{j:03}").write_bytes(b"x" * j)
    m = IgnoreMatcher(["**/*.tmp", "!keep"])
    start = time.monotonic()
    first = checksum(str(root), ["."], m)
    assert time.monotonic() - start < 10
    assert checksum(str(root), ["."], m) == first


# ---------------------------------------------------------------------------------------------
# a context as a tar


def _tar(*entries: tuple[str, bytes, bytes | str, int], compress: str = "") -> bytes:
    """(name, type, data or link target, mode) members, as a stranger's tar."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.mtime = 1_600_000_000
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                assert isinstance(payload, str)
                info.linkname = payload
                tar.addfile(info)
            else:
                assert isinstance(payload, bytes)
                info.size = len(payload) if kind == tarfile.REGTYPE else 0
                tar.addfile(info, io.BytesIO(payload) if kind == tarfile.REGTYPE else None)
    data = out.getvalue()
    if compress == "gz":
        return gzip.compress(data)
    if compress == "bz2":
        return bz2.compress(data)
    if compress == "xz":
        return lzma.compress(data)
    return data


REG, DIR, SYM, LNK, CHR, FIFO = (
    tarfile.REGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.FIFOTYPE,
)

GOOD = (
    ("./", DIR, b"", 0o755),
    ("./Dockerfile", REG, b"FROM scratch\nCOPY . /\n", 0o644),
    ("./bin/", DIR, b"", 0o750),
    ("./bin/run", REG, b"#!/bin/sh\n", 0o4755),
    ("./bin/again", LNK, "./bin/run", 0o4755),
    ("./link", SYM, "/etc/passwd", 0o777),
    ("./rel", SYM, "bin/run", 0o777),
    ("./null", CHR, b"", 0o666),
    ("./fifo", FIFO, b"", 0o644),
    ("nested/deep/file", REG, b"implicit parents", 0o600),
    ("ro/", DIR, b"", 0o555),
    ("ro/inside", REG, b"x", 0o444),
)


@pytest.mark.parametrize("compress", ["", "gz", "bz2", "xz"])
def test_extract_good_context(tmp_path: Path, compress: str) -> None:
    data = _tar(*GOOD, compress=compress)
    assert is_tar(data[:1024])
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context(io.BytesIO(data), str(dest))
    assert (dest / "Dockerfile").read_bytes() == b"FROM scratch\nCOPY . /\n"
    assert (dest / "bin").stat().st_mode & 0o7777 == 0o750
    assert (dest / "bin" / "run").stat().st_mode & 0o7777 == 0o4755
    assert (dest / "bin" / "again").stat().st_ino == (dest / "bin" / "run").stat().st_ino
    assert os.readlink(dest / "link") == "/etc/passwd"  # kept, not followed
    assert os.readlink(dest / "rel") == "bin/run"
    assert not os.path.lexists(dest / "null") and not os.path.lexists(dest / "fifo")
    assert (dest / "nested" / "deep" / "file").read_bytes() == b"implicit parents"
    assert (dest / "nested" / "deep" / "file").stat().st_mode & 0o7777 == 0o600
    assert (dest / "ro").stat().st_mode & 0o7777 == 0o555
    assert (dest / "ro" / "inside").read_bytes() == b"x"


def test_extract_from_unseekable_stream(tmp_path: Path) -> None:
    r, w = os.pipe()
    data = _tar(*GOOD, compress="gz")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the writer child
        os.close(r)
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    dest = tmp_path / "dest"
    dest.mkdir()
    with os.fdopen(r, "rb") as stream:
        extract_context(stream, str(dest))
    os.waitpid(pid, 0)
    assert (dest / "bin" / "run").read_bytes() == b"#!/bin/sh\n"


def test_extract_replaces_a_symlink_rather_than_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("safe")
    dest = tmp_path / "dest"
    dest.mkdir()
    data = _tar(("f", SYM, str(victim), 0o777), ("f", REG, b"overwritten?", 0o644))
    extract_context(io.BytesIO(data), str(dest))
    assert victim.read_text() == "safe"
    assert (dest / "f").read_bytes() == b"overwritten?" and not (dest / "f").is_symlink()


@pytest.mark.parametrize(
    "entries",
    [
        [("../evil", REG, b"x", 0o644)],
        [("a/../../evil", REG, b"x", 0o644)],
        [("/abs/evil", REG, b"x", 0o644)],
        [("out", SYM, "{outside}", 0o777), ("out/evil", REG, b"x", 0o644)],
        [("up", SYM, "..", 0o777), ("up/evil", REG, b"x", 0o644)],
        [("d", DIR, b"", 0o755), ("d/up", SYM, "../..", 0o777), ("d/up/evil", REG, b"x", 0o644)],
        [("out", SYM, "{outside}", 0o777), ("out/sub/evil", DIR, b"", 0o755)],
        [("passwd", LNK, "/etc/passwd", 0o644)],
        [("passwd", LNK, "../../../../etc/passwd", 0o644)],
        [("out", SYM, "{outside}", 0o777), ("hl", LNK, "out/target", 0o644)],
        [("ln", SYM, "x", 0o777), ("hl", LNK, "ln/../../etc/passwd", 0o644)],
    ],
)
def test_extract_refuses_escapes(tmp_path: Path, entries: list[tuple[str, bytes, bytes | str, int]]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("target")
    dest = tmp_path / "dest"
    dest.mkdir()
    fixed = [
        (n, k, p.replace("{outside}", str(outside)) if isinstance(p, str) else p, m) for n, k, p, m in entries
    ]
    with pytest.raises(UnsafeArchive):
        extract_context(io.BytesIO(_tar(*fixed)), str(dest))
    assert sorted(os.listdir(outside)) == ["target"]
    assert not (tmp_path / "evil").exists()


def test_extract_hardlink_to_missing_or_dir_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchive, match="invalid hardlink"):
        extract_context(io.BytesIO(_tar(("hl", LNK, "nothing", 0o644))), str(dest))
    with pytest.raises(UnsafeArchive, match="invalid hardlink"):
        extract_context(io.BytesIO(_tar(("d", DIR, b"", 0o755), ("hl", LNK, "d", 0o644))), str(dest))


def test_extract_corrupt(tmp_path: Path) -> None:
    data = _tar(("big", REG, os.urandom(200_000), 0o644), compress="gz")
    with pytest.raises(InvalidArgument, match="^Error processing tar file"):
        extract_context(io.BytesIO(data[: len(data) // 2]), str(tmp_path))


def test_is_tar() -> None:
    plain = _tar(("Dockerfile", REG, b"FROM scratch\n", 0o644))
    assert is_tar(plain[:512])
    assert is_tar(plain)
    assert is_tar(gzip.compress(plain)[:10])
    assert is_tar(bz2.compress(plain)[:10])
    assert is_tar(lzma.compress(plain)[:10])
    assert is_tar(b"\x28\xb5\x2f\xfd" + b"\0" * 20)  # zstd
    v7 = io.BytesIO()
    with tarfile.open(fileobj=v7, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = 0
        tar.addfile(info)
    raw = bytearray(v7.getvalue()[:512])
    raw[257:265] = b"\0" * 8  # no magic: a v7 header, known by its checksum
    total = sum(raw[:148]) + 8 * 32 + sum(raw[156:])
    raw[148:156] = f"{total:06o}\0 ".encode()
    assert is_tar(bytes(raw))
    assert not is_tar(b"FROM alpine\nRUN echo hi\n")
    assert not is_tar(b"FROM alpine\n" + b"# " * 400)
    assert not is_tar(b"")
    assert not is_tar(b"\0" * 512)


def test_names_with_spaces_are_not_trimmed(tmp_path: Path) -> None:
    _write(tmp_path / " lead", "x")
    _write(tmp_path / "trail ", "y")
    m = IgnoreMatcher(["lead"])
    assert not m.excluded(" lead")
    assert list(walk(str(tmp_path), m)) == [" lead", "trail "]
    assert resolve_sources(str(tmp_path), "trail ", m) == ["trail "]
    assert checksum(str(tmp_path), [" lead"], m) != checksum(str(tmp_path), ["trail "], m)
