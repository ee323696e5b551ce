"""Regenerate the shipped network catalogs (``looplab/data/workloads/*.json``) by tracing the hand-written
networks of :mod:`looplab.workloads.torch_nets` with :func:`looplab.workloads.from_torch`.

    python -m looplab.workloads.build_catalogs [--out DIR] [--check]

``resnet50.json`` is not generated: it is the reference set's layer list (DOSA's names and counts); the test
suite checks that tracing :func:`torch_nets.resnet50` reproduces it exactly. ``--check`` compares freshly traced
catalogs with the shipped files and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from looplab.workloads.catalog import catalog_dir, dumps_catalog
from looplab.workloads.layer import Layer

GROUPED_NOTE = ("Grouped convolutions are listed per group (C/groups, K/groups) with the repeat count multiplied "
                "by groups.")
TRANSPOSE_NOTE = ("The 2x2 stride-2 up-convolutions (ConvTranspose2d) write non-overlapping 2x2 output blocks, so "
                  "each is listed as the exactly equivalent 1x1 conv at the input resolution with K = 4 x out "
                  "channels.")

# DeepBench (baidu-research/DeepBench code/kernels/conv_problems.h, inference_server_set, batch n = 1):
# (w, h, c, n, k, filter_w, filter_h, pad_w, pad_h, wstride, hstride)
DEEPBENCH_INFERENCE_SERVER_N1 = [
    (700, 161, 1, 1, 32, 20, 5, 0, 0, 2, 2), (341, 79, 32, 1, 32, 10, 5, 0, 0, 2, 2),
    (480, 48, 1, 1, 16, 3, 3, 1, 1, 1, 1), (240, 24, 16, 1, 32, 3, 3, 1, 1, 1, 1),
    (120, 12, 32, 1, 64, 3, 3, 1, 1, 1, 1), (60, 6, 64, 1, 128, 3, 3, 1, 1, 1, 1),
    (108, 108, 3, 1, 64, 3, 3, 1, 1, 2, 2), (54, 54, 64, 1, 64, 3, 3, 1, 1, 1, 1),
    (27, 27, 128, 1, 128, 3, 3, 1, 1, 1, 1), (14, 14, 128, 1, 256, 3, 3, 1, 1, 1, 1),
    (7, 7, 256, 1, 512, 3, 3, 1, 1, 1, 1), (224, 224, 3, 1, 64, 3, 3, 1, 1, 1, 1),
    (112, 112, 64, 1, 128, 3, 3, 1, 1, 1, 1), (56, 56, 128, 1, 256, 3, 3, 1, 1, 1, 1),
    (28, 28, 256, 1, 512, 3, 3, 1, 1, 1, 1), (14, 14, 512, 1, 512, 3, 3, 1, 1, 1, 1),
    (7, 7, 512, 1, 512, 3, 3, 1, 1, 1, 1), (224, 224, 3, 1, 64, 7, 7, 3, 3, 2, 2),
    (28, 28, 192, 1, 32, 5, 5, 2, 2, 1, 1), (28, 28, 192, 1, 64, 1, 1, 0, 0, 1, 1),
    (14, 14, 512, 1, 48, 5, 5, 2, 2, 1, 1), (14, 14, 512, 1, 192, 1, 1, 0, 0, 1, 1),
    (7, 7, 832, 1, 256, 1, 1, 0, 0, 1, 1), (7, 7, 832, 1, 128, 5, 5, 2, 2, 1, 1),
    (56, 56, 64, 1, 64, 3, 3, 1, 1, 1, 1), (56, 56, 64, 1, 256, 1, 1, 0, 0, 2, 2),
    (28, 28, 128, 1, 128, 3, 3, 1, 1, 1, 1), (28, 28, 128, 1, 512, 1, 1, 0, 0, 2, 2),
    (14, 14, 256, 1, 256, 1, 1, 0, 0, 1, 1), (14, 14, 256, 1, 256, 3, 3, 1, 1, 1, 1),
    (14, 14, 256, 1, 1024, 1, 1, 0, 0, 2, 2), (7, 7, 512, 1, 512, 1, 1, 0, 0, 1, 1),
    (7, 7, 2048, 1, 512, 1, 1, 3, 3, 2, 2), (700, 161, 1, 1, 64, 5, 5, 1, 1, 2, 2),
    (350, 80, 64, 1, 64, 3, 3, 1, 1, 1, 1), (350, 80, 64, 1, 128, 5, 5, 1, 1, 2, 2),
    (175, 40, 128, 1, 128, 3, 3, 1, 1, 1, 1), (175, 40, 128, 1, 256, 5, 5, 1, 1, 2, 2),
    (84, 20, 256, 1, 256, 3, 3, 1, 1, 1, 1), (84, 20, 256, 1, 512, 5, 5, 1, 1, 2, 2),
    (42, 10, 512, 1, 512, 3, 3, 1, 1, 1, 1), (112, 112, 64, 1, 64, 1, 1, 0, 0, 1, 1),
    (56, 56, 64, 1, 256, 1, 1, 0, 0, 1, 1), (56, 56, 256, 1, 64, 1, 1, 0, 0, 1, 1),
    (56, 56, 256, 1, 128, 1, 1, 0, 0, 2, 2), (28, 28, 128, 1, 512, 1, 1, 0, 0, 1, 1),
    (28, 28, 512, 1, 128, 1, 1, 0, 0, 1, 1), (28, 28, 512, 1, 256, 1, 1, 0, 0, 2, 2),
    (14, 14, 256, 1, 1024, 1, 1, 0, 0, 1, 1), (28, 28, 512, 1, 1024, 1, 1, 0, 0, 2, 2),
    (14, 14, 1024, 1, 256, 1, 1, 0, 0, 1, 1), (14, 14, 256, 1, 1024, 1, 1, 0, 0, 1, 1),
    (14, 14, 1024, 1, 512, 1, 1, 0, 0, 2, 2), (7, 7, 512, 1, 512, 3, 3, 1, 1, 1, 1),
    (7, 7, 512, 1, 2048, 1, 1, 0, 0, 1, 1), (14, 14, 1024, 1, 2048, 1, 1, 0, 0, 2, 2),
    (7, 7, 2048, 1, 512, 1, 1, 0, 0, 1, 1),
]


@dataclass(frozen=True)
class NetSpec:
    name: str
    build: Callable[[], list[Layer]]
    description: str
    source: str
    notes: str = ""


def _trace(ctor: Callable, shape: tuple[int, ...], name: str) -> list[Layer]:
    import torch

    from looplab.workloads.trace import from_torch

    with torch.device("meta"):
        net = ctor()
        x = torch.empty(*shape)
    return from_torch(net, x, name=name)


def _deepbench() -> list[Layer]:
    import torch
    from torch import nn

    from looplab.workloads.trace import from_torch

    merged: dict[tuple[int, ...], Layer] = {}
    for i, (w, h, c, n, k, fw, fh, pw, ph, ws, hs) in enumerate(DEEPBENCH_INFERENCE_SERVER_N1):
        with torch.device("meta"):
            conv = nn.Conv2d(c, k, (fh, fw), stride=(hs, ws), padding=(ph, pw))
            x = torch.empty(n, c, h, w)
        (lay,) = from_torch(conv, x, name="deepbench")
        lay = lay.with_(name=f"deepbench.conv{i:02d}_{w}x{h}x{c}_k{k}_{fw}x{fh}_s{ws}")
        key = lay.shape_key()
        merged[key] = merged[key].with_(count=merged[key].count + 1) if key in merged else lay
    return list(merged.values())


def net_specs() -> list[NetSpec]:
    from looplab.workloads import torch_nets as T

    return [
        NetSpec("alexnet", lambda: _trace(T.AlexNet, (1, 3, 224, 224), "alexnet"),
                "AlexNet (torchvision's single-tower variant, 224x224, batch 1): 5 convs + 3 FC",
                "traced from looplab.workloads.torch_nets.AlexNet"),
        NetSpec("vgg16", lambda: _trace(T.VGG16, (1, 3, 224, 224), "vgg16"),
                "VGG-16 (configuration D, 224x224, batch 1): 13 convs + 3 FC",
                "traced from looplab.workloads.torch_nets.VGG16"),
        NetSpec("resnext50_32x4d", lambda: _trace(T.resnext50_32x4d, (1, 3, 224, 224), "resnext50_32x4d"),
                "ResNeXt50-32x4d (224x224, batch 1): ResNet-50 layout with 32-group 3x3 convs",
                "traced from looplab.workloads.torch_nets.resnext50_32x4d", GROUPED_NOTE),
        NetSpec("unet", lambda: _trace(T.UNet, (1, 1, 572, 572), "unet"),
                "U-Net (Ronneberger et al. 2015: 572x572x1 input, unpadded 3x3 convs, 2 classes, batch 1)",
                "traced from looplab.workloads.torch_nets.UNet", TRANSPOSE_NOTE),
        NetSpec("bert", lambda: _trace(T.BertEncoder, (1, 128, 768), "bert"),
                "BERT-base encoder matmuls as 1x1 convs (12 layers, 128 tokens, hidden 768, 12 heads, FFN 3072; "
                "P = tokens, C = inner dim, K = outputs)",
                "traced from looplab.workloads.torch_nets.BertEncoder",
                "Q/K/V/output projections and FFN are Linear layers; the per-head attention products "
                "(QK^T: 128x64 @ 64x128, AV: 128x128 @ 128x64) count once per head and layer. Embeddings, "
                "pooler, softmax and layer norms are not matmuls and are left out."),
        NetSpec("retinanet", lambda: _trace(T.RetinaNet, (1, 3, 224, 224), "retinanet"),
                "RetinaNet (ResNet-50 + FPN P3-P7 + 4-conv class/box subnets shared over levels, 80 classes, "
                "9 anchors, 224x224, batch 1)",
                "traced from looplab.workloads.torch_nets.RetinaNet",
                "The backbone is included; P6 is computed from C5 as in the paper. Subnet convs applied at several "
                "pyramid levels are separate layers per level (their sizes differ)."),
        NetSpec("deepbench", _deepbench,
                "DeepBench convolution kernels (inference server set, batch 1)",
                "baidu-research/DeepBench code/kernels/conv_problems.h inference_server_set, entries with n = 1",
                "Filter width pairs with R and the output width with P (Timeloop's W axis); duplicate kernels "
                "are merged into repeat counts."),
    ]


def build(out_dir: Path | None = None, check: bool = False, names: list[str] | None = None) -> list[str]:
    """Write (or with ``check`` compare) every generated catalog; returns the names that differ / were written."""
    out_dir = Path(out_dir) if out_dir else catalog_dir()
    changed = []
    for spec in net_specs():
        if names and spec.name not in names:
            continue
        text = dumps_catalog(spec.name, spec.build(), description=spec.description, source=spec.source,
                             notes=spec.notes)
        path = out_dir / f"{spec.name}.json"
        if check:
            if not path.is_file() or path.read_text() != text:
                changed.append(spec.name)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(spec.name)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (default: the package's catalog folder)")
    ap.add_argument("--check", action="store_true", help="compare with the shipped files instead of writing")
    ap.add_argument("names", nargs="*", help="only these catalogs")
    args = ap.parse_args(argv)
    done = build(args.out, args.check, args.names or None)
    if args.check:
        print("catalogs differ: " + ", ".join(done) if done else "catalogs up to date")
        return 1 if done else 0
    print("wrote " + ", ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
