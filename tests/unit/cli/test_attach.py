"""The signal proxy of a session without a terminal: which signals pass, and in what order."""

from __future__ import annotations

import signal

from pinnace.cli.attach import Forwarder, proxied_signals


def test_the_proxy_skips_what_docker_skips_under_any_alias() -> None:
    """SIGCLD is SIGCHLD: a child of the CLI ending (an ssh transport) must not reach the container."""
    proxied = proxied_signals()
    assert signal.SIGTERM in proxied and signal.SIGINT in proxied and signal.SIGUSR1 in proxied
    for skipped in (
        signal.SIGCHLD,
        signal.SIGWINCH,
        signal.SIGPIPE,
        signal.SIGURG,
        signal.SIGKILL,
        signal.SIGSTOP,
    ):
        assert skipped not in proxied
    assert len(proxied) == len(set(proxied))


def test_a_signal_landing_while_one_is_forwarded_waits_its_turn() -> None:
    """Forwarding is a request on the engine's connection: a second must not start inside the first."""
    calls: list[tuple[str, int]] = []

    def proxy(signum: int) -> None:
        calls.append(("begin", signum))
        if signum == signal.SIGTERM:
            forward(signal.SIGUSR1, None)  # lands mid-request
            forward(signal.SIGUSR2, None)
        calls.append(("end", signum))

    forward = Forwarder(proxy)
    forward(signal.SIGTERM, None)
    assert calls == [
        ("begin", signal.SIGTERM),
        ("end", signal.SIGTERM),
        ("begin", signal.SIGUSR1),
        ("end", signal.SIGUSR1),
        ("begin", signal.SIGUSR2),
        ("end", signal.SIGUSR2),
    ]


def test_a_failed_forward_does_not_wedge_the_next() -> None:
    seen: list[int] = []

    def proxy(signum: int) -> None:
        seen.append(signum)
        if len(seen) == 1:
            raise OSError("engine gone")

    forward = Forwarder(proxy)
    try:
        forward(signal.SIGTERM, None)
    except OSError:
        pass
    forward(signal.SIGINT, None)
    assert seen == [signal.SIGTERM, signal.SIGINT]
