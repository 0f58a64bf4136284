"""torch module -> ONNX ModelProto, with the fast legacy exporter and weights embedded."""
from __future__ import annotations

import io
import warnings

import onnx

OPSET = 17


def export(module, example_inputs: tuple, input_names: list[str], output_names: list[str],
           keep_batchnorm: bool = False) -> onnx.ModelProto:
    """Export an eval-mode torch module to an in-memory ONNX model (batch size fixed by the example).

    The TorchScript exporter (``dynamo=False``) is used because it is 10-100x faster than the
    dynamo exporter and needs no onnxscript; ``keep_batchnorm`` stops Conv+BN folding so the
    graph keeps BatchNormalization nodes (as many user exports do).
    """
    import torch

    module = module.eval()
    buf = io.BytesIO()
    training = torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example_inputs, buf, dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names,
                          do_constant_folding=True, training=training)
    return onnx.load_from_string(buf.getvalue())
