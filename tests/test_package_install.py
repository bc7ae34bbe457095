"""`pip install .` gives a working `cnnlab` command (issue 17.5), checked offline and fast: the
package is built from a copy of the sources with setuptools (no build isolation, no downloads)
into a temporary venv that sees the shared environment's dependencies, then its `cnnlab`
console script runs from outside the repo. `export --script` reads the installed package's own
source files at run time (the lab's layers and augmentation written into the script), so it also
shows that what the code reads is in the installed package. Deselect with `-m "not package"`."""

from __future__ import annotations

import dataclasses
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

from cnnlab.config import ModelConfig, Preprocess
from cnnlab.models import build_model
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run
from cnnlab.runs.status import Status

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.package


def _venv_with_shared_packages(target: Path) -> Path:
    """A venv (no pip of its own) whose site-packages also see this environment's packages
    (a .pth line), so `pip install --no-deps` needs nothing from the network."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    purelib = Path(
        sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    )
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "shared-env.pth").write_text("\n".join(shared) + "\n")
    return target / "bin"


def test_pip_install_gives_a_working_cnnlab_command(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", reason="building needs setuptools in this environment")
    pytest.importorskip("pip", reason="installing needs pip in this environment")
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ and *.egg-info behind
    shutil.copytree(REPO / "cnnlab", src / "cnnlab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    bin_dir = _venv_with_shared_packages(tmp_path / "venv")
    install = [str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--quiet"]
    install += ["--no-build-isolation", "--no-index", str(src)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert env["CNNLAB_RUNS"] == str(tmp_path / "runs")  # conftest's private runs folder

    def cnnlab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / "cnnlab"), *args],
            cwd=outside,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    shown = cnnlab("--help")
    assert shown.returncode == 0 and "export" in shown.stdout and "import" in shown.stdout

    # a run to export, written by this (repo) cnnlab into the runs folder the command reads
    run = create_run(dataclasses.replace(default_run_config("digits"), model=ModelConfig()))
    pre = Preprocess(input_shape=(1, 8, 8), mean=(0.3,), std=(0.4,))
    run.write_meta({"class_names": list("0123456789"), "preprocess": dataclasses.asdict(pre)})
    run.save_weights(build_model(ModelConfig(), pre, 10).state_dict())
    run.update_status(Status.FINISHED)
    code = "import cnnlab, sys; print(cnnlab.__file__)"
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", code], cwd=outside, env=env, text=True, capture_output=True
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where  # not the repo
    exported = cnnlab("export", run.run_id, "--script", "train.py")
    assert exported.returncode == 0, exported.stderr[-3000:]
    text = (outside / "train.py").read_text()
    assert "def _affine(" in text and "def build_net(" in text  # read from the installed sources
    assert torch.__version__  # (the venv used this environment's torch)
