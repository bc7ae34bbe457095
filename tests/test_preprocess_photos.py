"""Targets of issue 12, measured: photos of printed and handwritten digits (tests/photo_maker.py)
read right >= 95% by the default MNIST recipe through the Classify backend and `cnnlab predict`
alike; ten big canvas digits all right with mean probability of the right class >= 80%.

Trains `python -m cnnlab train --dataset mnist` once (~15-30 s on 2 cores); skipped without the
real MNIST files (CNNLAB_DATA).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab.classify import classify_files
from cnnlab.runs import list_runs, load_model
from tests.conftest import REPO
from tests.photo_maker import TRAIN_MNIST, canvas_drawing, photo_set

N_PHOTOS = 100  # 50 printed, 50 handwritten


@pytest.fixture(scope="module")
def mnist_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = os.environ.get("CNNLAB_DATA")
    if not data or not (Path(data) / "MNIST").is_dir():
        pytest.skip("real MNIST absent: set CNNLAB_DATA to ../shared/data")
    runs = tmp_path_factory.mktemp("photos") / "runs"
    cmd = [*TRAIN_MNIST, "--quiet"]
    done = subprocess.run(
        cmd, cwd=REPO, env=dict(os.environ, CNNLAB_RUNS=str(runs)), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return runs


def test_photos_and_canvas_reach_the_targets(mnist_runs: Path, tmp_path: Path) -> None:
    run_id = list_runs(mnist_runs)[0].run_id
    loaded = load_model(run_id, mnist_runs)
    photos = photo_set(N_PHOTOS, seed=1)  # another seed than bench/bench_photos.py's
    files = [(f"{i:03d}_{d}.jpg", data) for i, (d, _, data) in enumerate(photos)]
    results = classify_files(
        loaded.model, files, loaded.class_names, loaded.preprocess, with_grad_cam=False
    )
    truth = [str(d) for d, _, _ in photos]
    read = [r.prediction.top[0][0] if r.prediction else "-" for r in results]
    right = np.mean([a == b for a, b in zip(read, truth, strict=True)])
    assert right >= 0.95, f"{right:.1%} of {N_PHOTOS} photos read right"

    canvas = [(f"canvas_{d}.png", canvas_drawing(d, seed=d + 10)) for d in range(10)]
    drawn = classify_files(loaded.model, canvas, loaded.class_names, loaded.preprocess)
    assert [r.prediction.top[0][0] for r in drawn] == [str(d) for d in range(10)]
    p_right = np.mean([r.prediction.probs[d] for d, r in enumerate(drawn)])
    assert p_right >= 0.8, f"mean probability of the right class {p_right:.1%}"

    # `cnnlab predict` reads the same files the same way (the first 30 photos)
    for name, data in files[:30]:
        (tmp_path / name).write_bytes(data)
    cmd = [
        sys.executable,
        "-m",
        "cnnlab",
        "--runs-dir",
        str(mnist_runs),
        "predict",
        "--run",
        run_id,
    ]
    done = subprocess.run(
        [*cmd, *sorted(str(p) for p in tmp_path.glob("*.jpg"))],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    cli_read = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts and parts[0].endswith(".jpg"):
            cli_read[Path(parts[0]).name] = parts[1]
    assert cli_read == {name: read[i] for i, (name, _) in enumerate(files[:30])}
