"""The command line as a whole process: `cnnlab predict` of one image, `--help`, train startup.

  .venv/bin/python bench/bench_cli.py            # target: predict of one image <= 3 s
  .venv/bin/python bench/bench_cli.py --repeat 5

Each row is the wall time of a fresh `python -m cnnlab ...` process (median of --repeat), as a
user or a script pays it: interpreter start, imports, the work, exit. The predict run is a tiny
digits model (classic CNN, 1 epoch) trained once into a temporary runs folder; the image is a
40x40 PNG. "train startup" is the time from launching `train --json` to its first event line
(the run's folder written, the dataset loaded, the model built), for the offline digits set.
Also printed: the modules the predict process imports that it should not (pandas, sklearn,
streamlit, plotly, captum, torchvision): they must be none.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "sklearn", "streamlit", "plotly", "captum", "torchvision")
TARGET_PREDICT_S = 3.0


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cnnlab", *args]


def wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    """Median seconds of `repeat` runs of `cmd` (each must exit 0)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def first_event_s(env: dict[str, str], repeat: int) -> float:
    """Median seconds from launching `train --json` to its first training event."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        args = ("train", "--dataset", "digits", "--epochs", "1", "--threads", "1", "--json")
        with subprocess.Popen(cli(*args), cwd=REPO, env=env, stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if b'"type": "start"' in line:
                    times.append(time.perf_counter() - start)
                    break
            proc.wait()
    return statistics.median(times)


def heavy_imports(image: Path, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnnlab", "predict", str(image)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    return sorted(n for n in names if n.split(".")[0] in HEAVY and "." not in n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median)")
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CNNLAB_RUNS": str(Path(tmp) / "runs"), "PYTHONPATH": str(REPO)}
        subprocess.run(
            cli("train", "--dataset", "digits", "--epochs", "1", "--threads", "1", "--quiet"),
            cwd=REPO,
            env=env,
            check=True,
        )
        from PIL import Image, ImageDraw

        image = Path(tmp) / "digit.png"
        page = Image.new("L", (40, 40), 255)  # a dark stroke on white (a blank page is refused)
        ImageDraw.Draw(page).line([(20, 6), (20, 34)], fill=0, width=4)
        page.save(image)
        rows = [
            ("predict one image (whole process)", wall(cli("predict", str(image)), env, repeat)),
            ("predict --json", wall(cli("predict", str(image), "--json"), env, repeat)),
            ("--help", wall(cli("--help"), env, repeat)),
            ("train --help (registries loaded)", wall(cli("train", "--help"), env, repeat)),
            ("train startup (launch -> first event)", first_event_s(env, repeat)),
        ]
        heavy = heavy_imports(image, env)
    load = os.getloadavg()[0]
    print(f"| what ({os.cpu_count()} cores, load {load:.1f}, median of {repeat}) | seconds |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    verdict = "met" if rows[0][1] <= TARGET_PREDICT_S else "MISSED"
    print(f"\npredict target <= {TARGET_PREDICT_S:g} s: {verdict}")
    print(f"heavy modules on the predict path: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
