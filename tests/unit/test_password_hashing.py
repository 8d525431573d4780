"""The argon2 cost of new password hashes is a setting, in force from the app's or the CLI's
start; nothing is hashed at import time."""

from __future__ import annotations

import subprocess
import sys

from parley.accounts.security import hash_password, verify_password
from parley.app import create_app
from parley.settings import AuthSettings, Settings


def test_importing_the_app_computes_no_hash():
    code = (
        "import argon2\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('a password was hashed at import time')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import parley.accounts.security, parley.app, parley.cli\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_new_hashes_take_the_configured_cost_and_old_ones_still_verify(tmp_path):
    create_app(Settings(environment="test", data_dir=tmp_path))
    strong = hash_password("correct horse battery")
    assert strong.startswith("$argon2id$v=19$m=65536,t=3,")  # production strength by default

    cheap = AuthSettings(password_hash_time_cost=1, password_hash_memory_kib=32)
    create_app(Settings(environment="test", data_dir=tmp_path, auth=cheap))
    weak = hash_password("correct horse battery")
    assert weak.startswith("$argon2id$v=19$m=32,t=1,")
    # A hash records its own cost: both verify whichever cost is in force now.
    assert verify_password("correct horse battery", strong) and verify_password("correct horse battery", weak)
    assert not verify_password("wrong horse battery", strong)
    assert not verify_password("correct horse battery", None)  # an unknown user, against the dummy hash
