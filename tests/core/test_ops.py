import pytest
import torch

from ssnas_core.nodes import InputNodes, NodeReshape
from ssnas_core.ops import OPS, build_op


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_maps_two_inputs_to_b_c_l(name):
    torch.manual_seed(0)
    op = build_op(name, C=8, L=9, dropout=0.1)
    x, y = torch.randn(5, 8, 9), torch.randn(5, 8, 9)
    out = op(x, y)
    assert out.shape == (5, 8, 9)
    assert torch.isfinite(out).all()
    if name == "zero":
        assert (out == 0).all()
    if name == "sum":
        assert torch.allclose(out, x + y)


def test_unknown_op_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown op"):
        build_op("conv9x9", 4, 4, 0.0)


def test_attention_attends_over_positions():
    op = build_op("scale_dot_attn", C=4, L=4, dropout=0.0).eval()
    x = torch.randn(2, 4, 4)
    y = torch.randn(2, 4, 4)
    y2 = y.clone()
    y2[:, :, 0] += 10.0  # changing one position of y changes every output position
    assert not torch.allclose(op(x, y)[:, :, 1:], op(x, y2)[:, :, 1:])


@pytest.mark.parametrize("shape", [(512, 32, 20), (512, 4, 4), (64,), (128,), (3, 1, 1)])
def test_node_reshape_to_common_c_l(shape):
    r = NodeReshape(shape, C=16, L=16, dropout=0.0)
    assert r(torch.randn(3, *shape)).shape == (3, 16, 16)


def test_input_nodes_keep_order():
    m = InputNodes([(8, 4, 4), (6,)], C=4, L=4, dropout=0.0)
    out = m([torch.randn(2, 8, 4, 4), torch.randn(2, 6)])
    assert [o.shape for o in out] == [(2, 4, 4), (2, 4, 4)]
