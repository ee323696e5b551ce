"""``looplab list layers``: a workload's layers as a table (names and aliases, dims, counts, MACs)."""

from __future__ import annotations

from collections.abc import Sequence

from looplab.workloads.layer import Layer


def format_layers(workload: str, layers: Sequence[Layer], description: str = "") -> list[str]:
    """Lines of the table, layers in catalog (network) order; ``#`` is the index sweep specs accept."""
    total = sum(lay.count for lay in layers)
    macs = sum(lay.macs * lay.count for lay in layers)
    head = f"{workload}: {len(layers)} distinct layers, {total} in the network, {macs / 1e9:.3f} GMACs"
    rows = [("#", "name", "alias", "R", "S", "P", "Q", "C", "K", "N", "stride", "dilation", "count", "MMACs")]
    for i, lay in enumerate(layers):
        rows.append((str(i), lay.name, lay.label(workload),
                     *(str(lay.dims[d]) for d in "RSPQCKN"), f"{lay.Wstride}x{lay.Hstride}",
                     f"{lay.Wdilation}x{lay.Hdilation}", str(lay.count), f"{lay.macs / 1e6:.1f}"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    left = {1, 2}
    lines = [head + (f" -- {description}" if description else "")]
    for r in rows:
        lines.append("  " + " ".join(v.ljust(w) if c in left else v.rjust(w)
                                     for c, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    return lines
