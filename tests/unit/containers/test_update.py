"""docker update's rules (moby verifyContainerSettings, UpdateContainer, toContainerdResources) without a container."""

from __future__ import annotations

import pytest

from pinnace.containers import update as u
from pinnace.containers.update import UpdateConfig
from pinnace.errors import Conflict, InvalidArgument

MiB = 1024 * 1024


def test_restart_policy_parse_and_validate_in_dockers_words() -> None:
    assert u.parse_restart_policy("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert u.parse_restart_policy("always") == {"Name": "always", "MaximumRetryCount": 0}
    with pytest.raises(InvalidArgument, match="no policy provided before colon"):
        u.parse_restart_policy(":3")
    with pytest.raises(InvalidArgument, match="maximum retry count must be an integer"):
        u.parse_restart_policy("on-failure:x")
    with pytest.raises(InvalidArgument, match="unknown policy 'sometimes'; use one of 'no', 'always'"):
        u.validate_restart_policy({"Name": "sometimes", "MaximumRetryCount": 0})
    with pytest.raises(InvalidArgument, match="can only be used with 'on-failure'$"):
        u.validate_restart_policy({"Name": "always", "MaximumRetryCount": 2})
    with pytest.raises(InvalidArgument, match="cannot be negative"):
        u.validate_restart_policy({"Name": "on-failure", "MaximumRetryCount": -1})


def test_verify_checks_the_request_alone() -> None:
    with pytest.raises(InvalidArgument, match="Minimum memory limit allowed is 6MB"):
        u.verify(UpdateConfig(memory=1 * MiB), ncpu=2)
    with pytest.raises(InvalidArgument, match="Minimum memoryswap limit should be larger than memory limit"):
        u.verify(UpdateConfig(memory=64 * MiB, memory_swap=32 * MiB), ncpu=2)
    with pytest.raises(InvalidArgument, match="from 0.01 to 2.00"):
        u.verify(UpdateConfig(nano_cpus=3_000_000_000), ncpu=2)
    # swap alone is fine in an update: the container may have a memory limit already
    assert u.verify(UpdateConfig(memory_swap=64 * MiB), ncpu=2) == []


def test_merge_keeps_what_is_not_asked_for() -> None:
    stored = {
        "Memory": 64 * MiB,
        "MemorySwap": 128 * MiB,
        "CpuShares": 0,
        "PidsLimit": None,
        "AutoRemove": False,
    }
    merged = u.merge(stored, UpdateConfig(cpu_shares=512, pids_limit=-1, restart_policy={"Name": "always"}))
    assert merged["Memory"] == 64 * MiB
    assert merged["CpuShares"] == 512
    assert merged["PidsLimit"] == 0  # -1 and 0 both mean unlimited
    assert merged["RestartPolicy"] == {"Name": "always"}
    assert stored["CpuShares"] == 0  # not changed in place


def test_merge_refuses_as_moby() -> None:
    with pytest.raises(Conflict, match="Memory limit should be smaller than already set memoryswap limit"):
        u.merge({"Memory": 0, "MemorySwap": 0}, UpdateConfig(memory=64 * MiB))
    assert u.merge({"MemorySwap": 0}, UpdateConfig(memory=64 * MiB, memory_swap=-1))["MemorySwap"] == -1
    with pytest.raises(Conflict, match="Nano CPUs cannot be updated as CPU Period has already been set"):
        u.merge({"CpuPeriod": 50_000}, UpdateConfig(nano_cpus=500_000_000))
    with pytest.raises(Conflict, match="CPU Quota cannot be updated as NanoCPUs has already been set"):
        u.merge({"NanoCpus": 500_000_000}, UpdateConfig(cpu_quota=20_000))
    with pytest.raises(Conflict, match="AutoRemove is enabled"):
        u.merge({"AutoRemove": True}, UpdateConfig(restart_policy={"Name": "always", "MaximumRetryCount": 0}))


def test_resources_are_what_the_request_sets() -> None:
    assert u.resources(UpdateConfig()) == {}
    assert u.resources(
        UpdateConfig(memory=64 * MiB, memory_swap=-1, nano_cpus=1_500_000_000, cpuset_cpus="0", pids_limit=0)
    ) == {
        "memory": {"limit": 64 * MiB, "swap": -1},
        "cpu": {"period": 100_000, "quota": 150_000, "cpus": "0"},
        "pids": {"limit": -1},
    }
