"""docker top's filtering of the host's ps output (moby parsePSOutput), on captured ps text."""

from __future__ import annotations

import pytest

from pinnace.containers import top
from pinnace.errors import InvalidArgument, Unavailable

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242       1  0 10:01 ?        00:00:00 sh -c while true; do sleep 1; done
root        4250    4242  0 10:01 ?        00:00:00 sleep 1
root        5000       1  0 10:02 pts/0    00:00:00 bash
"""


def test_keeps_only_the_containers_pids_and_joins_the_command() -> None:
    titles, processes = top.parse_ps_output(PS_EF, {4242, 4250})
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert processes == [
        ["root", "4242", "1", "0", "10:01", "?", "00:00:00", "sh -c while true; do sleep 1; done"],
        ["root", "4250", "4242", "0", "10:01", "?", "00:00:00", "sleep 1"],
    ]


def test_thread_lines_follow_their_process() -> None:
    output = "PID TID CMD\n10 - a\n- 10 -\n- 11 -\n20 - b\n- 20 -\n"
    assert top.parse_ps_output(output, {10})[1] == [["10", "-", "a"], ["-", "10", "-"], ["-", "11", "-"]]


def test_no_pid_column_and_bad_pids_are_docker_errors() -> None:
    with pytest.raises(Unavailable, match="Couldn't find PID field in ps output"):
        top.parse_ps_output("USER COMMAND\nroot init\n", {1})
    with pytest.raises(Unavailable, match="Unexpected pid 'x'"):
        top.parse_ps_output("PID CMD\nx init\n", {1})


def test_only_ascii_whitespace_splits_fields() -> None:
    assert top.fields_ascii(" a\tb\u00a0c  d ") == ["a", "b\u00a0c", "d"]


def test_a_renamed_pid_column_is_refused() -> None:
    top.validate_ps_args("-o pid=PID,comm")
    top.validate_ps_args("-ef")
    with pytest.raises(InvalidArgument, match='specifying "user=PID" is not allowed'):
        top.validate_ps_args("-o user=PID")


def test_runs_the_hosts_ps() -> None:
    import os

    titles, processes = top.top([os.getpid()], "-o pid,comm")
    assert titles == ["PID", "COMMAND"]
    assert processes == [[str(os.getpid()), processes[0][1]]]
    with pytest.raises(Unavailable, match="^ps: "):
        top.top([os.getpid()], "--no-such-option")
