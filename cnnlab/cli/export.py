"""`cnnlab export RUN --onnx OUT.onnx --script OUT.py` and `cnnlab import ZIP` (= `import-run`).

The ONNX file is written only after onnxruntime agreed with PyTorch on the run's test images
(`cnnlab.export.onnx_export`); the script only after its network was rebuilt from the written
code and gave the run's outputs (`cnnlab.export.script`). Files are written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cnnlab.cli import EXIT_FAILED, EXIT_OK
from cnnlab.cli.output import print_json, say
from cnnlab.cli.progress import Phase
from cnnlab.cli.train import UsageError


def add_parsers(sub: Any) -> None:
    """The `export` and `import` commands (a few lines in parser.py call this)."""
    p = sub.add_parser(
        "export",
        help="write a run as ONNX and/or a standalone PyTorch training script",
        description="ONNX: input 'images' float32 [batch, C, H, W] in [0, 1] (normalised "
        "inside), output 'logits'; checked with onnxruntime before it is written (needs the "
        "'export' extra). Script: plain PyTorch + torchvision code that retrains the run.",
    )
    p.add_argument("run", nargs="?", help="run id (default: the latest finished run)")
    p.add_argument("--onnx", metavar="OUT.onnx", help="write the model as ONNX here")
    p.add_argument("--script", metavar="OUT.py", help="write the training script here")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="import a downloaded run zip as a new run (= import-run)")
    p.add_argument("file", metavar="FILE.zip")
    p.set_defaults(func=cmd_import)


def _write(path: str, data: bytes) -> Path:
    from cnnlab.jsonio import atomic_write_bytes

    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{path} is a folder: give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    return target


def cmd_export(args: argparse.Namespace) -> int:
    from cnnlab.cli.commands import resolve_run

    if not args.onnx and not args.script:
        raise UsageError("say what to write: --onnx OUT.onnx and/or --script OUT.py")
    run_id = resolve_run(args.run, args.runs_dir)
    report: dict[str, Any] = {"run": run_id}
    phase = Phase(enabled=not args.json)
    if args.script:
        from cnnlab.export import training_script

        script = training_script(run_id, args.runs_dir)
        path = _write(args.script, script.text.encode())
        report["script"] = {"path": str(path), "needs": list(script.needs)}
        say(f"wrote {path} (needs {', '.join(script.needs)})", json_mode=args.json)
    if args.onnx:
        from cnnlab.export.onnx_export import OnnxUnavailable, export_onnx

        phase.start("exporting to ONNX and checking it with onnxruntime")
        try:
            exported = export_onnx(run_id, args.runs_dir)
        except OnnxUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            phase.stop()
        path = _write(args.onnx, exported.data)
        c, h, w = exported.input_shape
        report["onnx"] = {
            "path": str(path),
            "max_abs_diff": exported.max_diff,
            "checked": exported.checked,
            "checked_on": exported.checked_on,
            "input": {"name": "images", "shape": ["batch", c, h, w], "dtype": "float32"},
            "class_names": list(exported.class_names),
        }
        say(
            f"wrote {path}: input images float32 [batch, {c}, {h}, {w}] in [0, 1]; onnxruntime "
            f"agrees with PyTorch within {exported.max_diff:.2g} on {exported.checked} "
            f"{exported.checked_on}",
            json_mode=args.json,
        )
    if args.json:
        print_json(report)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from cnnlab.cli.commands import cmd_import_run

    return cmd_import_run(args)
