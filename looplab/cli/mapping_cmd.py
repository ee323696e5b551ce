"""``looplab sample``: random mappings with valid/invalid quotas, written as Timeloop mapping YAML + a table.

    looplab sample --family F [--preset NAME | --set KEY=VALUE ...] --workload W [--layer L]
                   --valid N --invalid M --seed S --out DIR
    looplab sample --arch ARCH.yaml --problem PROBLEM.yaml [...] --out DIR

Output in DIR: ``arch.yaml``, ``problems/<nn>_<layer>.yaml``, ``mappings/<nn>_<layer>/<nnnn>.yaml`` and
``mappings.csv`` (or ``.parquet``) with one row per mapping, layers in the workload's order: id, arch, family,
layer, index, problem, file, valid, failed_level, kind, reason (Timeloop's text for invalid ones), error (the line
timeloop-model would print), seed and, with ``--flat``, the flat vector columns of :mod:`mappers.flat`. ``<nn>`` is
the layer's index in its workload (in the order given for ``--problem`` files), zero-padded so that a folder
listing shows the layers in network order. (``looplab import-dosa`` lives with the sweep commands.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from looplab.cli.paths import path_arg
from looplab.errors import LooplabError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="random mappings with N valid + M invalid per (accelerator, layer)",
                       description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("architecture (a family preset/params, or a file)")
    g.add_argument("--family", choices=["simba", "gemmini"], help="accelerator family")
    g.add_argument("--preset", help="named preset (looplab list presets); default: the family baseline")
    g.add_argument("--set", dest="sets", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="family parameters, keys as in params.json (e.g. pes=16 macs=1024)")
    g.add_argument("--arch", type=path_arg("file"), help="architecture YAML instead of --family/--preset/--set")
    w = p.add_argument_group("layers (a shipped workload, or a problem file)")
    w.add_argument("--workload", help="shipped workload (looplab list workloads)")
    w.add_argument("--layer", help="one layer of the workload (default: every layer)")
    w.add_argument("--problem", nargs="+", action="extend", type=path_arg("file"),
                   help="problem YAML file(s) instead of --workload")
    p.add_argument("--valid", type=int, required=True, metavar="N", help="valid mappings per layer")
    p.add_argument("--invalid", type=int, required=True, metavar="M", help="invalid mappings per layer")
    p.add_argument("--seed", type=int, default=0, help="RNG seed (each layer derives its own stream)")
    p.add_argument("--out", required=True, type=path_arg("out_dir"), help="output folder")
    p.add_argument("--table", choices=["csv", "parquet"], default="csv", help="table format (default csv)")
    p.add_argument("--flat", action="store_true", help="add the flat mapping-vector columns to the table")
    p.add_argument("--max-draws", type=int, default=None, help="candidate budget per layer (default: automatic)")
    p.add_argument("--allow-short", action="store_true",
                   help="keep going when a quota cannot be met within the budget (default: error)")
    p.set_defaults(func=_cmd_sample)


def _arch(args: argparse.Namespace):
    """(ArchSpec, arch YAML text, arch name, family)."""
    from looplab.archspec import parse_arch
    from mappers.families import detect_family

    if args.arch:
        if args.preset or args.sets:
            raise LooplabError("give --arch FILE or --preset/--set, not both", "--arch")
        path = Path(args.arch)
        if not path.exists():
            raise LooplabError("file not found", str(path))
        text = path.read_text()
        spec = parse_arch(text, source=str(path))
        family = args.family or detect_family(spec)
        name = path.parent.name if path.stem == "arch" and path.parent.name else path.stem
        return spec, text, name, family
    if not (args.family or args.preset):
        raise LooplabError("give --family/--preset (with optional --set) or --arch ARCH.yaml", "sample")
    from looplab.emit import arch_config, parse_assignments

    cfg = arch_config(args.family, args.preset, parse_assignments(args.sets))
    text = cfg.render()
    return parse_arch(text, source=cfg.name), text, cfg.name, cfg.family


def _layers(args: argparse.Namespace) -> tuple[list[tuple[int, str, dict, str]], int]:
    """((index, name, dims, problem YAML text) per layer, how many layers the indices count): the index is the
    layer's place in its workload (the order given for --problem files)."""
    if args.problem:
        if args.workload or args.layer:
            raise LooplabError("give --problem FILE(s) or --workload/--layer, not both", "--problem")
        out = []
        for i, f in enumerate(args.problem):
            path = Path(f)
            if not path.exists():
                raise LooplabError("file not found", str(path))
            text = path.read_text()
            out.append((i, path.stem, _problem_dims(text, str(path)), text))
        return out, len(out)
    if not args.workload:
        raise LooplabError("give --workload NAME [--layer L] or --problem PROBLEM.yaml", "sample")
    from looplab.emit import select_layers
    from looplab.workloads import load_workload

    every = load_workload(args.workload)
    index = {lay.name: i for i, lay in enumerate(every)}
    return [(index[lay.name], lay.name, dict(lay.dims), lay.to_problem_yaml())
            for lay in select_layers(args.workload, args.layer)], len(every)


def layer_file_stem(index: int, name: str, n_layers: int) -> str:
    """``<nn>_<name>`` (file-safe): the index zero-padded to the width of the largest (at least 2 digits), so
    that names sort in layer order (``02_...`` before ``10_...``) where the layer names themselves do not."""
    return f"{index:0{max(2, len(str(max(0, n_layers - 1))))}d}_{_safe(name)}"


def _problem_dims(text: str, where: str) -> dict:
    try:
        from looplab.analytical.api import read_problem_spec_file

        return dict(read_problem_spec_file(text).dims)
    except ImportError:  # pragma: no cover - workloads ship with looplab
        import yaml

        inst = (yaml.safe_load(text) or {}).get("problem", {}).get("instance")
        if not isinstance(inst, dict):
            raise LooplabError("no problem.instance block", where) from None
        return {k: int(v) for k, v in inst.items()}


def _problem_names(text: str, where: str) -> tuple[dict | None, dict | None]:
    """The problem's own dimension and data-space names (None, None for the cnn_layer names)."""
    from looplab.interop.problem import read_problem_spec
    from looplab.yamlio import load_source

    spec = read_problem_spec(load_source(text, "problem", where)[0], where)
    return (None, None) if spec.is_canonical else (spec.dim_names, spec.tensor_names)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from mappers.canonical import mapping_to_yaml
    from mappers.flat import column_names, to_vector
    from mappers.sampler import sample_mappings

    if args.valid < 0 or args.invalid < 0:
        raise LooplabError("--valid and --invalid must be >= 0", "sample")
    spec, arch_text, arch_name, family = _arch(args)
    layers, n_layers = _layers(args)
    out = Path(args.out)
    (out / "problems").mkdir(parents=True, exist_ok=True)
    (out / "arch.yaml").write_text(arch_text)
    frames = []
    for li, (index, lname, dims, ptext) in enumerate(layers):
        names = _problem_names(ptext, lname)
        fname = layer_file_stem(index, lname, n_layers)
        problem = out / "problems" / f"{fname}.yaml"
        problem.write_text(ptext)
        seed = int(np.random.SeedSequence([args.seed, li]).generate_state(1)[0])
        batch, valid, v, stats = sample_mappings(spec, dims, args.valid, args.invalid, seed,
                                                 family=family if family != "generic" else None,
                                                 max_draws=args.max_draws, strict=not args.allow_short,
                                                 return_stats=True)
        mdir = out / "mappings" / fname
        mdir.mkdir(parents=True, exist_ok=True)
        files = []
        for i, m in enumerate(batch.to_mappings()):
            f = mdir / f"{i:04d}.yaml"
            f.write_text(mapping_to_yaml(m, spec, *names))
            files.append(str(f.relative_to(out)))
        df = pd.DataFrame({
            "id": [f"{arch_name}|{lname}|{i:04d}" for i in range(len(batch))],
            "arch": arch_name, "family": family, "layer": lname, "index": np.arange(len(batch)),
            "problem": str(problem.relative_to(out)), "file": files, "valid": valid, "failed_level": v.failed_level,
            "kind": v.kind, "reason": v.reason,
            "error": [v.error_line(i) for i in range(len(batch))], "seed": seed})
        if args.flat:
            df = pd.concat([df, pd.DataFrame(to_vector(batch), columns=column_names(batch.level_names))], axis=1)
        frames.append(df)
        print(f"{lname}: {int(valid.sum())} valid + {int((~valid).sum())} invalid "
              f"({stats.drawn} candidates drawn)", file=sys.stderr)
    table = pd.concat(frames, ignore_index=True)
    path = out / f"mappings.{args.table}"
    if args.table == "csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    print(f"wrote {len(table)} mappings for {len(layers)} layer(s) to {out} (table {path.name})", file=sys.stderr)
    return 0
