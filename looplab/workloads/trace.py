"""Trace any ``torch.nn.Module`` with torch.fx into Timeloop conv layers (unique shapes with repeat counts).

Shapes come from :class:`torch.fx.passes.shape_prop.ShapeProp` run under a fake-tensor mode (no real compute,
no memory for activations); if an op has no fake kernel the module is run for real under ``torch.no_grad()``.

How each op becomes a 7-D layer (Timeloop's cnn_layer: R/P pair with the width, S/Q with the height):

* ``Conv2d``/``F.conv2d``: weight ``[K, C/g, kH, kW]`` -> ``R=kW, S=kH, P=out_w, Q=out_h``, strides/dilations as
  given (W = last axis). Grouped convolutions are counted per group: ``C/g``, ``K/g`` and the repeat count
  multiplied by ``g`` (a depthwise conv is ``g = C`` layers with ``C = K = 1``).
* ``Conv1d``: ``R = k, S = 1, P = out_len, Q = 1``.
* ``ConvTranspose2d``: with ``stride == kernel`` (no padding/dilation) the output blocks do not overlap and the op
  is exactly a 1x1 conv with ``K = out_ch * kH * kW`` at the input resolution; otherwise the direct convolution
  over the zero-upsampled input (``R=kW, S=kH, P=out_w, Q=out_h``, stride 1), which also counts the inserted zeros.
* ``Linear``/``F.linear`` on ``[N, ..., F_in]``: a 1x1 conv with ``N`` = first axis, ``P`` = product of the middle
  axes (tokens), ``C = F_in``, ``K = F_out``.
* ``matmul``/``@``/``mm``/``bmm``/``addmm`` ``[..., M, K] @ [..., K, Nc]``: ``P = M, C = K, K = Nc``. When the right
  operand has batch axes (attention scores, ``bmm``) every batch element is a separate product: the repeat
  count is multiplied by the batch size. When only the left one has batch axes (``x @ W``) they share ``W``
  and become ``N`` (first axis) and ``P`` (the rest times M), as for Linear.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

from looplab.errors import LooplabError
from looplab.workloads.layer import Layer


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _single(v: Any) -> int:
    return int(v) if isinstance(v, int) else int(tuple(v)[0])


def _bind(args: Sequence[Any], kwargs: dict[str, Any], names: Sequence[str], defaults: dict[str, Any]) -> dict:
    out = dict(defaults)
    out.update(dict(zip(names, args, strict=False)))
    out.update(kwargs)
    return out


_CONV_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def _shape(node: Any) -> tuple[int, ...] | None:
    tm = getattr(node, "meta", {}).get("tensor_meta") if hasattr(node, "meta") else None
    shape = getattr(tm, "shape", None)
    return tuple(int(s) for s in shape) if shape is not None else None


def conv2d_layer(in_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int], stride: Any = 1,
                 dilation: Any = 1, groups: int = 1) -> dict[str, int]:
    """Layer fields of a 2-D convolution (input ``[N,]C,H,W``, weight ``K,C/g,kH,kW``)."""
    n = in_shape[0] if len(in_shape) == 4 else 1
    k, cg, kh, kw = w_shape
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    return dict(R=kw, S=kh, P=out_shape[-1], Q=out_shape[-2], C=cg, K=k // groups, N=n, Wstride=sw, Hstride=sh,
                Wdilation=dw, Hdilation=dh, count=groups)


def conv1d_layer(in_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int], stride: Any = 1,
                 dilation: Any = 1, groups: int = 1) -> dict[str, int]:
    n = in_shape[0] if len(in_shape) == 3 else 1
    k, cg, kw = w_shape
    return dict(R=kw, S=1, P=out_shape[-1], Q=1, C=cg, K=k // groups, N=n, Wstride=_single(stride), Hstride=1,
                Wdilation=_single(dilation), Hdilation=1, count=groups)


def conv_transpose2d_layer(in_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int],
                           stride: Any = 1, padding: Any = 0, output_padding: Any = 0, dilation: Any = 1,
                           groups: int = 1) -> dict[str, int]:
    n = in_shape[0] if len(in_shape) == 4 else 1
    cin, kg, kh, kw = w_shape
    if (_pair(stride) == (kh, kw) and _pair(padding) == (0, 0) and _pair(output_padding) == (0, 0)
            and _pair(dilation) == (1, 1)):
        return dict(R=1, S=1, P=in_shape[-1], Q=in_shape[-2], C=cin // groups, K=kg * kh * kw, N=n, count=groups)
    dh, dw = _pair(dilation)
    return dict(R=kw, S=kh, P=out_shape[-1], Q=out_shape[-2], C=cin // groups, K=kg, N=n, Wdilation=dw,
                Hdilation=dh, count=groups)


def linear_layer(in_shape: Sequence[int], w_shape: Sequence[int]) -> dict[str, int]:
    lead = tuple(in_shape[:-1])
    n = lead[0] if lead else 1
    return dict(R=1, S=1, P=math.prod(lead[1:]), Q=1, C=w_shape[1], K=w_shape[0], N=n, count=1)


def matmul_layer(a: Sequence[int], b: Sequence[int]) -> dict[str, int]:
    a = tuple(a) if len(a) > 1 else (1, *a)
    b = tuple(b) if len(b) > 1 else (*b, 1)
    m, kk = a[-2], a[-1]
    nc = b[-1]
    ba, bb = a[:-2], b[:-2]
    if bb:  # both operands batched: independent products
        import torch

        batch = math.prod(torch.broadcast_shapes(torch.Size(ba), torch.Size(bb)))
        return dict(R=1, S=1, P=m, Q=1, C=kk, K=nc, N=1, count=batch)
    n = ba[0] if ba else 1
    return dict(R=1, S=1, P=math.prod(ba[1:]) * m, Q=1, C=kk, K=nc, N=n, count=1)


def _propagate(gm: Any, inputs: tuple) -> None:
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    try:
        from torch._subclasses.fake_tensor import FakeTensorMode

        mode = FakeTensorMode(allow_non_fake_inputs=True)
        fake_inputs = tuple(mode.from_tensor(x) if isinstance(x, torch.Tensor) else x for x in inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ShapeProp(gm, fake_mode=mode).propagate(*fake_inputs)
        return
    except Exception:  # noqa: BLE001 - fall back to running it for real
        pass
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(*inputs)
    except Exception as exc:
        raise LooplabError(f"shape propagation failed: {type(exc).__name__}: {exc}", "from_torch") from None


def _function_label(node: Any) -> str:
    """``<enclosing module path>.<op>`` (e.g. ``layers.3.matmul``) for a function/method call node."""
    import re

    base = re.sub(r"_\d+$", "", node.name)
    stack = node.meta.get("nn_module_stack") or {}
    scope = next(reversed(stack.values()))[0] if stack else ""
    return f"{scope}.{base}" if scope else base


def trace_ops(module: Any, example_input: Any, concrete_args: dict[str, Any] | None = None) -> list[tuple[str, dict]]:
    """Every conv/linear/matmul op of the traced module in execution order: ``(qualified name, layer fields)``."""
    import torch
    import torch.fx as fx
    import torch.nn as nn
    import torch.nn.functional as F

    inputs = tuple(example_input) if isinstance(example_input, list | tuple) else (example_input,)
    if isinstance(module, fx.GraphModule):
        gm = module
    else:
        if not isinstance(module, nn.Module):
            raise LooplabError(f"expected a torch.nn.Module, got {type(module).__name__}", "from_torch")
        try:
            gm = fx.symbolic_trace(module, concrete_args=concrete_args)
        except Exception as exc:
            raise LooplabError(f"torch.fx cannot trace {type(module).__name__}: {type(exc).__name__}: {exc} "
                               "(data-dependent control flow? pass concrete_args or wrap that part as a leaf "
                               "module)", "from_torch") from None
    _propagate(gm, inputs)
    mods = dict(gm.named_modules())
    out: list[tuple[str, dict]] = []
    skipped: set[str] = set()
    for node in gm.graph.nodes:
        fields = None
        if node.op == "call_module":
            mod = mods[node.target]
            src, dst = _shape(node.args[0]), _shape(node)
            if isinstance(mod, nn.Conv2d):
                fields = conv2d_layer(src, tuple(mod.weight.shape), dst, mod.stride, mod.dilation, mod.groups)
            elif isinstance(mod, nn.Conv1d):
                fields = conv1d_layer(src, tuple(mod.weight.shape), dst, mod.stride, mod.dilation, mod.groups)
            elif isinstance(mod, nn.ConvTranspose2d):
                fields = conv_transpose2d_layer(src, tuple(mod.weight.shape), dst, mod.stride, mod.padding,
                                                mod.output_padding, mod.dilation, mod.groups)
            elif isinstance(mod, nn.Linear):
                fields = linear_layer(src, tuple(mod.weight.shape))
            elif isinstance(mod, nn.Conv3d | nn.ConvTranspose1d | nn.ConvTranspose3d | nn.Bilinear):
                skipped.add(type(mod).__name__)
            name = str(node.target)
        elif node.op in ("call_function", "call_method"):
            tgt = node.target
            name = _function_label(node)
            if tgt in (F.conv2d, torch.conv2d, F.conv1d, torch.conv1d):
                b = _bind(node.args, node.kwargs, _CONV_NAMES, _CONV_DEFAULTS)
                maker = conv2d_layer if tgt in (F.conv2d, torch.conv2d) else conv1d_layer
                fields = maker(_shape(b["input"]), _shape(b["weight"]), _shape(node), b["stride"], b["dilation"],
                               int(b["groups"]))
            elif tgt in (F.linear,):
                b = _bind(node.args, node.kwargs, ("input", "weight", "bias"), {})
                fields = linear_layer(_shape(b["input"]), _shape(b["weight"]))
            elif tgt in (torch.matmul, operator.matmul, torch.mm, torch.bmm, "matmul", "mm", "bmm", "__matmul__"):
                fields = matmul_layer(_shape(node.args[0]), _shape(node.args[1]))
            elif tgt in (torch.addmm, "addmm"):
                fields = matmul_layer(_shape(node.args[1]), _shape(node.args[2]))
            elif tgt in (F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, torch.einsum,
                         torch.baddbmm, "baddbmm"):
                skipped.add(getattr(tgt, "__name__", str(tgt)))
        if fields is not None:
            out.append((name, fields))
    if skipped:
        warnings.warn(f"from_torch: ops not representable as one conv layer were skipped: {sorted(skipped)}",
                      stacklevel=3)
    return out


def from_torch(module: Any, example_input: Any, name: str = "model", dedupe: bool = True,
               concrete_args: dict[str, Any] | None = None) -> list[Layer]:
    """Unique conv/linear/matmul layers of ``module`` run on ``example_input`` (a tensor or a tuple of them).

    Layers are named ``<name>.<module path or fx node name>`` after their first occurrence; with ``dedupe``
    (default) computationally identical ops are merged and their repeat counts summed, in first-seen order.
    """
    ops = trace_ops(module, example_input, concrete_args)
    if not ops:
        raise LooplabError(f"no conv/linear/matmul ops found in {type(module).__name__}", "from_torch")
    calls: dict[str, int] = {}
    layers = []
    for op, fields in ops:  # a label seen again (shared heads, 2nd matmul in a block) gets _callN
        calls[op] = calls.get(op, 0) + 1
        label = op if calls[op] == 1 else f"{op}_call{calls[op]}"
        layers.append(Layer(**fields, name=f"{name}.{label}"))
    if not dedupe:
        return layers
    merged: dict[tuple[int, ...], Layer] = {}
    for lay in layers:
        key = lay.shape_key()
        merged[key] = merged[key].with_(count=merged[key].count + lay.count) if key in merged else lay
    return list(merged.values())
