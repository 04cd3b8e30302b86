"""The Python examples (examples/python/) run and say they are right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BOUND

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"


@pytest.mark.parametrize("script,says", [("counter.py", "800 of 800"), ("transaction.py", "0 left")])
def test_example(script: str, says: str) -> None:
    if not (EXAMPLES / script).exists():
        pytest.skip(f"{EXAMPLES} is not beside the tests")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=BOUND * 2
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert says in out.stdout
