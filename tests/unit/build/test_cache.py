"""The build cache's rows: keys, why a step missed, usage and pruning (a real store database)."""

from __future__ import annotations

from pathlib import Path

from pinnace.build.cache import BuildCache, Entry, step_key
from pinnace.meta.db import Database


def entry(key: str, size: int, digest: str = "") -> Entry:
    return Entry(
        key, "application/vnd.oci.image.layer.v1.tar", digest or "sha256:" + key[-64:], size, "", "", ""
    )


def test_keys_depend_on_parent_and_inputs_only(tmp_path: Path) -> None:
    a = step_key("p", {"run": ["sh", "-c", "x"], "env": ["A=1"]})
    assert a == step_key("p", {"env": ["A=1"], "run": ["sh", "-c", "x"]})  # key order is not content
    assert a != step_key("q", {"run": ["sh", "-c", "x"], "env": ["A=1"]})
    assert a != step_key("p", {"run": ["sh", "-c", "y"], "env": ["A=1"]})


def test_why_a_step_missed_names_what_changed(tmp_path: Path) -> None:
    cache = BuildCache(Database(tmp_path / "pinnace.db"))
    assert "no earlier build" in cache.why_missed("parent", {"run": "x"})
    key = step_key("parent", {"op": "COPY", "sources": "sha256:aaa"})
    cache.put(key, "parent", {"op": "COPY", "sources": "sha256:aaa"}, entry(key, 10))
    why = cache.why_missed("parent", {"op": "COPY", "sources": "sha256:bbb"})
    assert why == "changed since the last build: sources (was sha256:aaa, now sha256:bbb)"
    assert cache.get(key) is not None and cache.get("sha256:" + "0" * 64) is None


def test_usage_and_prune_keep_the_most_recently_used(tmp_path: Path) -> None:
    import time

    cache = BuildCache(Database(tmp_path / "pinnace.db"))
    keys = [step_key("p", {"n": i}) for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(key, "p", {"n": i}, entry(key, 100 * (i + 1)))
        time.sleep(0.01)
    assert (cache.usage().entries, cache.usage().total) == (3, 600)
    assert cache.prune(keep_bytes=500) == 1  # the oldest (100 bytes) goes; 300 + 200 stay
    assert cache.get(keys[0]) is None and cache.get(keys[2]) is not None
    assert cache.prune() == 2 and cache.usage().entries == 0
