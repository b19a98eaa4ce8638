"""Fake quantization that mirrors ONNX Runtime's deployed INT8 and INT4 schemes.

Why not torchao's ``IntxFakeQuantizeConfig``: its symmetric mapping divides the
largest magnitude by ``(qmax - qmin) / 2`` (127.5 for int8, 7.5 for int4), while
ONNX Runtime divides by 127 (``quantize_dynamic``, symmetric range -127..127) and,
for ``MatMulNBits`` / ``GatherBlockQuantized``, maps the signed value of largest
magnitude to -8 (``scale = -max / 8``). Rounding differs too (MLAS ``roundf`` after a
reciprocal multiply for ``MatMulNBits``). Those scales cannot be configured in
torchao 0.18, so the formulas below copy ONNX Runtime 1.31's
(``quant_utils.compute_scale_zp`` / ``quantize_nparray``, MLAS
``BlockwiseQuantizer::quantizeAndTranspose``, ``DefaultWeightOnlyQuantizer.
quant_slice_symmetric``, the ``DynamicQuantizeLinear`` kernel), and the tests prove
the dequantized weights equal ONNX Runtime's to 1e-6.

Each function returns the dequantized tensor (float32) with a straight-through
gradient (``x + (q(x) - x).detach()``). :func:`prepare` swaps ``nn.Linear`` /
``nn.Embedding`` modules for subclasses that fake-quantize in ``forward`` (same
parameters and state-dict keys, so Trainer checkpoints load unchanged);
:func:`strip` swaps them back for export.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

INT8_SYMMETRIC_QMAX = 127  # ORT's symmetric INT8 range is -127..127
UINT8_QMAX = 255
INT4_MID = 8  # MatMulNBits: unsigned 0..15 with zero point 8 when symmetric
INT8_BITS, INT4_BITS = 8, 4
_HALF = 0.5


def _ste(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """Forward ``quantized``, backward identity (straight-through estimator)."""
    return x + (quantized - x).detach()


def _round_half_away(t: torch.Tensor) -> torch.Tensor:
    """C ``roundf``: halves away from zero (``torch.round`` rounds them to even)."""
    trunc = t.trunc()
    return torch.where((t - trunc).abs() == _HALF, trunc + t.sign(), t.round())


def int8_per_channel_weight(w: torch.Tensor) -> torch.Tensor:
    """``quantize_dynamic(per_channel=True, weight_type=QInt8, reduce_range=False)``.

    One symmetric scale per output channel (a row of ``nn.Linear.weight``; a column
    of the exported ``MatMul`` B): ``scale = float32(2 * absmax / 254)`` computed in
    float64, ``q = clip(round_half_even(w / scale), -128, 127)``.
    """
    w32 = w.detach().float()
    absmax = torch.maximum(w32.amin(dim=1).neg().clamp(min=0), w32.amax(dim=1))
    scale = (absmax.double() * 2 / (2 * INT8_SYMMETRIC_QMAX)).float()
    scale = torch.where(
        scale < torch.finfo(torch.float32).tiny, torch.ones_like(scale), scale
    )[:, None]
    q = (w32 / scale).round().clamp(-128, 127)
    return _ste(w, (q * scale).to(w.dtype))


def uint8_per_tensor(x: torch.Tensor, weight: bool) -> torch.Tensor:
    """Asymmetric per-tensor UINT8 with zero in range.

    ``weight=True``: the embedding ``Gather`` initializers of ``quantize_dynamic``
    (scale in float64 then float32, zero point ``round(-rmin / scale)``).
    ``weight=False``: ``DynamicQuantizeLinear`` on activations (float32 throughout).
    """
    x32 = x.detach().float()
    rmin = x32.min().clamp(max=0)
    rmax = x32.max().clamp(min=0)
    if weight:
        scale64 = (rmax.double() - rmin.double()) / UINT8_QMAX
        zero = (-rmin.double() / scale64).round() if scale64 > 0 else scale64 * 0
        scale = scale64.float()
    else:
        scale = (rmax - rmin) / UINT8_QMAX
        zero = (-rmin / scale).round().clamp(0, UINT8_QMAX) if scale > 0 else scale * 0
    if scale == 0 or (weight and scale < torch.finfo(torch.float32).tiny):
        scale, zero = torch.ones_like(scale), torch.zeros_like(scale)
    zero = zero.float()
    q = ((x32 / scale).round() + zero).clamp(0, UINT8_QMAX)
    return _ste(x, ((q - zero) * scale).to(x.dtype))


def _blocks(w: torch.Tensor, block_size: int) -> tuple[torch.Tensor, int]:
    """``[rows, cols]`` as ``[rows, n_blocks, block_size]`` (zero-padded), and cols."""
    w32 = w.detach().float()
    cols = w32.shape[1]
    pad = -cols % block_size
    if pad:
        w32 = torch.nn.functional.pad(w32, (0, pad))
    return w32.reshape(w32.shape[0], -1, block_size), cols


def _signed_absmax(blocks: torch.Tensor) -> torch.Tensor:
    """Per block, the min or max of larger magnitude, with its sign (ties: min)."""
    vmax = blocks.amax(dim=2, keepdim=True)
    vmin = blocks.amin(dim=2, keepdim=True)
    return torch.where(vmax.abs() > vmin.abs(), vmax, vmin)


def int4_matmul_nbits_weight(w: torch.Tensor, block_size: int) -> torch.Tensor:
    """``MatMulNBits`` symmetric RTN (MLAS ``quantizeAndTranspose``, no zero points).

    Blocks of ``block_size`` along the input dimension of each output channel:
    ``scale = -signed_absmax / 8``, ``q = clamp(roundf(w * (1 / scale) + 8), 0, 15)``,
    dequantized as ``(q - 8) * scale``.
    """
    blocks, cols = _blocks(w, block_size)
    scale = -_signed_absmax(blocks) / INT4_MID
    reciprocal = torch.where(scale != 0, 1.0 / scale, torch.zeros_like(scale))
    q = _round_half_away(blocks * reciprocal + INT4_MID).clamp(0, 15)
    deq = ((q - INT4_MID) * scale).reshape(blocks.shape[0], -1)[:, :cols]
    return _ste(w, deq.to(w.dtype))


def int4_gather_block_weight(w: torch.Tensor, block_size: int) -> torch.Tensor:
    """``GatherBlockQuantized`` symmetric INT4 (``quant_slice_symmetric``, axis 1).

    Blocks of ``block_size`` along the hidden dimension of each embedding row:
    ``scale = signed_absmax / -8``, ``q = clip(round_half_even(w / scale), -8, 7)``.
    """
    blocks, cols = _blocks(w, block_size)
    scale = _signed_absmax(blocks) / -float(INT4_MID)
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.where(scale == 0, torch.zeros_like(blocks), blocks / safe)
    q = q.round().clamp(-INT4_MID, INT4_MID - 1)
    deq = (q * scale).reshape(blocks.shape[0], -1)[:, :cols]
    return _ste(w, deq.to(w.dtype))


@dataclass(frozen=True)
class Scheme:
    """What the deployed artifact does: ``bits`` 8 or 4, INT4 ``block_size``, and
    whether embeddings (and, at 8 bits, activations) are quantized."""

    bits: int
    block_size: int | None = None
    quantize_embeddings: bool = True
    quantize_activations: bool = True

    def weight(self, w: torch.Tensor) -> torch.Tensor:
        """Fake-quantized ``nn.Linear`` weight."""
        if self.bits == INT8_BITS:
            return int8_per_channel_weight(w)
        return int4_matmul_nbits_weight(w, int(self.block_size))

    def embedding(self, w: torch.Tensor) -> torch.Tensor:
        """Fake-quantized embedding table."""
        if not self.quantize_embeddings:
            return w
        if self.bits == INT8_BITS:
            return uint8_per_tensor(w, weight=True)
        return int4_gather_block_weight(w, int(self.block_size))

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantized input of a quantized ``MatMul`` (INT8 only)."""
        if self.bits == INT8_BITS and self.quantize_activations:
            return uint8_per_tensor(x, weight=False)
        return x


class FakeQuantLinear(nn.Linear):
    """``nn.Linear`` whose forward uses ORT-quantized weights (and activations)."""

    scheme: Scheme

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``linear(activation(x), weight(W), b)``; the bias stays float."""
        return nn.functional.linear(
            self.scheme.activation(x), self.scheme.weight(self.weight), self.bias
        )


class FakeQuantEmbedding(nn.Embedding):
    """``nn.Embedding`` looking up ORT-quantized rows."""

    scheme: Scheme

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``embedding(ids, embedding(W))``."""
        return nn.functional.embedding(
            ids,
            self.scheme.embedding(self.weight),
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )


def quantized_targets(model: nn.Module) -> dict[str, nn.Module]:
    """The modules ONNX Runtime quantizes in the exported BERT-style graph.

    The encoder's ``nn.Linear`` layers act on ``[batch, seq, hidden]`` and export as
    ``MatMul`` (quantized by both writers); the embedding tables export as
    ``Gather`` with a constant table. The layers on ``[batch, hidden]`` export as
    ``Gemm`` (:func:`gemm_targets`), which only the INT8 writer quantizes. A
    multi-task model (:class:`~quant_sentiment.multitask.MultiTaskModel`) is the
    same: its ``encoder`` is the BERT-style base.
    """
    prefix = _base_prefix(model)
    base = model.get_submodule(prefix)
    out: dict[str, nn.Module] = {}
    for name, module in base.encoder.named_modules():
        if type(module) in (nn.Linear, FakeQuantLinear):
            out[f"{prefix}.encoder.{name}"] = module
    for name, module in base.embeddings.named_modules():
        if type(module) in (nn.Embedding, FakeQuantEmbedding):
            out[f"{prefix}.embeddings.{name}"] = module
    return out


def gemm_targets(model: nn.Module) -> dict[str, nn.Module]:
    """The ``nn.Linear`` layers on ``[batch, hidden]``, exported as ``Gemm``: a
    classifier's pooler and classifier, a multi-task model's heads (its encoder's
    own pooler is not in the graph). ONNX Runtime's ``quantize_dynamic`` quantizes
    them as the encoder's layers (``Gemm_MatMul_quant``: per-channel INT8 weights,
    dynamic UINT8 input); ``MatMulNBits`` leaves them FP32."""
    prefix = _base_prefix(model)
    if prefix == "encoder":  # a multi-task model
        return {f"heads.{name}": head for name, head in model.heads.items()}
    inside = (f"{prefix}.encoder.", f"{prefix}.embeddings.")
    return {
        name: module
        for name, module in model.named_modules()
        if type(module) in (nn.Linear, FakeQuantLinear) and not name.startswith(inside)
    }


def _base_prefix(model: nn.Module) -> str:
    """The attribute holding the encoder base (``bert`` for a sequence classifier,
    ``encoder`` for a multi-task model, whose ``base_model_prefix`` names no
    module)."""
    prefix = model.base_model_prefix
    if not hasattr(model, prefix) and hasattr(model, "encoder"):
        return "encoder"
    return prefix


def _swap(model: nn.Module, name: str, new_class: type, scheme: Scheme | None) -> None:
    module = model.get_submodule(name)
    module.__class__ = new_class
    if scheme is None:
        module.__dict__.pop("scheme", None)
    else:
        module.scheme = scheme


def prepare(model: nn.Module, scheme: Scheme) -> nn.Module:
    """Swap the quantized modules for their fake-quantized subclasses, in place
    (at 8 bits the ``Gemm`` layers too, :func:`gemm_targets`)."""
    targets = quantized_targets(model)
    if scheme.bits == INT8_BITS:
        targets |= gemm_targets(model)
    for name, module in targets.items():
        if isinstance(module, nn.Embedding):
            if scheme.quantize_embeddings:
                _swap(model, name, FakeQuantEmbedding, scheme)
        else:
            _swap(model, name, FakeQuantLinear, scheme)
    return model


def strip(model: nn.Module) -> nn.Module:
    """Turn fake-quantized modules back into plain ones (same weights), in place."""
    for name, module in model.named_modules():
        if type(module) is FakeQuantLinear:
            _swap(model, name, nn.Linear, None)
        elif type(module) is FakeQuantEmbedding:
            _swap(model, name, nn.Embedding, None)
    return model


def fake_quantized_names(model: nn.Module) -> list[str]:
    """Names of the fake-quantized modules (for the manifest)."""
    return sorted(
        name
        for name, m in model.named_modules()
        if type(m) in (FakeQuantLinear, FakeQuantEmbedding)
    )
