"""from_torch (torch.fx tracing) and the traced network catalogs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from looplab.errors import LooplabError  # noqa: E402
from looplab.workloads import from_torch, load_workload  # noqa: E402
from looplab.workloads import torch_nets as T  # noqa: E402
from looplab.workloads.build_catalogs import build  # noqa: E402

NETS = {
    "resnet50": (T.resnet50, (1, 3, 224, 224)),
    "resnext50_32x4d": (T.resnext50_32x4d, (1, 3, 224, 224)),
    "alexnet": (T.AlexNet, (1, 3, 224, 224)),
    "vgg16": (T.VGG16, (1, 3, 224, 224)),
    "unet": (T.UNet, (1, 1, 572, 572)),
    "bert": (T.BertEncoder, (1, 128, 768)),
    "retinanet": (T.RetinaNet, (1, 3, 224, 224)),
}


def _meta(ctor, shape):
    with torch.device("meta"):
        return ctor(), torch.empty(*shape)


def _torch_macs(net, x) -> int:
    """MACs as torch's own FLOP counter sees them (2 FLOPs per MAC for conv and matmul)."""
    fc = FlopCounterMode(display=False)
    with fc:
        net(x)
    return fc.get_total_flops() // 2


def test_tracing_resnet50_reproduces_the_reference_catalog():
    net, x = _meta(*NETS["resnet50"])
    traced = from_torch(net, x, name="resnet50")
    ref = load_workload("resnet50")
    assert sorted((lay.shape_key(), lay.count) for lay in traced) == sorted((lay.shape_key(), lay.count)
                                                                            for lay in ref)


@pytest.mark.parametrize("name", sorted(NETS))
def test_catalog_macs_equal_torch_flop_counter(name):
    """Every shipped catalog (counts included) accounts for exactly the MACs torch counts for the network."""
    net, x = _meta(*NETS[name])
    assert sum(lay.macs * lay.count for lay in load_workload(name)) == _torch_macs(net, x)


def test_shipped_catalogs_are_what_the_generator_writes(tmp_path):
    assert build(check=True) == []


def test_grouped_depthwise_and_strided_convs():
    net = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.Conv2d(16, 16, 3, stride=2, groups=16),
                        nn.Conv2d(16, 4, (1, 5), stride=(1, 2), dilation=(1, 2), padding=(0, 6)))
    x = torch.randn(2, 8, 12, 20)  # real tensors: exercises the non-meta path
    g, dw, asym = from_torch(net, x, name="n", dedupe=False)
    assert (g.C, g.K, g.count, g.N, g.P, g.Q) == (2, 4, 4, 2, 20, 12)
    assert (dw.C, dw.K, dw.count, dw.Wstride, dw.Hstride, dw.P, dw.Q) == (1, 1, 16, 2, 2, 9, 5)
    # R/P pair with the width (last axis), S/Q with the height
    assert (asym.R, asym.S, asym.Wstride, asym.Hstride, asym.Wdilation, asym.Hdilation) == (5, 1, 2, 1, 2, 1)
    assert (asym.P, asym.Q) == (7, 5)  # W: (9 + 2*6 - 9) // 2 + 1; H: 5
    assert sum(lay.macs * lay.count for lay in (g, dw, asym)) == _torch_macs(net, x)


def test_linear_matmul_bmm_and_conv1d_conventions():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(32, 48)
            self.c1 = nn.Conv1d(48, 24, 3, stride=2)
            self.w = nn.Parameter(torch.randn(48, 8))

        def forward(self, x):  # x: [2, 10, 32]
            h = self.proj(x)  # Linear: N=2, P=10
            att = torch.matmul(h.view(2, 10, 4, 12).transpose(1, 2), h.view(2, 10, 4, 12).permute(0, 2, 3, 1))
            shared = h @ self.w  # right operand unbatched: shared weights -> N=2, P=10
            c = self.c1(h.transpose(1, 2))
            b = torch.bmm(h, h.transpose(1, 2))
            return att, shared, c, b

    layers = {lay.name.split(".", 1)[1]: lay for lay in from_torch(M(), torch.randn(2, 10, 32), name="m",
                                                                   dedupe=False)}
    proj, att, shared, c1, bmm = layers["proj"], layers["matmul"], layers["matmul_call2"], layers["c1"], layers["bmm"]
    assert (proj.N, proj.P, proj.C, proj.K, proj.count) == (2, 10, 32, 48, 1)
    assert (att.P, att.C, att.K, att.count) == (10, 12, 10, 8)  # 2 batches x 4 heads, separate operands
    assert (shared.N, shared.P, shared.C, shared.K, shared.count) == (2, 10, 48, 8, 1)
    assert (c1.R, c1.S, c1.P, c1.Q, c1.C, c1.K, c1.Wstride) == (3, 1, 4, 1, 48, 24, 2)
    assert (bmm.P, bmm.C, bmm.K, bmm.count) == (10, 48, 10, 2)
    assert sum(lay.macs * lay.count for lay in layers.values()) == _torch_macs(M(), torch.randn(2, 10, 32))


def test_transposed_conv_forms():
    exact, general = from_torch(nn.Sequential(nn.ConvTranspose2d(16, 8, 2, stride=2),
                                              nn.ConvTranspose2d(8, 4, 3, stride=1, padding=1)),
                                torch.randn(1, 16, 5, 7), name="t", dedupe=False)
    assert (exact.R, exact.S, exact.P, exact.Q, exact.C, exact.K) == (1, 1, 7, 5, 16, 32)
    assert exact.macs == 1 * 8 * 10 * 14 * 16  # every output pixel takes one input pixel x 16 channels
    assert (general.R, general.S, general.P, general.Q, general.C, general.K) == (3, 3, 14, 10, 8, 4)


def test_dedupe_sums_counts_and_names_follow_first_use():
    block = nn.Conv2d(4, 4, 3, padding=1)
    net = nn.Sequential(block, nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 8, 1))
    layers = from_torch(net, torch.randn(1, 4, 6, 6), name="s")
    assert [(lay.name, lay.count) for lay in layers] == [("s.0", 2), ("s.3", 1)]


def test_from_torch_errors():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(LooplabError, match="torch.fx cannot trace Branchy"):
        from_torch(Branchy(), torch.randn(2))
    with pytest.raises(LooplabError, match="no conv/linear/matmul ops"):
        from_torch(nn.ReLU(), torch.randn(2))
    with pytest.raises(LooplabError, match="expected a torch.nn.Module"):
        from_torch(lambda x: x, torch.randn(2))
    with pytest.raises(LooplabError, match="shape propagation failed"):
        from_torch(nn.Linear(3, 4), torch.randn(2, 5))


def test_resnet50_aliases_are_its_torch_module_paths():
    net, x = _meta(*NETS["resnet50"])
    traced = {lay.shape_key(): lay.name.split(".", 1)[1] for lay in from_torch(net, x, name="resnet50")}
    assert [lay.alias for lay in load_workload("resnet50")] == [traced[lay.shape_key()]
                                                                 for lay in load_workload("resnet50")]
