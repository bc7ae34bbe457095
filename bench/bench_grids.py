"""Tile grids and Inspect's slider moves, before and after torchvision's make_grid (issue 13).

Two tables:
1. Building a feature-map grid of 16 and 64 tiles (viridis, 12x12 maps enlarged to 65 px) and
   serialising it as Streamlit does (`fig.to_json()`): the base commit's one-plotly-subplot-per-
   tile `image_grid` against the current one picture from `make_grid`.
2. Inspect's server time per slider move (AppTest: the script run after moving the heat-map
   opacity or the channel count), on a ResNet-18 run (20 conv layers), for the base commit's
   pages (`git archive`) and the current ones; each version runs in its own process.

    .venv/bin/python bench/bench_grids.py [--repeats 5] [--base f8a4ce5] [--run RUN_ID --runs-dir D]

Without --run, a one-epoch ResNet-18 run on the shapes set is trained into a temporary folder.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere
BASE = "f8a4ce5"  # the last commit with one plotly subplot per tile


def median_ms(func, repeats: int) -> float:
    func()  # warm-up: imports, templates
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def old_plots(base: str) -> types.ModuleType:
    """The base commit's cnnlab/plots.py as a module (it imports today's cnnlab helpers)."""
    source = subprocess.run(
        ["git", "show", f"{base}:cnnlab/plots.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("old_plots")
    exec(compile(source, f"{base}:cnnlab/plots.py", "exec"), module.__dict__)  # noqa: S102
    return module


def _to_json(build) -> str:
    return build().to_json()  # what Streamlit sends for st.plotly_chart


def grid_rows(base: str, repeats: int) -> list[tuple[str, int, float, float]]:
    import torch

    from cnnlab import plots

    old = old_plots(base)
    rows = []
    for n in (16, 64):
        maps = torch.randn(n, 12, 12)
        for name, module in (("plotly subplots (before)", old), ("make_grid, one image", plots)):
            build = functools.partial(module.feature_map_grid, maps, max_maps=n)
            shown = functools.partial(_to_json, build)
            rows.append((name, n, median_ms(build, repeats), median_ms(shown, repeats)))
    return rows


def inspect_child(app_dir: str, repeats: int) -> None:
    """In this process: Inspect from `app_dir`; print JSON {move: median ms}."""
    sys.path.insert(0, app_dir)
    os.chdir(app_dir)
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest, app_test

    class ServerLikePages(PagesManager):  # as tests/conftest.py: keep st.navigation mode on
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = ServerLikePages
    at = AppTest.from_file(str(Path(app_dir) / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/inspect.py").run()
    assert not at.exception, [e.value for e in at.exception]
    result = {}
    for key, values in (("inside_alpha", [0.3, 0.7]), ("inside_channels", [32, 16])):
        times = []
        for i in range(repeats + 1):  # the first move fills the caches: kept apart
            at.slider(key=key).set_value(values[i % 2])
            start = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - start) * 1000)
            assert not at.exception, [e.value for e in at.exception]
        result[key] = {"first": times[0], "median": statistics.median(times[1:])}
    result["layers"] = sum(1 for m in at.markdown if " channels of " in m.value)
    print(json.dumps(result))


def inspect_rows(base: str, runs_dir: str, repeats: int) -> dict[str, dict]:
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-grids-") as tmp:
        old_dir = Path(tmp) / "base"
        old_dir.mkdir()
        archive = subprocess.run(
            ["git", "archive", base], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(old_dir)], input=archive.stdout, check=True)
        for label, app_dir in ((f"before ({base})", old_dir), ("now", REPO)):
            env = dict(os.environ, CNNLAB_RUNS=runs_dir, PYTHONPATH=str(app_dir))
            cmd = [
                sys.executable,
                __file__,
                "--inspect-child",
                str(app_dir),
                "--repeats",
                str(repeats),
            ]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"{label}: {done.stderr[-3000:]}")
            results[label] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def train_run(runs_dir: str) -> None:
    cmd = [sys.executable, "-m", "cnnlab", "--runs-dir", runs_dir, "train", "--dataset", "shapes"]
    cmd += ["--model", "resnet18", "--epochs", "1", "--threads", "1", "--quiet"]
    subprocess.run(cmd, cwd=REPO, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--runs-dir", help="a runs folder whose newest finished run is inspected")
    parser.add_argument("--inspect-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inspect_child:
        sys.path.remove(str(REPO))  # the child imports the pages and cnnlab of --inspect-child
        inspect_child(args.inspect_child, args.repeats)
        return
    import torch

    torch.set_num_threads(1)
    print("| grid | tiles | build, ms | build + to_json, ms |\n|---|---|---|---|")
    for name, n, build, shown in grid_rows(args.base, args.repeats):
        print(f"| {name} | {n} | {build:.1f} | {shown:.1f} |")
    with tempfile.TemporaryDirectory(prefix="bench-grids-runs-") as tmp:
        runs_dir = args.runs_dir or tmp
        if not args.runs_dir:
            train_run(runs_dir)
        results = inspect_rows(args.base, runs_dir, args.repeats)
    print(
        "\n| Inspect pages | conv layers drawn | opacity move, ms (first) | channels move, ms (first) |"
    )
    print("|---|---|---|---|")
    for label, r in results.items():
        alpha, channels = r["inside_alpha"], r["inside_channels"]
        print(
            f"| {label} | {r['layers']} | {alpha['median']:.0f} ({alpha['first']:.0f}) | "
            f"{channels['median']:.0f} ({channels['first']:.0f}) |"
        )


if __name__ == "__main__":
    main()
