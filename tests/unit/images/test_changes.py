"""--change instructions applied to an image config, as docker applies them."""

from __future__ import annotations

import pytest

from pinnace.errors import InvalidArgument
from pinnace.images.changes import apply_changes


def test_each_instruction() -> None:
    cfg = apply_changes(
        {"Env": ["PATH=/bin", "A=old"]},
        [
            'CMD ["sh", "-c", "echo hi"]',
            "ENTRYPOINT /entry.sh --flag",
            "ENV A=new B=two",
            "ENV C three words",
            'LABEL "com.example.x"="a b" y=z',
            "EXPOSE 80 53/udp",
            'VOLUME ["/data", "/logs"]',
            "WORKDIR /srv",
            "USER app:app",
            "STOPSIGNAL SIGQUIT",
            "ONBUILD RUN true",
        ],
    )
    assert cfg["Cmd"] == ["sh", "-c", "echo hi"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/entry.sh --flag"]
    assert cfg["Env"] == ["PATH=/bin", "A=new", "B=two", "C=three words"]
    assert cfg["Labels"] == {"com.example.x": "a b", "y": "z"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}}
    assert (cfg["WorkingDir"], cfg["User"], cfg["StopSignal"]) == ("/srv", "app:app", "SIGQUIT")
    assert cfg["OnBuild"] == ["RUN true"]


def test_lowercase_instruction_is_accepted() -> None:
    assert apply_changes({}, ["cmd echo"])["Cmd"] == ["/bin/sh", "-c", "echo"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN make", "RUN is not a valid change command"),
        ("FROM scratch", "FROM is not a valid change command"),
        ("ENV =x", "ENV names can not be blank"),
        ("WORKDIR", "WORKDIR requires at least one argument"),
    ],
)
def test_refused(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [change])
