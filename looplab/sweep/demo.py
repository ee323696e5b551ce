"""``looplab demo``: the whole pipeline, small, on a fresh machine (what ``make demo`` runs).

1. emit the architecture YAML of the presets and the problem YAML of ResNet-50's layers,
2. sample valid and invalid mappings for one (preset, layer),
3. sweep presets x ResNet-50 layers x sampled mappings into a Parquet dataset,
4. correlate looplab's analytical model with the recorded real-Timeloop reference set shipped with looplab.

With ``timeloop-model`` on PATH the sweep runs the real Timeloop; without it, the analytical model, and the
demo says so.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError

DEMO_PRESETS = ("simba_final", "arch0", "gemmini_default")


def _presets(echo: Callable[[str], None]) -> list[tuple[str, str, str]]:
    """(name, family, arch YAML) of every preset."""
    from looplab.sweep.sources import _arch_gen, _reference_archs, arch_yaml_text
    from looplab.sweep.spec import AccelRef

    ag = _arch_gen()
    out = []
    if ag is not None and hasattr(ag, "list_presets"):
        for name in ag.list_presets():
            cfg = ag.get_preset(name)
            out.append((name, cfg.family, ag.render_arch(cfg)))
        return out
    echo("  (arch_gen not available: using the reference set's preset architectures)")
    for name, ref in _reference_archs().items():
        out.append((name, ref["family"], arch_yaml_text(AccelRef(name, ref["family"], ref["params"], "preset"))))
    return out


def demo_sweep_spec(out: Path, backend: str, n_layers: int = 24) -> dict[str, Any]:
    """The demo's sweep: 3 presets x ResNet-50; every layer and 20 + 20 mappings on the analytical model,
    3 layers and 3 + 3 mappings on the real simulators."""
    small = backend != "analytical"
    return {"name": f"demo-{backend}", "seed": 0, "out": str(Path(out) / "sweep"), "backend": backend,
            "accelerators": {"presets": list(DEMO_PRESETS)},
            "workloads": [{"workload": "resnet50", "layers": [0, 1, n_layers - 1] if small else list(range(n_layers))}],
            "mappings": {"valid": 3 if small else 20, "invalid": 3 if small else 20}, "points_per_task": 240}


def run_demo(out: str | Path, backend: str = "auto", echo: Callable[[str], None] | None = None,
             progress: bool = True) -> dict[str, Any]:
    echo = echo or (lambda s: print(s, flush=True))
    out = Path(out)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    have_tl = shutil.which("timeloop-model") is not None
    if backend == "auto":
        backend = "timeloop" if have_tl else "analytical"
    bar = "=" * 78
    echo(bar)
    if backend == "timeloop":
        echo("looplab demo: timeloop-model found on PATH -> the sweep runs the REAL Timeloop (+ Accelergy).")
    else:
        why = "timeloop-model is NOT on PATH" if not have_tl else f"backend {backend!r} requested"
        echo(f"looplab demo: {why} -> the sweep runs looplab's ANALYTICAL model, not the real Timeloop.")
        echo("  Its accuracy against real Timeloop is measured in step 4 on recorded real-Timeloop results.")
        echo("  For real labels install Timeloop/Accelergy (docker/Dockerfile) and rerun `make demo`.")
    echo(bar)
    result: dict[str, Any] = {"backend": backend, "out": str(out)}

    # 1. emit
    from looplab.sweep.sources import LAYER_KEYS, problem_yaml_text, resolve_layers
    from looplab.sweep.spec import LayerRef, parse_spec

    echo("[1/4] emit: architecture and problem YAML")
    arch_dir, prob_dir = out / "emit" / "archs", out / "emit" / "problems"
    arch_dir.mkdir(parents=True, exist_ok=True)
    prob_dir.mkdir(parents=True, exist_ok=True)
    presets = _presets(echo)
    for name, _fam, text in presets:
        (arch_dir / f"{name}.yaml").write_text(text)
    layer_spec = parse_spec({"out": str(out / "sweep"), "accelerators": {"presets": [DEMO_PRESETS[0]]},
                             "workloads": ["resnet50"]}, source="demo")
    layers: list[LayerRef] = resolve_layers(layer_spec)
    for ly in layers:
        (prob_dir / f"{ly.name}.yaml").write_text(problem_yaml_text(ly))
    echo(f"  {len(presets)} architectures -> {arch_dir}")
    echo(f"  {len(layers)} ResNet-50 layers -> {prob_dir}")
    result["emit"] = str(out / "emit")

    # 2. sample
    echo("[2/4] sample: random valid and invalid mappings (simba_final, first ResNet-50 layer)")
    try:
        from looplab.archspec import parse_arch
        from looplab.sweep.rows import mapping_yaml_texts, spatial_levels
        from mappers.sampler import sample_mappings

        arch = parse_arch(arch_dir / f"{DEMO_PRESETS[0]}.yaml")
        dims = {k: layers[0].dims[k] for k in LAYER_KEYS}
        batch, valid = sample_mappings(arch, dims, 5, 5, seed=0, family="simba")
        sdir = out / "sample"
        sdir.mkdir(exist_ok=True)
        for i, (text, ok) in enumerate(zip(mapping_yaml_texts(batch, spatial_levels(arch)), valid, strict=True)):
            (sdir / f"mapping_{i:02d}_{'valid' if ok else 'invalid'}.yaml").write_text(text)
        echo(f"  {int(valid.sum())} valid + {int((~valid).sum())} invalid mappings -> {sdir}")
        result["sample"] = str(sdir)
    except ImportError as exc:
        echo(f"  skipped: the mapping sampler is not available ({exc})")

    # 3. sweep
    from looplab.sweep.engine import run_sweep

    spec_dict = demo_sweep_spec(out, backend, len(layers))
    sweep_spec = parse_spec(spec_dict, source="demo sweep")
    echo(f"[3/4] sweep: {len(DEMO_PRESETS)} presets x {len(spec_dict['workloads'][0]['layers'])} layers x "
         f"{spec_dict['mappings']['valid']} valid + {spec_dict['mappings']['invalid']} invalid mappings "
         f"on the {backend} backend")
    try:
        summary = run_sweep(sweep_spec, resume=True, progress=progress, echo=lambda s: echo("  " + s))
    except LooplabError:
        raise
    result["sweep"] = summary

    # 4. correlate
    echo("[4/4] correlate: analytical model vs recorded real Timeloop + Accelergy results")
    from looplab.sweep.sources import reference_dir

    ref = reference_dir()
    try:
        from looplab.correlate import correlate
    except ImportError as exc:
        correlate = None
        echo(f"  skipped: looplab.correlate is not available ({exc})")
    if correlate is not None and ref is None:
        echo("  skipped: no recorded reference set found (looplab/data/reference or tests/data/reference)")
    elif correlate is not None:
        rep_dir = out / "correlation"
        echo(f"  reference set: {ref}")
        result["correlation"] = corr = correlate(ref, rep_dir)
        result["correlation_dir"] = str(rep_dir)
        for line in _correlation_lines(corr):
            echo("  " + line)
        if backend != "analytical":
            result["correlation_sweep"] = correlate(sweep_spec.out, out / "correlation_sweep")
    wall = time.perf_counter() - t0
    echo(bar)
    echo(f"demo finished in {wall:.0f} s (backend: {backend}{'' if backend == 'timeloop' else ', NOT real Timeloop'})")
    echo(f"  architectures/problems: {out / 'emit'}")
    if "sample" in result:
        echo(f"  sampled mappings:       {result['sample']}")
    echo(f"  sweep dataset:          {sweep_spec.out}  (looplab dataset info {sweep_spec.out})")
    if "correlation_dir" in result:
        echo(f"  correlation report:     {result['correlation_dir']}/report.md")
    echo(bar)
    result["wall_s"] = wall
    return result


def _correlation_lines(c: dict[str, Any]) -> list[str]:
    """A few figures of ``correlate``'s summary (whatever of them it reports)."""
    out = []
    v = c.get("validity") or {}
    if "agreement" in v:
        out.append(f"validity agreement with Timeloop: {v['agreement']:.1%} of {v.get('n')} mappings")
    for k in ("cycles", "energy", "edp"):
        e = c.get(k) or {}
        if "median" in e:
            out.append(f"{k}: median relative error {e['median']:.2%}, within 1%: {e.get('within_1pct', 0):.1%} "
                       f"of {e.get('n')} valid mappings")
    return out
