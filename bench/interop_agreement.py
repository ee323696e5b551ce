"""Label random valid and invalid mappings on the official Timeloop example designs (and variants of them) with the
real timeloop-model, and record them for tests/test_interop_agreement.py; then report looplab's agreement.

    python bench/interop_agreement.py record --out tests/data/interop/agreement   # needs timeloop-model on PATH
    python bench/interop_agreement.py check tests/data/interop/agreement          # analytical model vs record

``--designs``/``--append`` record some designs into an existing folder. Each evaluation runs in its own
directory with the design's ERT (no Accelergy). Variants change the PE-level
buffer depths and the global buffer size; layers are the design's own problem (front-end names, ``M``), two
ResNet-50 layers written as the front end's conv2D shape, and pytorch2timeloop-converter's depthwise and matmul
shapes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from looplab.archspec import parse_arch  # noqa: E402
from looplab.timeloop.parse_stats import parse_stats_dict, parse_stats_text  # noqa: E402

OFFICIAL = ROOT / "tests/data/interop/official"
DESIGNS = ("eyeriss_like", "simba_like", "simple_weight_stationary", "simple_output_stationary",
           "tutorial_eyeriss_intmac", "tutorial_eyeriss_fpmac")
LAYERS = ("resnet50._outputs_input.2", "resnet50._outputs_input.15")
#: pytorch2timeloop-converter's depthwise and matmul shapes (its utils/*.yaml), with hyphenated v0.3 keys
DEPTHWISE = {"problem": {"shape": {
    "name": "CNN-Layer", "dimensions": ["C", "R", "S", "N", "P", "Q"],
    "coefficients": [{"name": c, "default": 1} for c in ("Wstride", "Hstride", "Wdilation", "Hdilation")],
    "data-spaces": [
        {"name": "Weights", "projection": [[["C"]], [["R"]], [["S"]]]},
        {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                          [["S", "Hdilation"], ["Q", "Hstride"]]]},
        {"name": "Outputs", "projection": [[["N"]], [["C"]], [["Q"]], [["P"]]], "read-write": True}]},
    "instance": {"C": 32, "N": 1, "P": 14, "Q": 14, "R": 3, "S": 3, "Wdilation": 1, "Wstride": 2, "Hdilation": 1,
                 "Hstride": 2}}}
MATMUL = {"problem": {"shape": {
    "dimensions": ["M", "N", "K"],
    "data-spaces": [{"name": "Input1", "projection": [[["M"]], [["K"]]]},
                    {"name": "Input2", "projection": [[["K"]], [["N"]]]},
                    {"name": "Outputs", "projection": [[["M"]], [["N"]]], "read-write": True}]},
    "instance": {"M": 64, "N": 48, "K": 96}}}


def _problem_files(design: str) -> dict[str, dict]:
    base = yaml.safe_load((OFFICIAL / ("problem_tutorial.yaml" if design.startswith("tutorial")
                                       else "problem_example.yaml")).read_text())
    out = {"own": base}
    from looplab.workloads import load_workload

    layers = {lay.name: lay for lay in load_workload("resnet50")}
    for name in LAYERS:
        lay = layers.get(name) or next(iter(layers.values()))
        p = json.loads(json.dumps(base))
        inst = {"C": lay.C, "M": lay.K, "N": lay.N, "P": lay.P, "Q": lay.Q, "R": lay.R, "S": lay.S,
                "Wstride": lay.Wstride, "Hstride": lay.Hstride, "Wdilation": 1, "Hdilation": 1, "densities": {}}
        p["problem"]["instance"] = inst
        out[name] = p
    out["depthwise"] = DEPTHWISE
    out["matmul"] = MATMUL
    return out


def _variants(design: str) -> dict[str, dict]:
    arch = yaml.safe_load((OFFICIAL / design / "arch.yaml").read_text())
    out = {"base": arch}
    for tag, scale in (("spad_x2_glb_div4", (2, 0.25)), ("spad_div2_glb_x2", (0.5, 2))):
        a = json.loads(json.dumps(arch))
        for comp in a["architecture"]["subtree"][0]["local"]:
            at = comp.get("attributes", {})
            if "depth" not in at or comp.get("class") in ("dummy_storage", "DRAM") or at["depth"] <= 1:
                continue
            f = scale[1] if at["depth"] >= 4096 else scale[0]
            at["depth"] = max(1, int(at["depth"] * f))
        out[tag] = a
    return out


def _mapping_obj(m, spec, force: list[str]) -> dict:
    """The mapping as timeloop-model reads it for this problem: in the problem's own names, its dims only."""
    from mappers.mapping import rename_yaml_obj

    return rename_yaml_obj(m.to_yaml_obj(spatial_levels=force), spec.dim_names, spec.tensor_names)


def record(out: Path, n_valid: int, n_invalid: int, seed: int, designs: tuple[str, ...] = DESIGNS,
           append: bool = False, layers: tuple[str, ...] = ()) -> None:
    from looplab.analytical.api import read_problem_spec_file
    from mappers.sampler import sample_mappings

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.time()
    for design in designs:
        ert = OFFICIAL / design / "ERT.yaml"
        for vname, arch_obj in _variants(design).items():
            arch_path = out / f"{design}.{vname}.arch.yaml"
            arch_path.write_text(yaml.safe_dump(arch_obj, sort_keys=False))
            arch = parse_arch(arch_path)
            for lname, prob_obj in _problem_files(design).items():
                if layers and lname not in layers:
                    continue
                prob_path = out / f"{design}.{lname}.problem.yaml"
                prob_path.write_text(yaml.safe_dump(prob_obj, sort_keys=False))
                spec = read_problem_spec_file(prob_path)
                batch, valid = sample_mappings(arch, spec.dims, n_valid, n_invalid, seed, strict=False,
                                               max_draws=40_000)
                force = [lv.name for lv in arch.storage if lv.fanout > 1]
                for i, m in enumerate(batch.to_mappings()):
                    obj = _mapping_obj(m, spec, force)
                    if any(len(set(e.get("permutation", ""))) != len(e.get("permutation", ""))
                           for e in obj["mapping"]):
                        continue  # one dim on both X and Y of a level: not expressible in Timeloop's syntax
                    with tempfile.TemporaryDirectory(prefix="interop-") as tmp:
                        mp = Path(tmp) / "mapping.yaml"
                        mp.write_text(yaml.safe_dump(obj, sort_keys=False))
                        r = subprocess.run(["timeloop-model", str(arch_path.resolve()), str(prob_path.resolve()),
                                            str(mp), str(ert)], cwd=tmp, capture_output=True, text=True)
                        stats = Path(tmp) / "timeloop-model.stats.txt"
                        row = {"design": design, "variant": vname, "layer": lname, "arch": arch_path.name,
                               "problem": prob_path.name, "ert": f"../official/{design}/ERT.yaml", "mapping": obj,
                               "sampled_valid": bool(valid[i])}
                        if stats.exists():
                            s = parse_stats_text(stats.read_text())
                            row.update(valid=True, cycles=int(s.cycles), energy_pJ=float(s.energy_pJ),
                                       energy_pJ_levels=parse_stats_dict(stats.read_text()).get(
                                           "energy_pJ_levels_sum"))
                        else:
                            err = [ln for ln in (r.stdout + r.stderr).splitlines() if "ERROR" in ln]
                            row.update(valid=False, error=err[-1] if err else (r.stdout + r.stderr)[-300:])
                        rows.append(row)
                print(f"{design} {vname} {lname}: {len(rows)} rows, {time.time() - t0:.0f} s", file=sys.stderr)
    with open(out / "cases.jsonl", "a" if append else "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--out", type=Path, default=ROOT / "tests/data/interop/agreement")
    r.add_argument("--valid", type=int, default=4)
    r.add_argument("--invalid", type=int, default=4)
    r.add_argument("--seed", type=int, default=15)
    r.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    r.add_argument("--append", action="store_true", help="add rows to an existing cases.jsonl")
    r.add_argument("--layers", nargs="+", default=[], help="record only these layers (own, depthwise, matmul, ...)")
    c = sub.add_parser("check")
    c.add_argument("folder", type=Path)
    args = ap.parse_args()
    if args.cmd == "record":
        record(args.out, args.valid, args.invalid, args.seed, tuple(args.designs), args.append, tuple(args.layers))
    else:
        from looplab.interop.agreement import agreement, check_folder

        print(json.dumps(agreement(check_folder(args.folder)), indent=1))


if __name__ == "__main__":
    main()
