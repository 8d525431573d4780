"""The README's first steps, run as written (bash, curl and jq) against ``parley serve`` started
the way the README starts it, on a fresh data folder: a new user's first session must work."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ServerProcess, parley_env

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def first_steps_script() -> str:
    section = README[README.index("## First steps with curl") : README.index("## Command line")]
    return "\n".join(re.findall(r"```bash\n(.*?)```", section, re.S))


def serve_variables() -> dict[str, str]:
    """The PARLEY_INIT_* variables of the README's `scripts/serve.sh` command."""
    command = next(line for line in README.splitlines() if line.endswith("scripts/serve.sh"))
    return dict(word.split("=", 1) for word in command.split()[:-1])


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_the_readme_first_steps_work_as_written(tmp_path: Path) -> None:
    script = first_steps_script()
    assert "URL=http://127.0.0.1:8000" in script
    env = parley_env(f"sqlite:///{tmp_path / 'parley.db'}", tmp_path, **serve_variables())
    with ServerProcess(env) as server:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script.replace("http://127.0.0.1:8000", server.base_url)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0] == json.dumps(env["PARLEY_INIT_ADMIN_EMAIL"])
    assert "completed" in lines, "the sample document was indexed"
    assert any("25 days of paid annual leave" in line for line in lines), "the answer quotes the handbook"

    # The streamed follow-up is answered in the first question's thread, with that turn as history.
    events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    (followup,) = [event["output"] for event in events if event["step"] == "end"]
    assert followup["history"][0]["user"] == "How many days of paid leave do employees get?"
    assert "HR portal" in followup["answer"]
