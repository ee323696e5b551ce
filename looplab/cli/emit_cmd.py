"""``looplab list presets|workloads|families`` and ``looplab emit arch|problem|mapping``.

Every handler is a thin layer over the Python API in :mod:`looplab.render`, :mod:`arch_gen` and
:mod:`looplab.workloads`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from looplab.cli.paths import check_path, path_arg
from looplab.errors import LooplabError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list presets, workloads or accelerator families")
    p.add_argument("what", choices=["presets", "workloads", "families", "layers"])
    p.add_argument("workload", nargs="?", help="with 'layers': one workload (default: every workload)")
    p.add_argument("--family", help="presets of one family only")
    p.set_defaults(func=_cmd_list)

    e = sub.add_parser("emit", help="write Timeloop YAML (arch, problem, mapping)")
    esub = e.add_subparsers(dest="emit_what", metavar="WHAT", required=True)

    a = esub.add_parser("arch", help="architecture YAML of a family preset and/or parameters")
    _arch_args(a)
    a.add_argument("-o", "--out", type=path_arg("out_file"), help="output file (default: stdout)")
    a.set_defaults(func=_cmd_emit_arch)

    pr = esub.add_parser("problem", help="problem YAML of workload layers or of explicit dims")
    pr.add_argument("--workload", help="shipped workload (looplab list workloads)")
    pr.add_argument("--layer", help="one layer of the workload (full name or the part after '<workload>.')")
    pr.add_argument("--set", dest="sets", nargs="+", action="extend", metavar="DIM=N",
                    help="explicit layer: R=3 S=3 P=56 Q=56 C=64 K=64 [N= Wstride= Hstride= ...]")
    pr.add_argument("--name", help="layer name for --set (default: layer)")
    pr.add_argument("-o", "--out", type=path_arg("out_dir"),
                    help="output folder, one <layer>.yaml per layer (default: stdout)")
    pr.set_defaults(func=_cmd_emit_problem)

    m = esub.add_parser("mapping", help="normalised mapping YAML from a mapping file, a per-level description, "
                                        "or the random sampler")
    m.add_argument("source", nargs="?", type=path_arg("file"),
                   help="Timeloop mapping YAML, or YAML/JSON 'levels: [{level, temporal, "
                        "spatial_X|spatial_Y, permutation, keep, bypass}, ...]'")
    m.add_argument("--arch", type=path_arg("file"),
                   help="architecture YAML fixing level names/order (or use --family/--preset/--set)")
    _arch_args(m, sets_dest="arch_sets")
    m.add_argument("--workload", help="check factor products against this workload's --layer")
    m.add_argument("--layer", help="layer name (with --workload)")
    m.add_argument("--problem", type=path_arg("file"), help="check factor products against this problem YAML")
    m.add_argument("--sample", type=int, metavar="N", help="draw N valid random mappings (mappers.sampler)")
    m.add_argument("--invalid", type=int, default=0, metavar="M", help="with --sample: also M invalid ones")
    m.add_argument("--seed", type=int, default=0, help="with --sample: RNG seed")
    m.add_argument("-o", "--out", type=Path, help="output file (a folder with --sample; default: stdout)")
    m.set_defaults(func=_cmd_emit_mapping)


def _arch_args(p: argparse.ArgumentParser, sets_dest: str = "sets") -> None:
    p.add_argument("--family", choices=["simba", "gemmini"], help="accelerator family")
    p.add_argument("--preset", help="named preset (looplab list presets); default: the family baseline")
    p.add_argument("--set", dest=sets_dest, nargs="+", action="extend",
                   metavar="KEY=VALUE", help="family parameters, keys as in params.json (e.g. pes=16 macs=1024)")
    p.add_argument("--name", dest="arch_name", help="config name")


def _out(text: str, out: str | None) -> None:
    if out:
        from looplab.emit import write_text

        print(f"wrote {write_text(out, text)}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _cmd_list(args: argparse.Namespace) -> int:
    import arch_gen

    if args.workload and args.what != "layers":
        raise LooplabError(f"a workload name only goes with 'looplab list layers', not {args.what!r}", args.workload)
    if args.what == "presets":
        for name in arch_gen.list_presets(args.family):
            cfg = arch_gen.get_preset(name)
            params = " ".join(f"{k}={v}" for k, v in cfg.to_params().items())
            print(f"{name:16s} {cfg.family:8s} {params}")
    elif args.what == "layers":
        from looplab.workloads import list_workloads, workload_info
        from looplab.workloads.listing import format_layers

        for i, name in enumerate([args.workload] if args.workload else list_workloads()):
            info = workload_info(name)
            print(("\n" if i else "") + "\n".join(format_layers(name, info["layers"], info.get("description", ""))))
        return 0
    elif args.what == "families":
        for fam in arch_gen.list_families():
            print(f"{fam:8s} {arch_gen.FAMILY_INFO[fam]}")
    else:
        from looplab.workloads import list_workloads, workload_info

        for name in list_workloads():
            info = workload_info(name)
            layers = info["layers"]
            print(f"{name:16s} {len(layers):3d} layers {sum(lay.count for lay in layers):4d} total  "
                  f"{info.get('description', '')}")
    return 0


def _cmd_emit_arch(args: argparse.Namespace) -> int:
    from looplab.emit import emit_arch, parse_assignments

    text = emit_arch(args.family, args.preset, parse_assignments(args.sets), name=args.arch_name)
    _out(text, args.out)
    return 0


def _cmd_emit_problem(args: argparse.Namespace) -> int:
    from looplab.emit import emit_problems, parse_assignments

    dims = parse_assignments(args.sets) if args.sets else None
    texts = emit_problems(args.workload, args.layer, dims, out_dir=args.out, name=args.name)
    if args.out:
        print(f"wrote {len(texts)} problem file(s) to {args.out}", file=sys.stderr)
    elif len(texts) == 1:
        sys.stdout.write(next(iter(texts.values())))
    else:
        sys.stdout.write("".join(f"--- # {name}\n{text}" for name, text in texts.items()))
    return 0


def _cmd_emit_mapping(args: argparse.Namespace) -> int:
    from looplab.archspec import parse_arch
    from looplab.emit import arch_config, emit_mapping, parse_assignments, render_mapping, select_layers
    from looplab.workloads import Layer

    if args.out is not None:  # a file to write, or with --sample a folder: checked before any work
        check_path("out_dir" if args.sample is not None else "out_file", args.out)
    spec = family = None
    if args.arch:
        if args.family or args.preset or args.arch_sets:
            raise LooplabError("give --arch FILE or --family/--preset/--set, not both", "--arch")
        if not Path(args.arch).is_file():
            raise LooplabError("no such architecture file", args.arch)
        spec = parse_arch(Path(args.arch))
    elif args.family or args.preset or args.arch_sets:
        cfg = arch_config(args.family, args.preset, parse_assignments(args.arch_sets), args.arch_name)
        family = cfg.family
        spec = parse_arch(cfg.render(), source=cfg.name)
    layer = None
    if args.problem:
        layer = Layer.from_problem_yaml(Path(args.problem))
    elif args.workload or args.layer:
        if not (args.workload and args.layer):
            raise LooplabError("give both --workload and --layer", "--layer")
        layer = select_layers(args.workload, args.layer)[0]
    if args.sample is not None:
        if args.source:
            raise LooplabError("give a mapping file or --sample, not both", "--sample")
        if spec is None or layer is None:
            raise LooplabError("--sample needs an architecture (--arch or --family/--preset) and a layer "
                               "(--problem or --workload/--layer)", "--sample")
        try:
            from mappers.sampler import sample_mappings
        except ModuleNotFoundError as exc:
            raise LooplabError(f"the mapping sampler is not available ({exc})", "--sample") from None
        batch, valid = sample_mappings(spec, layer.dims, args.sample, args.invalid, args.seed, family=family)
        texts = [render_mapping(m, spec) for m in batch.to_mappings()]
        if args.out:
            from looplab.emit import write_text

            for i, (text, ok) in enumerate(zip(texts, valid, strict=True)):
                write_text(Path(args.out) / f"mapping_{i:05d}_{'valid' if ok else 'invalid'}.yaml", text)
            print(f"wrote {len(texts)} mapping(s) ({int(sum(valid))} valid) to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write("".join(f"--- # {i} {'valid' if ok else 'invalid'}\n{t}"
                                     for i, (t, ok) in enumerate(zip(texts, valid, strict=True))))
        return 0
    if not args.source:
        raise LooplabError("give a mapping file (or --sample N)", "emit mapping")
    text = emit_mapping(Path(args.source), spec, family, layer)
    _out(text, args.out)
    return 0
