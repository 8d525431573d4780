"""A short run of bench/load_mixed.py: streamed chats, ingestion and dashboard reads at once on a
real ``parley serve`` (SQLite, the default single-machine install, where every write takes the
one write lock). The script itself checks that every answer a client received is stored with its
usage records and that every upload is indexed; it exits 1 otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load_mixed.py"

pytestmark = pytest.mark.slow


def test_twenty_seconds_of_mixed_load_loses_nothing(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--minutes", "0.33", "--chats", "50", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "verified: every streamed answer is stored" in run.stdout
    answers = next(line for line in run.stdout.splitlines() if line.startswith("answers "))
    assert int(answers.split()[1]) >= 50, run.stdout  # the load ran: an answer per chat at least
