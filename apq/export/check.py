"""Run the exported ONNX graph with onnxruntime and compare it with the fake-quantized model.

Agreement is not bit-exact, and cannot be: the two runtimes sum a convolution in different
orders and the export folds BN into the weight scale, so pre-quantization values differ by a
few float32 ulps. A value that lands within those ulps of a rounding tie (``x / step`` at
``k + 0.5``) or of a clip level rounds to a neighbouring level in one of them (measured: about
1 value in 10^6 in the first layers); the flip moves that activation by one step and spreads to
every later layer. So an image's logits either agree to float precision (no flip on its path)
or differ by up to about a tenth (measured max |difference| 0.07 over 10,000 test images on a
4-block sub-net with logits up to 2.8, 0.17 on a 7-block smoke winner with logits up to 1.3),
and the :class:`Tolerance` checks the share of images that agree closely and the argmax
agreement, not a single max-abs bound.

onnxruntime runs the graph *as written* (``session.disable_quant_qdq = 1``). Its default QDQ
optimizer rewrites the graph: it quantizes the float conv bias to int32 with scale
``x_scale * w_scale`` and fuses Q/DQ into integer kernels, an approximation of the graph
(measured on the 4-block sub-net: 97.4 % argmax agreement and 0.27 points less accuracy; on the
7-block smoke winner 85.8 % and 0.16 points). :func:`compare` reports that runtime's accuracy too
(``onnxruntime_default``), for information.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

#: onnxruntime session settings under which it executes the QDQ graph as written.
AS_WRITTEN = {"session.disable_quant_qdq": "1"}


@dataclass(frozen=True)
class Tolerance:
    """Logits of an image are *close* when ``|onnx - torch| <= atol + rtol * |torch|`` elementwise.

    An export passes when at least ``min_close_fraction`` of the images are close, the argmax
    agrees on ``min_argmax_agreement`` of them and the accuracies differ by at most
    ``max_accuracy_gap`` points. atol/rtol 1e-4: float32 error through ~20 layers is ~1e-6
    relative. The fractions leave room for the rounding-tie flips explained above (98.7 % of
    images close and 99.98 % argmax agreement measured on a 4-block mixed-precision sub-net;
    larger sub-nets hold more values per image, hence more flips), while a systematic error
    (a wrong scale, a missing clip, an unfolded BN) leaves almost no image close.
    """

    atol: float = 1e-4
    rtol: float = 1e-4
    min_close_fraction: float = 0.5
    min_argmax_agreement: float = 0.99
    max_accuracy_gap: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)


def ort_session(model_bytes: bytes, threads: int = 0, as_written: bool = True):
    """onnxruntime CPU session of a serialised model; ``threads`` 0 = onnxruntime's default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for key, value in (AS_WRITTEN if as_written else {}).items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def onnx_logits(session, x: np.ndarray, batch: int) -> np.ndarray:
    """Logits (N, classes) float32 of images ``x`` (N, C, H, W) float32, in batches."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: np.ascontiguousarray(x[i:i + batch])})[0]
                           for i in range(0, len(x), batch)])


@torch.no_grad()
def torch_logits(model: nn.Module, x: np.ndarray, batch: int) -> np.ndarray:
    """Logits (N, classes) float32 of ``model`` (eval mode, CPU) on images ``x`` (N, C, H, W)."""
    model.eval()
    return np.concatenate([model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy()
                           for i in range(0, len(x), batch)])


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float(100.0 * np.mean(logits.argmax(axis=1) == labels))


def agreement(reference: np.ndarray, other: np.ndarray, tol: Tolerance, batch: int) -> dict:
    """How closely ``other`` logits (N, classes) follow ``reference``: max |difference| over the
    first ``batch`` images and over all, share of close images, argmax agreement."""
    diff = np.abs(other - reference)
    close = np.all(diff <= tol.atol + tol.rtol * np.abs(reference), axis=1)
    return {"max_abs_diff_batch": float(diff[:batch].max()), "batch_images": int(min(batch, len(diff))),
            "max_abs_diff": float(diff.max()), "max_abs_logit": float(np.abs(reference).max()),
            "close_fraction": float(close.mean()),
            "argmax_agreement": float(np.mean(other.argmax(axis=1) == reference.argmax(axis=1)))}


def compare(model: nn.Module, model_bytes: bytes, x: np.ndarray, y: np.ndarray, batch: int = 250,
            threads: int = 0, tol: Tolerance = Tolerance(), default_runtime: bool = True) -> dict:
    """Fake-quant PyTorch vs ONNX (onnxruntime, graph as written) on images x (N, C, H, W), labels y (N,).

    Returns accuracies (percent), :func:`agreement` figures, the tolerance and ``ok``; with
    ``default_runtime`` also the accuracy under onnxruntime's default QDQ optimizer.
    """
    reference = torch_logits(model, x, batch)
    exported = onnx_logits(ort_session(model_bytes, threads), x, batch)
    report = {"images": len(x), "fake_quant_acc": accuracy(reference, y), "onnx_acc": accuracy(exported, y),
              **agreement(reference, exported, tol, batch), "tolerance": tol.to_dict()}
    report["ok"] = bool(report["close_fraction"] >= tol.min_close_fraction
                        and report["argmax_agreement"] >= tol.min_argmax_agreement
                        and abs(report["onnx_acc"] - report["fake_quant_acc"]) <= tol.max_accuracy_gap)
    if default_runtime:
        default = onnx_logits(ort_session(model_bytes, threads, as_written=False), x, batch)
        report["onnxruntime_default"] = {"onnx_acc": accuracy(default, y),
                                         "argmax_agreement": agreement(reference, default, tol, batch)["argmax_agreement"]}
    return report
