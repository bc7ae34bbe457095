"""Packaging (issue 13): pyproject declares what the code imports, the `cnnlab` command points at
a working entry, the favicon exists, and `cnnlab predict` stays off the heavy imports."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from PIL import Image, ImageDraw

import cnnlab

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
IMPORT_NAMES = {  # distribution -> the module it provides, where they differ
    "pillow": "PIL",
    "scikit-learn": "sklearn",
    "streamlit-drawable-canvas": "streamlit_drawable_canvas",
}


def requirement_names(lines: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[;]", line.strip(), maxsplit=1)[0].lower() for line in lines}


def test_pyproject_declares_requirements_txt_with_ranges() -> None:
    declared = PYPROJECT["project"]["dependencies"]
    declared += PYPROJECT["project"]["optional-dependencies"]["export"]  # pinned for CI too
    pinned = [
        line
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirement_names(declared) == requirement_names(pinned)
    exact = {d.split("==")[0] for d in declared if "==" in d}  # (the extras are ranges too)
    assert exact == {"torch", "torchvision"}  # only these stay pinned in the package
    assert PYPROJECT["project"]["version"] == cnnlab.__version__


def test_every_third_party_import_of_the_backend_is_declared() -> None:
    # an optional extra counts (e.g. `ray` for CNNLAB_EXECUTOR=ray), the dev one does not
    extras = [
        d for k, v in PYPROJECT["project"]["optional-dependencies"].items() if k != "dev" for d in v
    ]
    declared = {
        IMPORT_NAMES.get(n, n)
        for n in requirement_names(PYPROJECT["project"]["dependencies"] + extras)
    }
    stdlib = set(sys.stdlib_module_names)
    missing = set()
    for path in (REPO / "cnnlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for top in {n.split(".")[0] for n in names}:
                if top not in stdlib and top != "cnnlab" and top not in declared:
                    missing.add(f"{top} ({path.relative_to(REPO)})")
    assert not missing, f"imported but not in pyproject dependencies: {sorted(missing)}"


def test_console_script_entry_is_main() -> None:
    module, func = PYPROJECT["project"]["scripts"]["cnnlab"].split(":")
    entry = getattr(importlib.import_module(module), func)
    assert entry is cnnlab.cli.main
    assert entry(["--version"]) == 0  # returns the code: the script wrapper exits with it
    assert "pytest" in " ".join(PYPROJECT["project"]["optional-dependencies"]["dev"])


def test_the_favicon_app_py_names_exists() -> None:
    icon = re.search(r'page_icon="([^"]+)"', (REPO / "app.py").read_text())
    assert icon is not None
    with Image.open(REPO / icon.group(1)) as img:
        assert img.format == "PNG" and img.size[0] == img.size[1] >= 64
        assert len(img.convert("RGB").getcolors(4096) or []) > 3  # drawn, not a blank square


def test_predict_imports_no_heavy_module(tmp_path: Path) -> None:
    from cnnlab.cli import main

    runs = tmp_path / "runs"
    args = ["--dataset", "digits", "--epochs", "1", "--limit", "200", "--threads", "1", "--quiet"]
    assert main(["--runs-dir", str(runs), "train", *args]) == 0
    image = tmp_path / "one.png"
    page = Image.new("L", (40, 40), 255)  # a dark stroke on white paper (a blank page is refused)
    ImageDraw.Draw(page).line([(20, 6), (20, 34)], fill=0, width=4)
    page.save(image)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnnlab", "predict", str(image)],
        cwd=REPO,
        env={**os.environ, "CNNLAB_RUNS": str(runs)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    modules = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    # scipy.ndimage (~0.1 s) stays: the MNIST-style digit preprocessing labels and centres with it
    heavy = {"pandas", "sklearn", "streamlit", "plotly", "captum", "torchvision"}
    assert "torch" in modules and not heavy & modules
