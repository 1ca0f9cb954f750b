"""The examples in docs/language.md marked `# runs as a test` run, on every backend here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tilelang import backend as backends

from conftest import BACKENDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if b.startswith("# runs as a test")]


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_runs(index, backend, tmp_path, monkeypatch):
    # Every call without backend= goes to `backend`; kernels must live in a file (the frontend reads
    # their source), so each example is written to one and imported.
    monkeypatch.setattr(backends, "default_for", lambda device: backends.get(backend))
    path = tmp_path / f"doc_example_{index}.py"
    path.write_text(BLOCKS[index])
    spec = importlib.util.spec_from_file_location(path.stem, path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
