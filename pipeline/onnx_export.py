"""Export a module to ONNX with a dynamic batch axis and check the file against PyTorch.

The check runs the exported file in ONNX Runtime on real inputs (the caller's example batch)
and compares every output with the module's; a disagreement beyond the tolerance is an error,
so no unchecked model leaves the train stage. The outcome is written beside the file
(`<name>.onnx.json`) for the scoring command and the report.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path, atomic_write_json

OPSET = 18


class OnnxMismatch(RuntimeError):
    """The exported file disagrees with the PyTorch module."""


def session(path: Path, threads: int = 0):
    """An ONNX Runtime CPU session (threads 0: the runtime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_checked(
    module: Any,
    example: Any,
    path: Path,
    input_name: str,
    output_names: list[str],
    rtol: float = 1e-3,
    atol: float = 1e-4,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export `module(example)` to `path` (atomically), run it in ONNX Runtime on `example` and
    compare. Returns the check record (also written to `path`.json)."""
    import torch

    module = module.eval()
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        reference = [t.numpy() for t in module(example)]
        with atomic_path(path) as tmp:
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=[input_name],
                output_names=output_names,
                dynamic_shapes=({0: batch},),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    outputs = session(path).run(output_names, {input_name: example.numpy()})
    check: dict[str, Any] = {"events": int(example.shape[0]), "rtol": rtol, "atol": atol, "outputs": {}}
    for name, ours, theirs in zip(output_names, outputs, reference, strict=True):
        diff = np.abs(ours - theirs)
        check["outputs"][name] = {
            "max_abs_diff": float(diff.max()),
            "max_rel_diff": float((diff / np.maximum(np.abs(theirs), atol)).max()),
        }
        if not np.allclose(ours, theirs, rtol=rtol, atol=atol):
            path.unlink(missing_ok=True)
            raise OnnxMismatch(
                f"{path}: output {name!r} of ONNX Runtime differs from PyTorch by up to {float(diff.max()):.3g}"
                f" (rtol {rtol}, atol {atol}); the file was removed"
            )
    record = {
        "file": path.name,
        "input": {"name": input_name, "shape": ["batch", *list(example.shape[1:])], "dtype": "float32"},
        "outputs": output_names,
        "opset": OPSET,
        "check": check,
        **(metadata or {}),
    }
    atomic_write_json(path.with_name(path.name + ".json"), record)
    return record
