"""Docker's mount syntaxes, read and checked with docker's own words.

The CLI-side tables (``-v``, ``--mount``) were checked against the docker
28.2 CLI's own requests and messages; the daemon-side tables follow moby's
linux_parser, validate.go, local driver and MergeTmpfsOptions (and their
tests' tables where they have one).
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Any

import pytest

from pinnace.errors import InvalidArgument, NotImplementedYet
from pinnace.volumes import specs
from pinnace.volumes.specs import (
    BIND,
    PROPAGATIONS,
    TMPFS,
    VOLUME,
    MountSpec,
    check_local_options,
    check_volume_name,
    cli_volume,
    mount_spec,
    parse_bind,
    parse_mount_flag,
    parse_tmpfs_flag,
    parse_volumes_from,
    tmpfs_mount_options,
    tmpfs_spec,
)

CWD = "/home/me/proj"
NAME_CHARS = (
    'includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed.'
    " If you intended to pass a host directory, use absolute path"
)


def error_of(call: Any, *args: Any) -> str:
    with pytest.raises(InvalidArgument) as info:
        call(*args)
    return str(info.value)


# -- -v on the CLI side ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # anonymous volumes: the raw value goes to Config.Volumes
        ("/data", ("volumes", "/data")),
        ("a", ("volumes", "a")),  # one or two bytes: always a target
        ("ab", ("volumes", "ab")),
        ("::", ("volumes", "::")),
        ("a:b", ("volumes", "a:b")),  # "a:" reads as a Windows drive
        ("C:/x", ("volumes", "C:/x")),
        ("a:/", ("volumes", "a:/")),
        ("é", ("volumes", "é")),
        # binds and named volumes go to HostConfig.Binds, modes unchecked (the daemon checks them)
        ("/a:/b", ("binds", "/a:/b")),
        ("vol:/x", ("binds", "vol:/x")),
        ("x:/b:bogus", ("binds", "x:/b:bogus")),
        ("a::b", ("binds", "a::b")),
        ("/a:b", ("binds", "/a:b")),
        ("x/y:/h", ("binds", "x/y:/h")),  # relative, not starting with ".": left for the daemon
        ("~/q:/i", ("binds", "~/q:/i")),
        ("~:/x", ("binds", "~:/x")),
        ("c:\\x:/y", ("binds", "c:\\x:/y")),
        ("/a:/b:ro", ("binds", "/a:/b:ro")),
        # a host part starting with "." is made absolute against the working directory
        (".:/x", ("binds", "/home/me/proj:/x")),
        ("./:/y", ("binds", "/home/me/proj:/y")),
        ("./x/:/d:ro,z", ("binds", "/home/me/proj/x:/d:ro,z")),
        ("../y:/e", ("binds", "/home/me/y:/e")),
        ("..:/x", ("binds", "/home/me:/x")),
        (".hidden:/x", ("binds", "/home/me/proj/.hidden:/x")),
        ("../a/../b:/c", ("binds", "/home/me/b:/c")),
    ],
)
def test_cli_volume(value: str, expected: tuple[str, str]) -> None:
    assert cli_volume(value, CWD) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "invalid empty volume spec"),
        ("/a:", "invalid spec: /a:: empty section between colons"),
        (":/a", "invalid spec: :/a: empty section between colons"),
        ("/a:/b:", "invalid spec: /a:/b:: empty section between colons"),
        ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
        ("/a:/b:/c:ro", "invalid spec: /a:/b:/c:ro: too many colons"),
    ],
)
def test_cli_volume_errors(value: str, message: str) -> None:
    assert error_of(cli_volume, value, CWD) == message


# -- --mount on the CLI side ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("target=/x", {"Type": "volume", "Target": "/x"}),
        ("dst=/x,src=v", {"Type": "volume", "Source": "v", "Target": "/x"}),
        ("destination=/x,source=v", {"Type": "volume", "Source": "v", "Target": "/x"}),
        ("target=/x,target=/y,type=bind,type=volume", {"Type": "volume", "Target": "/y"}),  # last wins
        # keys and some values are case-insensitive
        (
            "TYPE=BIND,SRC=/a,DST=/x,Bind-Propagation=RSLAVE,consistency=CACHED",
            {
                "Type": "bind",
                "Source": "/a",
                "Target": "/x",
                "Consistency": "cached",
                "BindOptions": {"Propagation": "rslave"},
            },
        ),
        # read-only, with or without a strconv.ParseBool value
        ("target=/x,ro", {"Type": "volume", "Target": "/x", "ReadOnly": True}),
        ("target=/x,readonly", {"Type": "volume", "Target": "/x", "ReadOnly": True}),
        ("target=/x,readonly=TRUE", {"Type": "volume", "Target": "/x", "ReadOnly": True}),
        ("target=/x,ro=t", {"Type": "volume", "Target": "/x", "ReadOnly": True}),
        ("target=/x,ro=1,ro=0", {"Type": "volume", "Target": "/x"}),
        # relative sources starting with "." become absolute
        ("target=/x,src=.", {"Type": "volume", "Source": CWD, "Target": "/x"}),
        ("target=/x,src=./", {"Type": "volume", "Source": CWD, "Target": "/x"}),
        ("target=/x,src=..", {"Type": "volume", "Source": "/home/me", "Target": "/x"}),
        ("target=/x,src=.a", {"Type": "volume", "Source": CWD + "/.a", "Target": "/x"}),
        ("target=/x,src=~/a", {"Type": "volume", "Source": "~/a", "Target": "/x"}),
        # volume options: the CLI always sends a DriverConfig once any volume-* is given
        (
            "target=/x,volume-nocopy",
            {"Type": "volume", "Target": "/x", "VolumeOptions": {"NoCopy": True, "DriverConfig": {}}},
        ),
        (
            "target=/x,volume-nocopy=false",
            {"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {}}},
        ),
        (
            "target=/x,volume-label=b=1,volume-label=a=2,volume-label=c,volume-label==x",
            {
                "Type": "volume",
                "Target": "/x",
                "VolumeOptions": {"Labels": {"a": "2", "b": "1", "c": ""}, "DriverConfig": {}},
            },
        ),
        (
            "target=/x,volume-driver=foo",
            {"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {"Name": "foo"}}},
        ),
        (
            "target=/x,volume-opt=a=b=c,volume-opt=o",
            {
                "Type": "volume",
                "Target": "/x",
                "VolumeOptions": {"DriverConfig": {"Options": {"a": "b=c", "o": ""}}},
            },
        ),
        (
            "src=v,target=/x,volume-subpath=a/b,volume-driver=",
            {
                "Type": "volume",
                "Source": "v",
                "Target": "/x",
                "VolumeOptions": {"Subpath": "a/b", "DriverConfig": {}},
            },
        ),
        (
            "type=volume,src=v,dst=/w,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-driver=local",
            {
                "Type": "volume",
                "Source": "v",
                "Target": "/w",
                "VolumeOptions": {
                    "NoCopy": True,
                    "Labels": {"a": "b"},
                    "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}},
                },
            },
        ),
        # bind options
        (
            "type=bind,src=/a,target=/x,bind-propagation=shared",
            {"Type": "bind", "Source": "/a", "Target": "/x", "BindOptions": {"Propagation": "shared"}},
        ),
        (
            "type=bind,src=/a,target=/x,bind-nonrecursive",
            {"Type": "bind", "Source": "/a", "Target": "/x", "BindOptions": {"NonRecursive": True}},
        ),
        (
            "type=bind,src=/a,target=/x,bind-nonrecursive=false",
            {"Type": "bind", "Source": "/a", "Target": "/x", "BindOptions": {}},
        ),
        (
            "type=bind,target=/x,bind-recursive=disabled,bind-recursive=enabled",
            {"Type": "bind", "Target": "/x", "BindOptions": {"NonRecursive": True}},
        ),
        (
            "type=bind,src=./a,target=/x,bind-recursive=writable,readonly",
            {
                "Type": "bind",
                "Source": CWD + "/a",
                "Target": "/x",
                "ReadOnly": True,
                "BindOptions": {"ReadOnlyNonRecursive": True},
            },
        ),
        (
            "type=bind,src=/a,target=/x,bind-recursive=readonly,readonly,bind-propagation=rprivate",
            {
                "Type": "bind",
                "Source": "/a",
                "Target": "/x",
                "ReadOnly": True,
                "BindOptions": {"Propagation": "rprivate", "ReadOnlyForceRecursive": True},
            },
        ),
        ("type=volume,target=/x,bind-recursive=enabled", {"Type": "volume", "Target": "/x"}),  # a no-op
        # tmpfs options
        (
            "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777",
            {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 0o1777}},
        ),
        (
            "type=tmpfs,target=/x,tmpfs-size=1.5k",
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"SizeBytes": 1536}},
        ),
        (
            "type=tmpfs,target=/x,tmpfs-mode=0755,tmpfs-size=0",
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Mode": 0o755}},
        ),
        ("type=tmpfs,target=/x,tmpfs-mode=0", {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {}}),
        (
            "type=tmpfs,target=/x,tmpfs-mode=37777777777",
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Mode": 0xFFFFFFFF}},
        ),
        ("type=tmpfs,target=/x,ro", {"Type": "tmpfs", "Target": "/x", "ReadOnly": True}),
        # image mounts (docker 28): the CLI sends them; the daemon side refuses them in pinnace
        (
            "type=image,src=busybox,target=/x,image-subpath=etc",
            {"Type": "image", "Source": "busybox", "Target": "/x", "ImageOptions": {"Subpath": "etc"}},
        ),
        # an unknown type is the daemon's to refuse
        ("type=cluster,target=/x", {"Type": "cluster", "Target": "/x"}),
        # CSV: quoted fields, doubled quotes, only the first record
        ('"src=a,b",target=/x', {"Type": "volume", "Source": "a,b", "Target": "/x"}),
        ('"target=/x"', {"Type": "volume", "Target": "/x"}),
        ('"src=a""b",target=/x', {"Type": "volume", "Source": 'a"b', "Target": "/x"}),
        ("target=/x\nsrc=/y", {"Type": "volume", "Target": "/x"}),
        ("\n\ntarget=/x", {"Type": "volume", "Target": "/x"}),
        ("\r\ntarget=/x\r\n", {"Type": "volume", "Target": "/x"}),
        ("target=/x\r", {"Type": "volume", "Target": "/x"}),
        ("src=a b,target=/x", {"Type": "volume", "Source": "a b", "Target": "/x"}),
        ("target=/x,readonly=false", {"Type": "volume", "Target": "/x"}),
    ],
)
def test_parse_mount_flag(value: str, expected: dict[str, Any]) -> None:
    assert parse_mount_flag(value, cwd=CWD) == expected


def test_parse_mount_flag_key_order_is_docker_json_order() -> None:
    got = parse_mount_flag("ro,bind-propagation=shared,dst=/x,type=bind,src=/a,consistency=cached")
    assert list(got) == ["Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions"]
    got = parse_mount_flag(
        "volume-opt=b=1,volume-opt=a=2,volume-label=z=1,volume-label=y=2,volume-nocopy,dst=/x"
    )
    assert list(got["VolumeOptions"]) == ["NoCopy", "Labels", "DriverConfig"]
    assert list(got["VolumeOptions"]["Labels"]) == ["y", "z"]  # Go writes map keys sorted
    assert list(got["VolumeOptions"]["DriverConfig"]["Options"]) == ["a", "b"]


def test_parse_mount_flag_defaults_to_the_working_directory() -> None:
    assert parse_mount_flag("src=.,dst=/x")["Source"] == os.getcwd()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "EOF"),
        ("\n\n", "EOF"),
        ("x=y", "unexpected key 'x' in 'x=y'"),
        (" target=/x", "unexpected key ' target' in ' target=/x'"),
        ("Foo=Bar", "unexpected key 'foo' in 'Foo=Bar'"),
        ("target=/x,bind-create-src=true", "unexpected key 'bind-create-src' in 'bind-create-src=true'"),
        ("foo", "invalid field 'foo' must be a key=value pair"),
        ("target=/x, ro", "invalid field ' ro' must be a key=value pair"),
        ("target=/x,", "invalid field '' must be a key=value pair"),
        (",target=/x", "invalid field '' must be a key=value pair"),
        ("target=/x,bind-create-src", "invalid field 'bind-create-src' must be a key=value pair"),
        ("target=", "target is required"),
        ("type=volume", "target is required"),
        ("type=,target=/x", "type is required"),
        ("Type=volume,Target=/x,Readonly=yes", "invalid value for readonly: yes"),
        ("target=/x,ro=", "invalid value for ro: "),
        ("target=/x,readonly= true", "invalid value for readonly:  true"),
        ("target=/x,volume-nocopy=x", "invalid value for volume-nocopy: x"),
        ("type=bind,target=/x,bind-nonrecursive=x", "invalid value for bind-nonrecursive: x"),
        (
            "type=bind,target=/x,bind-recursive=foo",
            'invalid value for bind-recursive: foo (must be "enabled", "disabled", "writable", or "readonly")',
        ),
        ("target=/x,tmpfs-size=1z", "invalid value for tmpfs-size: 1z"),
        ("type=tmpfs,target=/x,tmpfs-size=", "invalid value for tmpfs-size: "),
        ("type=tmpfs,target=/x,tmpfs-size=-1", "invalid value for tmpfs-size: -1"),
        ("type=tmpfs,target=/x,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
        ("type=tmpfs,target=/x,tmpfs-mode=", "invalid value for tmpfs-mode: "),
        ("type=tmpfs,target=/x,tmpfs-mode=+7", "invalid value for tmpfs-mode: +7"),
        ("type=tmpfs,target=/x,tmpfs-mode=0o755", "invalid value for tmpfs-mode: 0o755"),
        ("type=tmpfs,target=/x,tmpfs-mode=40000000000", "invalid value for tmpfs-mode: 40000000000"),
        # options of another type, in docker's order: volume, image, bind, tmpfs
        ("type=bind,target=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
        (
            "type=bind,src=/a,target=/x,volume-nocopy=false",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        (
            "type=bind,target=/x,volume-nocopy,bind-propagation=shared",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        ("type=image,target=/x,src=a,volume-nocopy", "cannot mix 'volume-*' options with mount type 'image'"),
        ("type=volume,target=/x,image-subpath=a", "cannot mix 'image-*' options with mount type 'volume'"),
        (
            "type=tmpfs,target=/x,image-subpath=a,bind-propagation=x",
            "cannot mix 'image-*' options with mount type 'tmpfs'",
        ),
        (
            "type=volume,target=/x,bind-propagation=shared,tmpfs-size=1",
            "cannot mix 'bind-*' options with mount type 'volume'",
        ),
        ("type=foo,target=/x,bind-propagation=x", "cannot mix 'bind-*' options with mount type 'foo'"),
        ("target=/x,tmpfs-mode=700", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
        # read-only recursion needs read-only (and rprivate)
        (
            "type=bind,target=/x,bind-recursive=writable",
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
        ),
        (
            "type=bind,target=/x,bind-recursive=readonly",
            "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
        ),
        (
            "type=bind,target=/x,bind-recursive=readonly,ro,bind-recursive=writable",
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
        ),
        # encoding/csv's errors (1-based byte columns)
        ('"a,b', 'parse error on line 1, column 5: extraneous or missing " in quoted-field'),
        ('src=a"b,target=/x', 'parse error on line 1, column 6: bare " in non-quoted-field'),
        ('"a"b,target=/x', 'parse error on line 1, column 3: extraneous or missing " in quoted-field'),
        ('target=/x,"ro"x', 'parse error on line 1, column 14: extraneous or missing " in quoted-field'),
        ('target="/x"', 'parse error on line 1, column 8: bare " in non-quoted-field'),
        ('ta"rget=/x', 'parse error on line 1, column 3: bare " in non-quoted-field'),
        ('target=/x,src=é"', 'parse error on line 1, column 17: bare " in non-quoted-field'),
        (
            '"a\nb"c,target=/x',
            'record on line 1; parse error on line 2, column 2: extraneous or missing " in quoted-field',
        ),
        (
            '"a\nb',
            'record on line 1; parse error on line 2, column 2: extraneous or missing " in quoted-field',
        ),
        ('\n\n"x', 'parse error on line 3, column 3: extraneous or missing " in quoted-field'),
        # a quoted field spanning lines is one field (docker prints it on two lines)
        ('"a\nb",target=/x', "invalid field 'a\nb' must be a key=value pair"),
        ('"a\r\nb",target=/x', "invalid field 'a\nb' must be a key=value pair"),
    ],
)
def test_parse_mount_flag_errors(value: str, message: str) -> None:
    assert error_of(parse_mount_flag, value) == message


# -- Binds on the daemon side ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/home", MountSpec(type=VOLUME, target="/home")),
        ("/with space", MountSpec(type=VOLUME, target="/with space")),
        ("/home/", MountSpec(type=VOLUME, target="/home")),
        ("/home:/home", MountSpec(type=BIND, target="/home", source="/home", create_source=True)),
        (
            "/home:/with space",
            MountSpec(type=BIND, target="/with space", source="/home", create_source=True),
        ),
        ("/rw:/ro", MountSpec(type=BIND, target="/ro", source="/rw", create_source=True)),
        ("/a:/b:", MountSpec(type=BIND, target="/b", source="/a", create_source=True)),
        (
            "//a//b/:/c/./d/",
            MountSpec(type=BIND, target="/c/d", source="/a/b", create_source=True),
        ),
        (
            "/hostPath:/containerPath:rw",
            MountSpec(type=BIND, target="/containerPath", source="/hostPath", mode="rw", create_source=True),
        ),
        (
            "/tmp:/tmp2:ro",
            MountSpec(
                type=BIND, target="/tmp2", source="/tmp", read_only=True, mode="ro", create_source=True
            ),
        ),
        (
            "/hostPath:/containerPath:ro,Z,rprivate",
            MountSpec(
                type=BIND,
                target="/containerPath",
                source="/hostPath",
                read_only=True,
                mode="ro,Z,rprivate",
                propagation="rprivate",
                create_source=True,
            ),
        ),
        (
            "/hostPath:/containerPath:slave,ro,Z",
            MountSpec(
                type=BIND,
                target="/containerPath",
                source="/hostPath",
                read_only=True,
                mode="slave,ro,Z",
                propagation="slave",
                create_source=True,
            ),
        ),
        (
            "/a:/b:z,cached",
            MountSpec(type=BIND, target="/b", source="/a", mode="z,cached", create_source=True),
        ),
        ("relative:/absolute-path", MountSpec(type=VOLUME, target="/absolute-path", source="relative")),
        (
            "hostPath:/containerPath:ro",
            MountSpec(type=VOLUME, target="/containerPath", source="hostPath", read_only=True, mode="ro"),
        ),
        ("name:/named1", MountSpec(type=VOLUME, target="/named1", source="name")),
        (
            "data:/x:nocopy,rw,delegated",
            MountSpec(type=VOLUME, target="/x", source="data", mode="nocopy,rw,delegated", nocopy=True),
        ),
        (
            "my.vol_1-2:/x:consistent,Z",
            MountSpec(type=VOLUME, target="/x", source="my.vol_1-2", mode="consistent,Z"),
        ),
    ],
)
def test_parse_bind(raw: str, expected: MountSpec) -> None:
    assert parse_bind(raw) == expected


@pytest.mark.parametrize("propagation", PROPAGATIONS)
def test_parse_bind_every_propagation(propagation: str) -> None:
    spec = parse_bind(f"/a:/b:{propagation}")
    assert (spec.type, spec.propagation, spec.mode) == (BIND, propagation, propagation)


def invalid(raw: str, kind: str, problem: str) -> tuple[str, str]:
    return raw, f"invalid volume specification: '{raw}': invalid mount config for type \"{kind}\": {problem}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "invalid volume specification: ''"),
        (":", "invalid volume specification: ':'"),
        ("::", "invalid volume specification: '::'"),
        (":::", "invalid volume specification: ':::'"),
        ("/tmp:", "invalid volume specification: '/tmp:'"),
        ("tmp:", "invalid volume specification: 'tmp:'"),
        (":test", "invalid volume specification: ':test'"),
        (":/test", "invalid volume specification: ':/test'"),
        (":test:", "invalid volume specification: ':test:'"),
        ("/tmp:::", "invalid volume specification: '/tmp:::'"),
        (":/tmp::", "invalid volume specification: ':/tmp::'"),
        ("/a:/b:ro:z", "invalid volume specification: '/a:/b:ro:z'"),
        # a destination and a mode alone
        ("/path:rw", "invalid volume specification: '/path:rw'"),
        ("/path:ro", "invalid volume specification: '/path:ro'"),
        ("/rw:rw", "invalid volume specification: '/rw:rw'"),
        ("path:ro", "invalid volume specification: 'path:ro'"),
        ("/path:shared", "invalid volume specification: '/path:shared'"),
        ("/path:slave", "invalid volume specification: '/path:slave'"),
        ("/path:private", "invalid volume specification: '/path:private'"),
        ("/path:nocopy", "invalid volume specification: '/path:nocopy'"),
        # modes
        ("/path:/path:sw", "invalid mode: sw"),
        ("/path:/path:rwz", "invalid mode: rwz"),
        ("/tmp:/tmp4:foo", "invalid mode: foo"),
        ("/path:/path:ro,rw", "invalid mode: ro,rw"),
        ("/path:/path:z,Z", "invalid mode: z,Z"),
        ("/path:/path:ro,rshared,rslave", "invalid mode: ro,rshared,rslave"),
        ("/path:/path:ro,z,rshared,rslave", "invalid mode: ro,z,rshared,rslave"),
        ("v:/path:nocopy,nocopy", "invalid mode: nocopy,nocopy"),
        ("/path:/path:cached,delegated", "invalid mode: cached,delegated"),
        ("/path:/path:ro,", "invalid mode: ro,"),
        ("/path:/path:RO", "invalid mode: RO"),
        ("/path:/path:default", "invalid mode: default"),
        # the destination
        invalid("./", "volume", "invalid mount path: './' mount path must be absolute"),
        invalid("../", "volume", "invalid mount path: '../' mount path must be absolute"),
        invalid("/:../", "bind", "invalid mount path: '../' mount path must be absolute"),
        invalid("/:path", "bind", "invalid mount path: 'path' mount path must be absolute"),
        invalid("/tmp:tmp", "bind", "invalid mount path: 'tmp' mount path must be absolute"),
        invalid("name:rel:ro", "volume", "invalid mount path: 'rel' mount path must be absolute"),
        invalid("/", "volume", "invalid specification: destination can't be '/'"),
        invalid("/a:/", "bind", "invalid specification: destination can't be '/'"),
        invalid("/a://", "bind", "invalid specification: destination can't be '/'"),
        invalid("vol:/x/..:ro", "volume", "invalid specification: destination can't be '/'"),
        invalid("a::ro", "volume", "field Target must not be empty"),
        invalid("\\x", "volume", "invalid mount path: '\\x' mount path must be absolute"),
        # options of the other kind
        invalid("name:/absolute-path:shared", "volume", "field BindOptions must not be specified"),
        invalid("name:/absolute-path:rprivate", "volume", "field BindOptions must not be specified"),
        invalid("name:/absolute-path:ro,rslave", "volume", "field BindOptions must not be specified"),
        invalid("/a:/b:nocopy", "bind", "field VolumeOptions must not be specified"),
        # the name of a volume, checked when docker creates it
        ("v:/x", "create v: volume name is too short, names should be at least two alphanumeric characters"),
        ("./x:/y", f'create ./x: "./x" {NAME_CHARS}'),
        ("x/y:/h", f'create x/y: "x/y" {NAME_CHARS}'),
        ("~/q:/i:ro", f'create ~/q: "~/q" {NAME_CHARS}'),
        ("-v:/x", f'create -v: "-v" {NAME_CHARS}'),
    ],
)
def test_parse_bind_errors(raw: str, message: str) -> None:
    assert error_of(parse_bind, raw) == message


def test_parse_bind_does_not_touch_the_host(tmp_path: Any) -> None:
    missing = tmp_path / "missing"
    spec = parse_bind(f"{missing}:/x")
    assert spec.source == str(missing) and spec.create_source
    assert not missing.exists()


# -- Mounts on the daemon side --------------------------------------------------------------------------


def test_mount_spec_bind(tmp_path: Any) -> None:
    assert mount_spec({"Type": "bind", "Source": str(tmp_path) + "/", "Target": "/x/"}) == MountSpec(
        type=BIND, target="/x", source=str(tmp_path)
    )
    spec = mount_spec(
        {
            "Type": "bind",
            "Source": str(tmp_path),
            "Target": "/x",
            "ReadOnly": True,
            "Consistency": "cached",
            "BindOptions": {"Propagation": "rshared", "NonRecursive": True, "ReadOnlyNonRecursive": True},
        }
    )
    assert spec == MountSpec(
        type=BIND,
        target="/x",
        source=str(tmp_path),
        read_only=True,
        propagation="rshared",
        non_recursive=True,
        read_only_non_recursive=True,
    )
    spec = mount_spec(
        {
            "Type": "bind",
            "Source": "/",
            "Target": "/host",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rprivate", "ReadOnlyForceRecursive": True},
        }
    )
    assert spec.source == "/" and spec.read_only_force_recursive and spec.propagation == "rprivate"


def test_mount_spec_bind_creates_nothing_unless_asked(tmp_path: Any) -> None:
    missing = str(tmp_path / "missing")
    message = f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    assert error_of(mount_spec, {"Type": "bind", "Source": missing, "Target": "/x"}) == message
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")  # stat follows links, as docker's does
    message = f'invalid mount config for type "bind": bind source path does not exist: {dangling}'
    assert error_of(mount_spec, {"Type": "bind", "Source": str(dangling), "Target": "/x"}) == message
    spec = mount_spec(
        {"Type": "bind", "Source": missing, "Target": "/x", "BindOptions": {"CreateMountpoint": True}}
    )
    assert spec.create_source and spec.source == missing
    assert not os.path.exists(missing)


def test_mount_spec_bind_stat_errors_are_go_path_errors(tmp_path: Any) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    message = f'invalid mount config for type "bind": stat {afile}/x: not a directory'
    assert error_of(mount_spec, {"Type": "bind", "Source": f"{afile}/x", "Target": "/x"}) == message


@pytest.mark.parametrize(
    ("mount", "expected"),
    [
        ({"Type": "volume", "Target": "/x"}, MountSpec(type=VOLUME, target="/x")),
        ({"Type": "volume", "Source": "", "Target": "/x"}, MountSpec(type=VOLUME, target="/x")),
        (
            {"Type": "volume", "Source": "data", "Target": "/x"},
            MountSpec(type=VOLUME, target="/x", source="data"),
        ),
        (
            {"Type": "volume", "Source": "data", "Target": "/x", "ReadOnly": True},
            MountSpec(type=VOLUME, target="/x", source="data", read_only=True),
        ),
        (
            {
                "Type": "volume",
                "Source": "v1",
                "Target": "/x",
                "VolumeOptions": {
                    "NoCopy": True,
                    "Labels": {"a": "b"},
                    "Subpath": "a/b",
                    "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}},
                },
            },
            MountSpec(
                type=VOLUME,
                target="/x",
                source="v1",
                nocopy=True,
                volume_driver="local",
                volume_labels=MappingProxyType({"a": "b"}),
                volume_options=MappingProxyType({"type": "tmpfs", "device": "tmpfs"}),
                subpath="a/b",
            ),
        ),
        (
            {"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {}, "Labels": None}},
            MountSpec(type=VOLUME, target="/x"),
        ),
        # another driver's names are that driver's business
        (
            {
                "Type": "volume",
                "Source": "a/b",
                "Target": "/x",
                "VolumeOptions": {"DriverConfig": {"Name": "nfs"}},
            },
            MountSpec(type=VOLUME, target="/x", source="a/b", volume_driver="nfs"),
        ),
        # options of another type that docker ignores
        (
            {"Type": "volume", "Target": "/x", "TmpfsOptions": {"SizeBytes": 1}},
            MountSpec(type=VOLUME, target="/x"),
        ),
        # Go's decoder matches member names whatever their case
        (
            {"type": "volume", "target": "/x", "SOURCE": "vv"},
            MountSpec(type=VOLUME, target="/x", source="vv"),
        ),
        ({"Type": "tmpfs", "Target": "/t"}, MountSpec(type=TMPFS, target="/t")),
        (
            {
                "Type": "tmpfs",
                "Target": "/t",
                "ReadOnly": True,
                "TmpfsOptions": {
                    "SizeBytes": 67108864,
                    "Mode": 0o1777,
                    "Options": [["exec"], ["noexec", "x"]],
                },
            },
            MountSpec(
                type=TMPFS,
                target="/t",
                read_only=True,
                tmpfs_size=67108864,
                tmpfs_mode=0o1777,
                tmpfs_options=("exec", "noexec=x"),
            ),
        ),
    ],
)
def test_mount_spec(mount: dict[str, Any], expected: MountSpec) -> None:
    assert mount_spec(mount) == expected


def mount_error(kind: str, problem: str) -> str:
    return f'invalid mount config for type "{kind}": {problem}'


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "bind", "Source": "/"}, mount_error("bind", "field Target must not be empty")),
        ({"Type": "volume", "Target": ""}, mount_error("volume", "field Target must not be empty")),
        ({"Target": ""}, mount_error("", "field Target must not be empty")),
        ({"Target": "/x"}, mount_error("", "mount type unknown")),
        ({"Type": "npipe", "Target": "/x"}, mount_error("npipe", "mount type unknown")),
        ({"Type": "cluster", "Target": "/x"}, mount_error("cluster", "mount type unknown")),
        ({"Type": "Bind", "Target": "/x", "Source": "/"}, mount_error("Bind", "mount type unknown")),
        (
            {"Type": "volume", "Target": "/"},
            mount_error("volume", "invalid specification: destination can't be '/'"),
        ),
        (
            {"Type": "tmpfs", "Target": "/a/.."},
            mount_error("tmpfs", "invalid specification: destination can't be '/'"),
        ),
        (
            {"Type": "volume", "Target": "x"},
            mount_error("volume", "invalid mount path: 'x' mount path must be absolute"),
        ),
        (
            {"Type": "bind", "Source": "/", "Target": "a\\b"},
            mount_error("bind", "invalid mount path: 'a/b' mount path must be absolute"),
        ),
        # bind
        ({"Type": "bind", "Target": "/x"}, mount_error("bind", "field Source must not be empty")),
        (
            {"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"Propagation": "bogus"}},
            mount_error("bind", "invalid propagation mode: bogus"),
        ),
        (
            {"Type": "bind", "Source": "/", "Target": "/x", "VolumeOptions": {}},
            mount_error("bind", "field VolumeOptions must not be specified"),
        ),
        (
            {"Type": "bind", "Source": "rel", "Target": "/x"},
            mount_error("bind", "invalid mount path: 'rel' mount path must be absolute"),
        ),
        (
            {"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"ReadOnlyNonRecursive": True}},
            "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive",
        ),
        (
            {"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"ReadOnlyForceRecursive": True}},
            "mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive",
        ),
        (
            {
                "Type": "bind",
                "Source": "/",
                "Target": "/x",
                "ReadOnly": True,
                "BindOptions": {"ReadOnlyNonRecursive": True, "ReadOnlyForceRecursive": True},
            },
            "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive",
        ),
        # volume
        (
            {"Type": "volume", "Target": "/x", "BindOptions": {}},
            mount_error("volume", "field BindOptions must not be specified"),
        ),
        (
            {"Type": "volume", "Target": "/x", "ReadOnly": True},
            mount_error("volume", "must not set ReadOnly mode when using anonymous volumes"),
        ),
        (
            {"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "a"}},
            mount_error("volume", "must not set Subpath when using anonymous volumes"),
        ),
        (
            {"Type": "volume", "Source": "vv", "Target": "/x", "VolumeOptions": {"Subpath": "../a"}},
            mount_error("volume", "subpath must be a relative path within the volume"),
        ),
        (
            {"Type": "volume", "Source": "vv", "Target": "/x", "VolumeOptions": {"Subpath": "a/../../b"}},
            mount_error("volume", "subpath must be a relative path within the volume"),
        ),
        (
            {"Type": "volume", "Source": "vv", "Target": "/x", "VolumeOptions": {"Subpath": "/a"}},
            mount_error("volume", "subpath must be a relative path within the volume"),
        ),
        (
            {"Type": "volume", "Source": "a/b", "Target": "/x"},
            f'create a/b: "a/b" {NAME_CHARS}',
        ),
        (
            {
                "Type": "volume",
                "Source": "a",
                "Target": "/x",
                "VolumeOptions": {"DriverConfig": {"Name": "local"}},
            },
            "create a: volume name is too short, names should be at least two alphanumeric characters",
        ),
        # tmpfs
        (
            {"Type": "tmpfs", "Target": "/x", "BindOptions": {}},
            mount_error("tmpfs", "field BindOptions must not be specified"),
        ),
        (
            {"Type": "tmpfs", "Source": "tmpfs", "Target": "/x"},
            mount_error("tmpfs", "field Source must not be specified"),
        ),
        (
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Options": [["size", "1m"]]}},
            mount_error("tmpfs", "invalid option: size"),
        ),
        (
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Options": [[]]}},
            mount_error("tmpfs", "invalid option array length"),
        ),
        (
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Options": [["exec", "a", "b"]]}},
            mount_error("tmpfs", "invalid option array length"),
        ),
        # image: docker's checks, then pinnace's refusal (below)
        (
            {"Type": "image", "Source": "busybox", "Target": "/x", "BindOptions": {}},
            mount_error("image", "field BindOptions must not be specified"),
        ),
        ({"Type": "image", "Target": "/x"}, mount_error("image", "field Source must not be empty")),
        # JSON of the wrong kind
        (
            {"Type": 1, "Target": "/x"},
            "json: cannot unmarshal number into Go struct field Mount.Type of type mount.Type",
        ),
        (
            {"Type": "volume", "Target": "/x", "ReadOnly": "yes"},
            "json: cannot unmarshal string into Go struct field Mount.ReadOnly of type bool",
        ),
        (
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Mode": -1}},
            "json: cannot unmarshal number -1 into Go struct field Mount.TmpfsOptions.Mode of type fs.FileMode",
        ),
        (
            {"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"SizeBytes": "1m"}},
            "json: cannot unmarshal string into Go struct field Mount.TmpfsOptions.SizeBytes of type int64",
        ),
        (
            {"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": []},
            "json: cannot unmarshal array into Go struct field Mount.BindOptions of type object",
        ),
    ],
)
def test_mount_spec_errors(mount: dict[str, Any], message: str) -> None:
    assert error_of(mount_spec, mount) == message


def test_mount_spec_image_is_not_supported() -> None:
    with pytest.raises(NotImplementedYet, match='mount type "image"'):
        mount_spec({"Type": "image", "Source": "busybox", "Target": "/x"})


def test_mount_flag_then_mount_spec(tmp_path: Any) -> None:
    flag = parse_mount_flag(f"type=bind,src={tmp_path},dst=/data,ro,bind-propagation=rslave")
    assert mount_spec(flag) == MountSpec(
        type=BIND, target="/data", source=str(tmp_path), read_only=True, propagation="rslave"
    )
    flag = parse_mount_flag("src=cache,dst=/c,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs")
    assert mount_spec(flag) == MountSpec(
        type=VOLUME,
        target="/c",
        source="cache",
        nocopy=True,
        volume_options=MappingProxyType({"device": "tmpfs", "type": "tmpfs"}),
    )
    flag = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1g,tmpfs-mode=700")
    assert mount_spec(flag) == MountSpec(type=TMPFS, target="/t", tmpfs_size=1 << 30, tmpfs_mode=0o700)


# -- tmpfs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/run", ("/run", "")),
        ("/run:", ("/run", "")),
        ("/tmp:rw,size=1g", ("/tmp", "rw,size=1g")),
        ("/a:b:c", ("/a", "b:c")),
        ("x:bogus", ("x", "bogus")),  # the CLI checks nothing: the daemon does
        ("", ("", "")),
        (":size=1", ("", "size=1")),
    ],
)
def test_parse_tmpfs_flag(value: str, expected: tuple[str, str]) -> None:
    assert parse_tmpfs_flag(value) == expected


@pytest.mark.parametrize(
    ("target", "data", "expected"),
    [
        ("/run", "", MountSpec(type=TMPFS, target="/run")),
        ("/run/", "", MountSpec(type=TMPFS, target="/run")),
        (
            "/tmp",
            "rw,size=1g,exec,uid=1,gid=2,mode=1777,nr_inodes=10k,nr_blocks=1,mpol=default,noatime,defaults",
            MountSpec(
                type=TMPFS,
                target="/tmp",
                tmpfs_options=(
                    "rw",
                    "size=1g",
                    "exec",
                    "uid=1",
                    "gid=2",
                    "mode=1777",
                    "nr_inodes=10k",
                    "nr_blocks=1",
                    "mpol=default",
                    "noatime",
                    "defaults",
                ),
            ),
        ),
        ("/ro", "ro", MountSpec(type=TMPFS, target="/ro", read_only=True, tmpfs_options=("ro",))),
        ("/rw", "ro,rw", MountSpec(type=TMPFS, target="/rw", tmpfs_options=("ro", "rw"))),
        ("/p", "shared", MountSpec(type=TMPFS, target="/p", tmpfs_options=("shared",))),
        ("/e", "size=", MountSpec(type=TMPFS, target="/e", tmpfs_options=("size=",))),
    ],
)
def test_tmpfs_spec(target: str, data: str, expected: MountSpec) -> None:
    assert tmpfs_spec(target, data) == expected


@pytest.mark.parametrize(
    ("target", "data", "message"),
    [
        ("/", "", "invalid specification: destination can't be '/'"),
        ("//", "", "invalid specification: destination can't be '/'"),
        ("/a/..", "", "invalid specification: destination can't be '/'"),
        ("run", "", "invalid mount path: 'run' mount path must be absolute"),
        ("", "", "invalid mount path: '' mount path must be absolute"),
        ("/run", "bogus", 'invalid tmpfs option "bogus"'),
        ("/run", "bogus1,bogus2", 'invalid tmpfs option "bogus2"'),  # read from the end, as docker does
        ("/run", "size", 'invalid tmpfs option "size"'),
        ("/run", "foo=1", 'invalid tmpfs option "foo"'),
        ("/run", "size=1m,", 'invalid tmpfs option ""'),
        ("/run", "Size=1m", 'invalid tmpfs option "Size"'),
    ],
)
def test_tmpfs_spec_errors(target: str, data: str, message: str) -> None:
    assert error_of(tmpfs_spec, target, data) == message


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        (tmpfs_spec("/run", ""), ["noexec", "nosuid", "nodev", "rprivate"]),
        (tmpfs_spec("/run", "exec"), ["nosuid", "nodev", "rprivate", "exec"]),
        (tmpfs_spec("/run", "suid,dev"), ["noexec", "rprivate", "suid", "dev"]),
        (
            tmpfs_spec("/run", "size=1g,mode=700,size=2m"),
            ["noexec", "nosuid", "nodev", "rprivate", "mode=700", "size=2m"],
        ),
        (tmpfs_spec("/run", "shared"), ["noexec", "nosuid", "nodev", "shared"]),
        (tmpfs_spec("/run", "ro,rw"), ["noexec", "nosuid", "nodev", "rprivate", "rw"]),
        (tmpfs_spec("/run", "size=1m,ro"), ["noexec", "nosuid", "nodev", "rprivate", "size=1m", "ro"]),
        (tmpfs_spec("/run", "defaults,noexec"), ["nosuid", "nodev", "rprivate", "noexec"]),
        # --mount's TmpfsOptions, as ConvertTmpfsOptions writes them
        (
            MountSpec(type=TMPFS, target="/t", tmpfs_size=64 << 20, tmpfs_mode=0o1777),
            ["noexec", "nosuid", "nodev", "rprivate", "mode=1777", "size=64m"],
        ),
        (
            MountSpec(type=TMPFS, target="/t", tmpfs_size=2 << 30),
            ["noexec", "nosuid", "nodev", "rprivate", "size=2g"],
        ),
        (
            MountSpec(type=TMPFS, target="/t", tmpfs_size=1536),
            ["noexec", "nosuid", "nodev", "rprivate", "size=1536"],
        ),
        (
            MountSpec(type=TMPFS, target="/t", tmpfs_size=3072),
            ["noexec", "nosuid", "nodev", "rprivate", "size=3k"],
        ),
        (
            MountSpec(type=TMPFS, target="/t", tmpfs_mode=0o700),
            ["noexec", "nosuid", "nodev", "rprivate", "mode=700"],
        ),
        (
            MountSpec(type=TMPFS, target="/t", read_only=True, tmpfs_size=1 << 20, tmpfs_options=("exec",)),
            ["nosuid", "nodev", "rprivate", "ro", "size=1m", "exec"],
        ),
    ],
)
def test_tmpfs_mount_options(spec: MountSpec, options: list[str]) -> None:
    assert tmpfs_mount_options(spec) == options


def test_tmpfs_mount_options_refuses_what_docker_refuses_at_start() -> None:
    spec = MountSpec(type=TMPFS, target="/t", tmpfs_options=("exec=1",))
    assert error_of(tmpfs_mount_options, spec) == 'invalid tmpfs option "exec"'


# -- --volumes-from -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web", ("web", "")),
        ("web:", ("web", "")),
        ("web:ro", ("web", "ro")),
        ("web:rw", ("web", "rw")),
        ("web:ro,z", ("web", "ro")),
        ("web:Z,rw", ("web", "rw")),
        ("web:z", ("web", "")),
        ("web:cached", ("web", "")),
        ("3f2a:ro,consistent", ("3f2a", "ro")),
    ],
)
def test_parse_volumes_from(value: str, expected: tuple[str, str]) -> None:
    assert parse_volumes_from(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "volumes-from specification cannot be an empty string"),
        ("web:bogus", "invalid mode: bogus"),
        ("web:ro:x", "invalid mode: ro:x"),
        ("web:ro,rw", "invalid mode: ro,rw"),
        ("web:RO", "invalid mode: RO"),
        ("web:shared", "invalid mode: shared"),
        ("web:ro,rprivate", "invalid mode: ro,rprivate"),
        ("web:nocopy", "invalid mode: nocopy"),
        ("web:rw,nocopy", "invalid mode: rw,nocopy"),
    ],
)
def test_parse_volumes_from_errors(value: str, message: str) -> None:
    assert error_of(parse_volumes_from, value) == message


# -- the local driver -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ab", "a1", "0a", "my-vol", "my_vol", "my.vol", "A.b-C_9", "x" * 200])
def test_check_volume_name_accepts(name: str) -> None:
    check_volume_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a", "volume name is too short, names should be at least two alphanumeric characters"),
        (".", "volume name is too short, names should be at least two alphanumeric characters"),
        ("~", "volume name is too short, names should be at least two alphanumeric characters"),
        ("", f'"" {NAME_CHARS}'),
        ("é", f'"é" {NAME_CHARS}'),  # two bytes: not "too short"
        ("hello world", f'"hello world" {NAME_CHARS}'),
        ("-ab", f'"-ab" {NAME_CHARS}'),
        ("_ab", f'"_ab" {NAME_CHARS}'),
        (".ab", f'".ab" {NAME_CHARS}'),
        ("a/b", f'"a/b" {NAME_CHARS}'),
        ("..", f'".." {NAME_CHARS}'),
        ('a"b', f'"a\\"b" {NAME_CHARS}'),  # Go's %q
        ("ab\n", f'"ab\\n" {NAME_CHARS}'),
    ],
)
def test_check_volume_name_errors(name: str, message: str) -> None:
    assert error_of(check_volume_name, name) == message


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"type": "tmpfs", "device": "tmpfs"},
        {"type": "tmpfs", "device": "tmpfs", "o": "size=100m,uid=1000"},
        {"type": "none", "device": "/srv/data", "o": "bind"},
        {"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1,rw"},
        {"type": "cifs", "device": "//some.example.com/thepath", "o": "foo"},
        {"type": "cifs", "device": "//[::1]/share", "o": "foo"},
        {"type": "cifs", "device": "//user@host:/share", "o": "foo"},  # an empty port is no port
        {"type": "cifs", "device": "host:1/share", "o": "foo"},  # scheme "host": an opaque URL, no host
        {"size": "0"},
    ],
)
def test_check_local_options_accepts(options: dict[str, str]) -> None:
    check_local_options(options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hello": "world"}, 'invalid option: "hello"'),
        ({"Type": "tmpfs"}, 'invalid option: "Type"'),
        ({"type": "tmpfs", "device": "tmpfs", "uid": "1"}, 'invalid option: "uid"'),
        ({"size": "hello"}, "invalid size: 'hello'"),
        ({"size": "1234"}, "quota size requested but no quota support"),
        ({"size": "1g", "type": "tmpfs"}, "quota size requested but no quota support"),
        ({"device": "foo"}, 'missing required option: "type"'),
        ({"type": "foo"}, 'missing required option: "device"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"o": "size=1m"}, 'missing required option: "device"'),
        ({"o": "foo", "type": "foo"}, 'missing required option: "device"'),
        ({"o": "foo", "device": "foo"}, 'missing required option: "type"'),
        (
            {"type": "cifs", "device": "//some.example.com:2345/thepath", "o": "foo"},
            "port not allowed in CIFS device URL, include 'port' in 'o='",
        ),
        (
            {"type": "cifs", "device": "//[::1]:445/share", "o": "foo"},
            "port not allowed in CIFS device URL, include 'port' in 'o='",
        ),
        (
            {"type": "cifs", "device": "smb://host:445/share", "o": "foo"},
            "port not allowed in CIFS device URL, include 'port' in 'o='",
        ),
        (
            {"type": "cifs", "device": ":::", "o": "foo"},
            'error parsing mount device url: parse ":::": missing protocol scheme',
        ),
        (
            {"type": "cifs", "device": "//host:x/share", "o": "foo"},
            'error parsing mount device url: parse "//host:x/share": invalid port ":x" after host',
        ),
        (
            {"type": "cifs", "device": "1host:1/share", "o": "foo"},
            'error parsing mount device url: parse "1host:1/share": first path segment in URL cannot contain colon',
        ),
        (
            {"type": "cifs", "device": "//[::1/share", "o": "foo"},
            "error parsing mount device url: parse \"//[::1/share\": missing ']' in host",
        ),
        (
            {"type": "cifs", "device": "//host\x7f/share", "o": "foo"},
            'error parsing mount device url: parse "//host\\x7f/share": net/url: invalid control character in URL',
        ),
    ],
)
def test_check_local_options_errors(options: dict[str, str], message: str) -> None:
    assert error_of(check_local_options, options) == message


def test_propagations() -> None:
    assert sorted(PROPAGATIONS) == ["private", "rprivate", "rshared", "rslave", "shared", "slave"]
    assert specs.LOCAL_OPTIONS == ("type", "o", "device", "size")
