"""pinnace._util.jsonc against json: the same documents, the same errors, fresh interpreters too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace._util import jsonc

SRC = Path(__file__).resolve().parents[3] / "src"

DOCS = ['{"a": [1, 2.5, true, null, "x\\u00e9"], "b": {}}', " [] ", '"s"', '{"k": -1e3, "n": {"m": [[]]}}']


@pytest.mark.parametrize("doc", DOCS)
def test_round_trips_like_json(doc: str) -> None:
    value = jsonc.loads(doc)
    assert value == json.loads(doc)
    assert jsonc.loads(doc.encode()) == value
    assert jsonc.dumps(value) == json.dumps(value, ensure_ascii=False)
    assert jsonc.dumps(value, compact=True) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert jsonc.dumps(value, indent="  ") == json.dumps(value, ensure_ascii=False, indent="  ")


@pytest.mark.parametrize("bad", ["", "{", "[1,]", "{} x", "nul", "{not json"])
def test_bad_documents_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        jsonc.loads(bad)


def test_errors_in_a_fresh_interpreter_without_json() -> None:
    """The C scanner needs json.decoder for its errors; jsonc must not depend on it being loaded."""
    code = (
        f"import sys; sys.path[:0] = [{str(SRC)!r}]\n"
        "from pinnace._util import jsonc\n"
        "assert 'json' not in sys.modules\n"
        "try:\n    jsonc.loads(b'{not json')\nexcept ValueError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("JSONDecodeError Expecting property name")


def test_non_serialisable_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        jsonc.dumps({"a": object()})
