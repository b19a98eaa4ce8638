"""The fake quantizers equal ONNX Runtime's quantizers: dequantized weights to 1e-6.

A tiny ``Embedding`` -> ``Linear`` module (the Linear on ``[batch, seq, hidden]``, so
it exports as ``MatMul`` like the encoder's layers) is exported to ONNX, quantized by
ONNX Runtime exactly as the writers do (``quantize_dynamic`` per-channel QInt8 with
embeddings; ``MatMulNBitsQuantizer`` symmetric with ``GatherBlockQuantized``
embeddings), and the weights ONNX Runtime stores are dequantized and compared with
the fake-quantized PyTorch weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from quant_sentiment.pipelines.quantize_qat import fake_quant

VOCAB, HIDDEN, OUT = 40, 80, 48  # 80 is not a multiple of 32: a partial last block


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, HIDDEN)
        self.lin = nn.Linear(HIDDEN, OUT)

    def forward(self, ids):
        return self.lin(self.emb(ids))


@pytest.fixture(scope="module")
def tiny() -> Tiny:
    torch.manual_seed(0)
    model = Tiny().eval()
    with torch.no_grad():
        model.lin.weight[3] = 0.0  # an all-zero channel (scale fallback)
        model.lin.weight[5] *= 40  # channels of very different range
        model.emb.weight[7, :32] = 0.0  # an all-zero block
        model.emb.weight[9] *= -25
    return model


@pytest.fixture(scope="module")
def fp32_onnx(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("fq") / "fp32.onnx"
    ids = torch.randint(0, VOCAB, (2, 5))
    torch.onnx.export(
        tiny,
        (ids,),
        str(path),
        input_names=["ids"],
        output_names=["y"],
        dynamic_axes={"ids": {0: "b", 1: "s"}},
        opset_version=17,
        dynamo=False,
    )
    return path


def _arrays(path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {
        i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer
    }


def _pick(arrays, suffix, ndim):
    found = [v for k, v in arrays.items() if k.endswith(suffix) and v.ndim == ndim]
    assert len(found) == 1, (suffix, sorted(arrays))
    return found[0]


@pytest.fixture(scope="module")
def int8_onnx(fp32_onnx):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = fp32_onnx.with_name("int8.onnx")
    quantize_dynamic(
        str(fp32_onnx),
        str(out),
        per_channel=True,
        reduce_range=False,
        weight_type=QuantType.QInt8,
    )
    return _arrays(out)


def _int4_onnx(fp32_onnx, block_size):
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    out = fp32_onnx.with_name(f"int4_{block_size}.onnx")
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(fp32_onnx)),
        bits=4,
        block_size=block_size,
        is_symmetric=True,
        op_types_to_quantize=("MatMul", "Gather"),
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), False)
    return _arrays(out)


def test_int8_linear_equals_quantize_dynamic_per_channel(tiny, int8_onnx):
    matmul = {k: v for k, v in int8_onnx.items() if k.startswith("onnx::MatMul")}
    q = _pick(matmul, "_quantized", 2)  # MatMul B: [in, out], int8
    assert q.dtype == np.int8 and q.shape == (HIDDEN, OUT)
    scale, zp = _pick(matmul, "_scale", 1), _pick(matmul, "_zero_point", 1)
    assert scale.shape == (OUT,) and not zp.any()  # per channel, symmetric
    ort = ((q.astype(np.float32) - zp) * scale).T
    fake = fake_quant.int8_per_channel_weight(tiny.lin.weight).detach().numpy()
    np.testing.assert_allclose(fake, ort, rtol=0, atol=1e-6)
    assert np.abs(fake - tiny.lin.weight.detach().numpy()).max() > 1e-4  # it quantizes


def test_int8_embedding_equals_quantize_dynamic_gather(tiny, int8_onnx):
    q = [
        v
        for v in int8_onnx.values()
        if v.dtype == np.uint8 and v.shape == (VOCAB, HIDDEN)
    ]
    assert len(q) == 1
    scalars = {k: v for k, v in int8_onnx.items() if v.ndim == 0}
    scale = next(v for k, v in scalars.items() if "emb" in k and k.endswith("_scale"))
    zp = next(v for k, v in scalars.items() if "emb" in k and k.endswith("_zero_point"))
    ort = (q[0].astype(np.float32) - zp.astype(np.float32)) * scale
    fake = fake_quant.uint8_per_tensor(tiny.emb.weight, weight=True).detach().numpy()
    np.testing.assert_allclose(fake, ort, rtol=0, atol=1e-6)


def test_int8_activation_matches_dynamic_quantize_linear():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        ],
        "dql",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 7, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 7, 16])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
    )
    session = ort.InferenceSession(model.SerializeToString())
    x = torch.randn(4, 7, 16) * 3 + 0.5
    want = session.run(["y"], {"x": x.numpy()})[0]
    got = fake_quant.uint8_per_tensor(x, weight=False).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert onnx.checker.check_model(model) is None


def _unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    low, high = packed & 0x0F, packed >> 4
    return np.stack([low, high], axis=-1).reshape(*packed.shape[:-1], -1)


@pytest.mark.parametrize("block_size", [16, 32])
def test_int4_linear_equals_matmul_nbits(tiny, fp32_onnx, block_size):
    arrays = _int4_onnx(fp32_onnx, block_size)
    packed = _pick(arrays, "_Q4", 3)  # [out, k_blocks, block_size / 2]
    blocks = -(-HIDDEN // block_size)
    assert packed.shape == (OUT, blocks, block_size // 2)
    scales = next(
        v for k, v in arrays.items() if k.endswith("_scales") and v.size == OUT * blocks
    ).reshape(OUT, blocks)
    q = _unpack_nibbles(packed).astype(np.float32) - 8  # [out, blocks, block_size]
    ort = (q * scales[:, :, None]).reshape(OUT, -1)[:, :HIDDEN]
    fake = fake_quant.int4_matmul_nbits_weight(tiny.lin.weight, block_size)
    np.testing.assert_allclose(fake.detach().numpy(), ort, rtol=0, atol=1e-6)


@pytest.mark.parametrize("block_size", [16, 32])
def test_int4_embedding_equals_gather_block_quantized(tiny, fp32_onnx, block_size):
    arrays = _int4_onnx(fp32_onnx, block_size)
    q = next(v for k, v in arrays.items() if v.shape == (VOCAB, HIDDEN) and "Q4" in k)
    blocks = -(-HIDDEN // block_size)
    scales = next(v for v in arrays.values() if v.shape == (VOCAB, blocks))
    ort = q.astype(np.float32) * np.repeat(scales, block_size, axis=1)[:, :HIDDEN]
    fake = fake_quant.int4_gather_block_weight(tiny.emb.weight, block_size)
    np.testing.assert_allclose(fake.detach().numpy(), ort, rtol=0, atol=1e-6)


def test_straight_through_gradient():
    w = torch.randn(6, 32, requires_grad=True)
    fake_quant.int4_matmul_nbits_weight(w, 16).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_prepare_and_strip_keep_parameters(tiny_bundle):
    import copy

    model = copy.deepcopy(tiny_bundle.model)
    keys = set(model.state_dict())
    fake_quant.prepare(model, fake_quant.Scheme(bits=4, block_size=16))
    names = fake_quant.fake_quantized_names(model)
    assert "bert.embeddings.word_embeddings" in names
    assert "bert.encoder.layer.0.attention.self.query" in names
    assert not any(n.startswith(("bert.pooler", "classifier")) for n in names)
    assert set(model.state_dict()) == keys
    fake_quant.strip(model)
    assert fake_quant.fake_quantized_names(model) == []
    assert type(model.bert.encoder.layer[0].attention.self.query) is nn.Linear
