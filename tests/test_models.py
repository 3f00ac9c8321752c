"""FakeBuster: output shapes, attention map, exact parameter count from the layer sizes."""

from __future__ import annotations

import pytest
import torch

from fakescope.families.fakebuster import FakeBuster
from fakescope.models import create_model
from fakescope.families.fakebuster.network import SelfAttention, SqueezeExcite


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- parameter arithmetic, layer by layer (weights + biases; BatchNorm has γ and β) ----------

def conv_bn(c_in: int, c_out: int, k: int = 1, groups: int = 1) -> int:
    return c_out * (c_in // groups) * k * k + 2 * c_out  # bias-free conv + BN(γ, β)


def se(c: int) -> int:
    s = max(8, c // 4)
    return (c * s + s) + (s * c + c)  # two 1x1 convs with bias


def inverted_residual(c_in: int, c_out: int, expand: int, use_se: bool) -> int:
    h = c_in * expand
    total = conv_bn(c_in, h) + conv_bn(h, h, k=3, groups=h) + conv_bn(h, c_out)
    total += se(c_out) if use_se else 0
    total += conv_bn(c_in, c_out) if c_in != c_out else 0  # projection shortcut
    return total


def attention(c: int) -> int:
    inner = c // 8
    return 2 * (c * inner + inner) + (c * c + c) + 1  # query, key, value, gamma


def expected_params(widths=(24, 40, 64, 96), stem=16, expand=4, use_attention=True,
                    use_se=True) -> int:
    total = conv_bn(3, stem, k=3) + 2 * conv_bn(stem, stem, k=3)
    c_in = stem
    for i, c in enumerate(widths):
        total += inverted_residual(c_in, c, expand, use_se)
        total += inverted_residual(c, c, expand, use_se)
        if i == 0 and use_attention:
            total += attention(c)
        c_in = c
    return total + c_in + 1  # linear head


def test_default_parameter_count_is_exactly_the_layer_arithmetic():
    # Default config, widths (24, 40, 64, 96), stem 16, expand 4:
    #   stem      3·16·9+32 + 2·(16·16·9+32)                                =   5 136
    #   block 1   16→24: 1152+704+1584+SE 416+shortcut 432 = 4288; 24→24: 6320 =  10 608
    #   attention 24: 2·(24·3+3) + (24·24+24) + 1                           =     751
    #   block 2   24→40: 9362;  40→40: 15810                                =  25 172
    #   block 3   40→64: 23664; 64→64: 38352                                =  62 016
    #   block 4   64→96: 55544; 96→96: 83640                                = 139 184
    #   head      96 + 1                                                    =      97
    #   total                                                               = 242 964
    assert expected_params() == 242_964
    assert n_params(FakeBuster()) == 242_964
    assert n_params(create_model("fakebuster")) == 242_964


@pytest.mark.parametrize("kwargs", [dict(expand=2), dict(widths=(8, 16, 16, 32), stem_width=8)])
def test_parameter_count_other_configs(kwargs):
    stem = kwargs.pop("stem_width", 16)
    model = FakeBuster(stem_width=stem, **kwargs)
    assert n_params(model) == expected_params(stem=stem, **kwargs)


def test_baseline_has_no_attention_and_no_se():
    model = create_model("fakebuster_baseline")
    assert not any(isinstance(m, (SelfAttention, SqueezeExcite)) for m in model.modules())
    assert model.attention is None
    # 242 964 − SE (2·416 + 2·850 + 2·2128 + 2·4728 = 16 244) − attention 751 = 225 969
    assert n_params(model) == 225_969 == expected_params(use_attention=False, use_se=False)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2,)
    assert model.last_attention is None


@pytest.mark.parametrize("size,att", [(32, 8), (64, 16), (90, 22), (96, 24)])
def test_output_and_attention_shapes(size, att):
    torch.manual_seed(0)
    model = FakeBuster(expand=2).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, size, size))
    assert out.shape == (3,)
    assert torch.isfinite(out).all()
    amap = model.last_attention
    # stem stride 2, then the first max-pool: the map is the input side // 4
    assert amap.shape == (3, att, att)
    # each query's softmax row sums to 1, so the mean over queries sums to 1 over positions
    assert torch.allclose(amap.sum(dim=(1, 2)), torch.ones(3), atol=1e-5)
    assert (amap >= 0).all()


def test_attention_map_follows_the_input():
    torch.manual_seed(0)
    model = FakeBuster(expand=2).eval()
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
        a = model.last_attention.clone()
        model(torch.randn(2, 3, 64, 64))
    assert not torch.allclose(a, model.last_attention)
