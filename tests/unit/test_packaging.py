"""What a plain ``pip install .`` gives: Parley's wheel must require every package the default
embedder runs on, the model's included, and carry the tokenizer file it reads. Otherwise a server
installed the way a Dockerfile or a packager installs it fails on its first answer."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from parley.embeddings.onnx_minilm import MODEL_PACKAGE, RUNTIME_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_requires_and_carries_what_the_default_embedder_needs(tmp_path: Path) -> None:
    # Build from a copy, so the build leaves nothing (build/, *.egg-info) in the working tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("parley-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        metadata_file = next(name for name in files if name.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(metadata_file))

    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist", [])]
    required = {canonicalize_name(r.name) for r in requirements if r.marker is None}
    installed_as = packages_distributions()
    for module in (*RUNTIME_MODULES, MODEL_PACKAGE):
        distribution = canonicalize_name(installed_as[module][0])
        assert distribution in required, f"{module} ({distribution}) is not a dependency of Parley's wheel"
    assert "parley/embeddings/data/minilm-tokenizer.json" in files
