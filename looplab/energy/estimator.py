"""Energy/area estimator for SRAM, regfile, intmac and DRAM of any size, without Accelergy.

It reproduces what Accelergy 0.4 (45 nm, the plug-ins of the reference build) reports, from a fit to the real
Accelergy grid (``reference/ert_grid/components.csv``). Only what is genuinely CACTI's is learned as a surface;
the rules the plug-ins apply on top are modelled as they are:

* SRAM (CactiSRAM): CACTI runs at a legal size ``w' = max(32, ceil8(w))``, ``d' = max(d, 64 * n_banks)`` and the
  result is scaled by ``(0.7 w/w' + 0.3) (d/d')^0.78`` (energy) and ``(w/w') (d/d')`` (area). Each ERT entry is
  ``E * (0.7 [data_delta > 0] + 0.3 [address_delta > 0])``; ``idle`` is 0; ``datawidth`` is ignored.
  The base surfaces ``log E_read, log E_write, log area`` over ``x = (log2 d', log2 w', log2 n_banks)`` are a linear
  trend + a Gaussian process (Matern 5/2 with one set of length scales shared by the three surfaces, since all
  three come from the same CACTI organisation search; a signal and a noise variance per surface, the noise
  absorbing CACTI's organisation steps; all by the summed marginal likelihood) + a short-range kriging of the
  remaining residual so measured grid points are honoured. The smooth part alone (``smooth=True``) is what the
  torch path uses for co-search. Richer trends (pairwise products, quadratics, depth hinges, posynomials) were
  tried: picked by cross-validation on the fitted half of the grid they did worse on the held-out half and no
  better at its edges, so the trend stays linear.
* regfile (Aladdin table): ``E = c_data [data_delta > 0] + c_addr * depth * ceil(log2 depth) [address_delta > 0]``,
  ``idle`` = the full access energy, area ``a0 + a1 * depth * log2 depth``; width is not used.
* intmac (Aladdin table): per action ``alpha * w + beta * w^2`` (adder linear, multiplier quadratic in ``width``),
  area likewise.
* DRAM (CactiDRAM): ``pJ/bit(type) * width`` for read and write, ``idle`` 0, area 0.

All constants (trend, GP weights, table coefficients, pJ/bit) come from :func:`fit_grid`; the fitted model ships as
``looplab/energy/_fit/accelergy45.json`` (regenerate: ``python -m looplab.energy.estimator fit GRID.csv``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from looplab.archspec import ArchSpec, Level
from looplab.energy.ert import ActionEntry, Ert
from looplab.errors import LooplabError

FIT_PATH = Path(__file__).parent / "_fit" / "accelergy45.json"
SRAM_TARGETS = ("read", "write", "area")
LOCAL_LENGTH = 0.3  # log2 units: the residual kriging only acts within ~1/3 octave of a measured point
SUPPORTED = ("SRAM", "regfile", "intmac", "DRAM")


# ----------------------------------------------------------------------------------------------------------------
# Structural rules of the plug-ins (pure functions)
# ----------------------------------------------------------------------------------------------------------------
def sram_legal_size(depth: np.ndarray, width: np.ndarray, n_banks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The size CACTI is actually run at: width rounded up to a multiple of 8 (>= 32), depth >= 64 * n_banks."""
    depth, width, n_banks = (np.asarray(v, dtype=float) for v in (depth, width, n_banks))
    return np.maximum(depth, 64.0 * n_banks), np.maximum(32.0, np.ceil(width / 8.0) * 8.0)


def sram_scale(depth, width, d_legal, w_legal) -> tuple[np.ndarray, np.ndarray]:
    """(energy scale, area scale) from the legal CACTI size to the requested one."""
    depth, width = np.asarray(depth, dtype=float), np.asarray(width, dtype=float)
    e = (0.7 * width / w_legal + 0.3) * (depth / d_legal) ** 0.78
    a = (width / w_legal) * (depth / d_legal)
    return e, a


def delta_factor(data_delta: float, address_delta: float) -> float:
    """CactiSRAM's share of the full access energy charged for an entry with these arguments."""
    return 0.7 * float(data_delta > 0) + 0.3 * float(address_delta > 0)


def _rf_bits(depth) -> np.ndarray:
    depth = np.asarray(depth, dtype=float)
    return np.where(depth > 1, np.ceil(np.log2(np.maximum(depth, 1.0)) - 1e-9), 0.0)


def _sram_x(d_legal, w_legal, n_banks) -> np.ndarray:
    return np.stack([np.log2(d_legal), np.log2(w_legal), np.log2(np.asarray(n_banks, dtype=float))], axis=-1)


def _matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    diff = (a[:, None, :] - b[None, :, :]) / ls
    s = math.sqrt(5.0) * np.sqrt((diff**2).sum(-1))
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


# ----------------------------------------------------------------------------------------------------------------
# Fitted surfaces
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Surface:
    """``f(x) = coef . [1, x] + amp * k(x, X; ls) @ alpha [+ k(x, X; local_ls) @ alpha_local]`` (log space)."""

    coef: np.ndarray
    X: np.ndarray
    amp: float
    ls: np.ndarray
    alpha: np.ndarray
    alpha_local: np.ndarray
    local_ls: float

    def __call__(self, x: np.ndarray, smooth: bool = False) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        out = self.coef[0] + x @ self.coef[1:] + self.amp * _matern52(x, self.X, self.ls) @ self.alpha
        if not smooth:
            out = out + _matern52(x, self.X, np.full(x.shape[1], self.local_ls)) @ self.alpha_local
        return out

    def torch(self, x, smooth: bool = True):
        import torch

        X = torch.as_tensor(self.X, dtype=x.dtype)

        def k(ls):
            d = (x[:, None, :] - X[None, :, :]) / torch.as_tensor(ls, dtype=x.dtype)
            s = math.sqrt(5.0) * torch.sqrt((d**2).sum(-1) + 1e-12)
            return (1.0 + s + s * s / 3.0) * torch.exp(-s)

        coef = torch.as_tensor(self.coef, dtype=x.dtype)
        out = coef[0] + x @ coef[1:] + self.amp * k(self.ls) @ torch.as_tensor(self.alpha, dtype=x.dtype)
        if not smooth:
            out = out + k(np.full(x.shape[1], self.local_ls)) @ torch.as_tensor(self.alpha_local, dtype=x.dtype)
        return out

    def to_json(self) -> dict:
        return {"coef": self.coef.tolist(), "X": self.X.tolist(), "amp": self.amp, "ls": self.ls.tolist(),
                "alpha": self.alpha.tolist(), "alpha_local": self.alpha_local.tolist(), "local_ls": self.local_ls}

    @classmethod
    def from_json(cls, d: dict) -> Surface:
        return cls(np.array(d["coef"]), np.array(d["X"]), float(d["amp"]), np.array(d["ls"]), np.array(d["alpha"]),
                   np.array(d["alpha_local"]), float(d["local_ls"]))


LS_BOUNDS = (0.2, 50.0)  # log2 units: from a fifth of an octave to "no variation over the grid"
AMP_BOUNDS = (1e-3, 10.0)  # GP signal variance of a log surface
NOISE_BOUNDS = (1e-6, 1e-1)  # white-noise variance: CACTI's organisation steps, as seen by a smooth model


def _matern52_dlogls(a: np.ndarray, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern 5/2 kernel matrix of ``a`` with itself and its derivatives by log length scale, shape (d, n, n)."""
    z2 = ((a[:, None, :] - a[None, :, :]) / ls) ** 2
    s = math.sqrt(5.0) * np.sqrt(z2.sum(-1))
    e = np.exp(-s)
    k = (1.0 + s + s * s / 3.0) * e
    dk = (5.0 / 3.0) * ((1.0 + s) * e)[None, :, :] * np.moveaxis(z2, -1, 0)
    return k, dk


def _neg_log_marginal(theta: np.ndarray, X: np.ndarray, R: np.ndarray) -> tuple[float, np.ndarray]:
    """Summed negative log marginal likelihood (and gradient) of residual columns ``R`` (n, t).

    ``theta = [log ls (d), log amp (t), log noise (t)]``: one Matern 5/2 length scale per input dimension shared
    by all columns, a signal and a noise variance per column.
    """
    from scipy.linalg import cho_factor, cho_solve

    d, t = X.shape[1], R.shape[1]
    ls, amp, noise = np.exp(theta[:d]), np.exp(theta[d:d + t]), np.exp(theta[d + t:])
    k, dk = _matern52_dlogls(X, ls)
    n = len(X)
    val, grad = 0.0, np.zeros_like(theta)
    for j in range(t):
        try:
            cho = cho_factor(amp[j] * k + noise[j] * np.eye(n), lower=True)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        a = cho_solve(cho, R[:, j])
        val += 0.5 * R[:, j] @ a + np.log(np.diag(cho[0])).sum()
        w = cho_solve(cho, np.eye(n)) - np.outer(a, a)  # d nll / dC = w / 2
        grad[:d] += 0.5 * amp[j] * np.einsum("ij,dij->d", w, dk)
        grad[d + j] = 0.5 * amp[j] * np.sum(w * k)
        grad[d + t + j] = 0.5 * noise[j] * np.trace(w)
    return float(val), grad


def fit_surfaces(X: np.ndarray, ys: dict[str, np.ndarray], local_ls: float = LOCAL_LENGTH) -> dict[str, Surface]:
    """Linear trend + GP + short-range residual kriging for several log surfaces measured at the same points.

    The surfaces (read energy, write energy, area) all come from the same CACTI organisation search, so their GP
    residuals share one set of Matern 5/2 length scales; each has its own signal and noise variance. All
    hyper-parameters maximise the summed marginal likelihood. Sharing the length scales makes them far steadier
    than three separate fits (the read surface alone tends to chase CACTI's steps with short length scales and no
    noise) and is what lets held-out points beat log-log interpolation on every target.
    """
    from scipy.optimize import minimize

    X = np.asarray(X, dtype=float)
    names = list(ys)
    A = np.c_[np.ones(len(X)), X]
    coefs = {k: np.linalg.lstsq(A, np.asarray(ys[k], dtype=float), rcond=None)[0] for k in names}
    R = np.stack([np.asarray(ys[k], dtype=float) - A @ coefs[k] for k in names], axis=1)
    d, t = X.shape[1], len(names)
    bounds = [tuple(np.log(LS_BOUNDS))] * d + [tuple(np.log(AMP_BOUNDS))] * t + [tuple(np.log(NOISE_BOUNDS))] * t
    best = None
    for ls0 in (0.5, 2.0, 8.0):  # a few deterministic starts: the likelihood has poor local optima
        theta0 = np.r_[np.full(d, math.log(ls0)), np.full(t, math.log(0.1)), np.full(t, math.log(1e-3))]
        opt = minimize(_neg_log_marginal, theta0, args=(X, R), jac=True, method="L-BFGS-B", bounds=bounds)
        if best is None or opt.fun < best.fun - 1e-9:
            best = opt
    theta = best.x
    ls, amp, noise = np.exp(theta[:d]), np.exp(theta[d:d + t]), np.exp(theta[d + t:])
    K = _matern52(X, X, ls)
    K_local = _matern52(X, X, np.full(d, local_ls)) + 1e-9 * np.eye(len(X))
    out = {}
    for j, k in enumerate(names):
        alpha = np.linalg.solve(amp[j] * K + noise[j] * np.eye(len(X)), R[:, j])
        smooth = Surface(coefs[k], X, float(amp[j]), ls, alpha, np.zeros(len(X)), local_ls)
        r2 = np.asarray(ys[k], dtype=float) - smooth(X, smooth=True)
        out[k] = Surface(coefs[k], X, float(amp[j]), ls, alpha, np.linalg.solve(K_local, r2), local_ls)
    return out


# ----------------------------------------------------------------------------------------------------------------
# The grid and the fit
# ----------------------------------------------------------------------------------------------------------------
def read_grid(path: str | Path):
    """Load ``components.csv`` of the Accelergy grid (rows with an ``error`` are dropped)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise LooplabError("ERT grid file not found", str(path))
    df = pd.read_csv(path)
    need = {"class", "component", "depth", "width", "n_banks", "type", "action", "data_delta", "address_delta",
            "energy_pJ", "area_um2"}
    missing = need - set(df.columns)
    if missing:
        raise LooplabError(f"missing columns {sorted(missing)}", str(path))
    if "error" in df.columns:
        df = df[df["error"].isna()]
    return df


def sram_configs(grid) -> Any:
    """One row per SRAM configuration: depth, width, n_banks, read/write energy (dd=1, ad=1), area."""
    s = grid[grid["class"] == "SRAM"]
    full = s[(s.data_delta == 1) & (s.address_delta == 1)]
    r = full[full.action == "read"].set_index("component")
    w = full[full.action == "write"].set_index("component")
    out = r[["depth", "width", "n_banks"]].copy()
    out["read"] = r["energy_pJ"]
    out["write"] = w["energy_pJ"].reindex(out.index)
    out["area"] = r["area_um2"]
    out = out.dropna().drop_duplicates(["depth", "width", "n_banks"]).reset_index()
    return out


def legal_points(cfg) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Map configurations back to the CACTI run they scale from; average duplicates (identical up to rounding)."""
    dl, wl = sram_legal_size(cfg.depth, cfg.width, cfg.n_banks)
    es, as_ = sram_scale(cfg.depth, cfg.width, dl, wl)
    X = _sram_x(dl, wl, cfg.n_banks.to_numpy(float))
    logs = {"read": np.log(cfg.read.to_numpy() / es), "write": np.log(cfg.write.to_numpy() / es),
            "area": np.log(cfg.area.to_numpy() / as_)}
    uniq, inv = np.unique(np.round(X, 9), axis=0, return_inverse=True)
    inv = inv.ravel()
    cnt = np.bincount(inv)
    ys = {k: np.bincount(inv, weights=v) / cnt for k, v in logs.items()}
    return uniq, ys


def fit_sram(cfg, local_ls: float = LOCAL_LENGTH) -> dict[str, Surface]:
    """The three SRAM base surfaces (read, write, area), fitted jointly to the configurations ``cfg``."""
    X, ys = legal_points(cfg)
    return fit_surfaces(X, {k: ys[k] for k in SRAM_TARGETS}, local_ls)


def _lstsq(A: np.ndarray, y: np.ndarray) -> list[float]:
    return np.linalg.lstsq(A, y, rcond=None)[0].tolist()


def fit_tables(grid) -> dict:
    """regfile, intmac and DRAM coefficients, each by least squares in the plug-in's own functional form."""
    rf = grid[grid["class"] == "regfile"]
    out: dict[str, Any] = {}
    if len(rf):
        acc = rf[rf.action.isin(["read", "write"])]
        A = np.c_[(acc.data_delta > 0).to_numpy(float),
                  (acc.address_delta > 0).to_numpy(float) * acc.depth.to_numpy(float) * _rf_bits(acc.depth)]
        c_data, c_addr = _lstsq(A, acc.energy_pJ.to_numpy(float))
        one = rf.drop_duplicates("component")
        d = one.depth.to_numpy(float)
        a0, a1 = _lstsq(np.c_[np.ones(len(d)), d * np.log2(d)], one.area_um2.to_numpy(float))
        out["regfile"] = {"c_data": c_data, "c_addr": c_addr, "area0": a0, "area1": a1}
    mac = grid[grid["class"] == "intmac"]
    if len(mac):
        coefs = {}
        for action, g in mac.groupby("action"):
            w = g.width.to_numpy(float)
            coefs[str(action)] = _lstsq(np.c_[w, w * w], g.energy_pJ.to_numpy(float))
        one = mac.drop_duplicates("component")
        w = one.width.to_numpy(float)
        out["intmac"] = {"actions": coefs, "area": _lstsq(np.c_[w, w * w], one.area_um2.to_numpy(float))}
    dram = grid[(grid["class"] == "DRAM") & (grid.action == "read")]
    if len(dram):
        per_bit = (dram.energy_pJ / dram.width).groupby(dram["type"]).mean()
        out["DRAM"] = {"pJ_per_bit": {str(k): float(v) for k, v in per_bit.items()}}
    return out


def fit_grid(path: str | Path, local_ls: float = LOCAL_LENGTH) -> dict:
    """Fit every part of the estimator to an Accelergy grid CSV; returns the JSON-able model."""
    grid = read_grid(path)
    sram = fit_sram(sram_configs(grid), local_ls)
    return {"source": Path(path).name, "technology": "45nm", "sram": {k: s.to_json() for k, s in sram.items()},
            **fit_tables(grid)}


# ----------------------------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Estimator:
    """Energy (pJ per action) and area (um^2) of primitive components of any size."""

    sram_surfaces: dict[str, Surface]
    tables: dict[str, Any]
    technology: str = "45nm"

    @classmethod
    def from_json(cls, d: dict) -> Estimator:
        return cls({k: Surface.from_json(v) for k, v in d["sram"].items()},
                   {k: d[k] for k in ("regfile", "intmac", "DRAM") if k in d}, d.get("technology", "45nm"))

    # --- SRAM --------------------------------------------------------------------------------------------------
    def sram(self, depth, width, n_banks=1, smooth: bool = False) -> dict[str, np.ndarray]:
        """Full-access read/write energy (pJ, data_delta=1, address_delta=1) and area (um^2); vectorised."""
        depth, width, n_banks = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (depth, width, n_banks)))
        if np.any(depth <= 0) or np.any(width <= 0) or np.any(n_banks < 1):
            raise LooplabError(f"SRAM needs depth > 0, width > 0, n_banks >= 1 (got {depth}, {width}, {n_banks})")
        dl, wl = sram_legal_size(depth, width, n_banks)
        es, as_ = sram_scale(depth, width, dl, wl)
        x = _sram_x(dl, wl, n_banks).reshape(-1, 3)
        shape = depth.shape
        out = {}
        for k in SRAM_TARGETS:
            v = np.exp(self.sram_surfaces[k](x, smooth=smooth)).reshape(shape)
            out[k] = v * (as_ if k == "area" else es)
        return out

    # --- regfile / intmac / DRAM -------------------------------------------------------------------------------
    def _table(self, cls: str) -> dict:
        if cls not in self.tables:
            raise LooplabError(f"the fitted estimator has no {cls} table")
        return self.tables[cls]

    def regfile(self, depth, data_delta=1, address_delta=1) -> np.ndarray:
        t = self._table("regfile")
        depth = np.asarray(depth, dtype=float)
        return (t["c_data"] * float(data_delta > 0)
                + t["c_addr"] * depth * _rf_bits(depth) * float(address_delta > 0))

    def regfile_area(self, depth) -> np.ndarray:
        t = self._table("regfile")
        depth = np.asarray(depth, dtype=float)
        return t["area0"] + t["area1"] * depth * np.log2(np.maximum(depth, 1.0))

    def intmac(self, width, action: str = "mac_random") -> np.ndarray:
        acts = self._table("intmac")["actions"]
        if action not in acts:
            raise LooplabError(f"intmac has no action {action!r} (has {sorted(acts)})")
        a, b = acts[action]
        w = np.asarray(width, dtype=float)
        return a * w + b * w * w

    def intmac_area(self, width) -> np.ndarray:
        a, b = self._table("intmac")["area"]
        w = np.asarray(width, dtype=float)
        return a * w + b * w * w

    def dram(self, dram_type: str, width) -> np.ndarray:
        per_bit = self._table("DRAM")["pJ_per_bit"]
        if dram_type not in per_bit:
            raise LooplabError(f"DRAM type {dram_type!r} is not supported (CactiDRAM knows {sorted(per_bit)})")
        return per_bit[dram_type] * np.asarray(width, dtype=float)

    # --- ERT entries -------------------------------------------------------------------------------------------
    def component(self, cls: str, attributes: dict, where: str = "component") -> tuple[list[ActionEntry], float]:
        """ERT entries (same actions and arguments as Accelergy writes) and area of one component."""
        attrs = attributes or {}
        tech = str(attrs.get("technology", self.technology)).strip().strip('"')
        if tech.replace(" ", "") not in (self.technology, self.technology.rstrip("nm")):
            raise LooplabError(f"the estimator is fitted at {self.technology}, not {tech!r}", f"{where}.technology")

        def num(key: str, default: Any = None) -> float:
            v = attrs.get(key, default)
            if v is None:
                raise LooplabError(f"{cls} needs attribute {key!r}", where)
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise LooplabError(f"{key} = {v!r} is not a number", f"{where}.{key}") from None
            if f <= 0:
                raise LooplabError(f"{key} must be positive, got {v!r}", f"{where}.{key}")
            return f

        def args(dd: int, ad: int) -> dict:
            return {"data_delta": dd, "address_delta": ad}

        if cls == "SRAM":
            depth, width = num("depth"), num("width", attrs.get("datawidth"))
            banks = int(num("n_banks", 1))
            e = self.sram(depth, width, banks)
            entries = [ActionEntry(act, args(dd, ad), float(e[act]) * delta_factor(dd, ad))
                       for act in ("read", "write") for dd in (0, 1) for ad in range(banks + 1)]
            entries.append(ActionEntry("idle", {}, 0.0))
            return entries, float(e["area"])
        if cls == "regfile":
            depth = num("depth", 1)
            entries = [ActionEntry(act, args(dd, ad), float(self.regfile(depth, dd, ad)))
                       for act in ("read", "write") for dd in (0, 1) for ad in (0, 1)]
            entries.append(ActionEntry("idle", {}, float(self.regfile(depth))))
            return entries, float(self.regfile_area(depth))
        if cls == "intmac":
            width = num("width", attrs.get("datawidth", 8))
            acts = self._table("intmac")["actions"]
            return [ActionEntry(a, {}, float(self.intmac(width, a))) for a in acts], float(self.intmac_area(width))
        if cls == "DRAM":
            width = num("width", attrs.get("datawidth", 8))
            dtype = str(attrs.get("type", "LPDDR4")).strip().strip('"')
            try:
                e = float(self.dram(dtype, width))
            except LooplabError as exc:
                raise LooplabError(str(exc), f"{where}.type") from None
            return [ActionEntry("read", {}, e), ActionEntry("write", {}, e), ActionEntry("idle", {}, 0.0)], 0.0
        raise LooplabError(f"no estimator for class {cls!r} (supported: {', '.join(SUPPORTED)})", f"{where}.class")


@lru_cache(maxsize=4)
def _load(path: str) -> Estimator:
    p = Path(path)
    if not p.exists():
        raise LooplabError("fitted estimator file not found (run: python -m looplab.energy.estimator fit GRID.csv)",
                           str(p))
    return Estimator.from_json(json.loads(p.read_text()))


def load_estimator(path: str | Path | None = None) -> Estimator:
    """The shipped fit (or one written by :func:`fit_grid`)."""
    return _load(str(path or FIT_PATH))


@dataclass
class EstimatedErt(Ert):
    """An :class:`Ert` built from estimated tables, plus ``area`` (um^2 per instance) per component."""

    area: dict[str, float] = field(default_factory=dict)

    def to_ert_dict(self) -> dict:
        return {"ERT": {"version": "0.4", "tables": [
            {"name": n, "actions": [{"name": e.name, "arguments": dict(e.arguments), "energy": e.energy}
                                    for e in entries]} for n, entries in self.tables.items()]}}

    def to_art_dict(self) -> dict:
        return {"ART": {"version": "0.4", "tables": [{"name": n, "area": a} for n, a in self.area.items()]}}

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ERT.yaml and ART.yaml (Accelergy's layout) into ``out_dir``."""
        import yaml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        ert, art = out / "ERT.yaml", out / "ART.yaml"
        ert.write_text(yaml.safe_dump(self.to_ert_dict(), sort_keys=False))
        art.write_text(yaml.safe_dump(self.to_art_dict(), sort_keys=False))
        return ert, art


def estimate_ert(arch: ArchSpec, estimator: Estimator | None = None) -> EstimatedErt:
    """ERT (per-action energies) and ART (areas) of every component of ``arch``, named by Accelergy path."""
    est = estimator or load_estimator()
    tables: dict[str, list[ActionEntry]] = {}
    area: dict[str, float] = {}
    levels: list[Level] = [*arch.storage, arch.compute]
    for lvl in levels:
        if getattr(lvl, "is_dummy", False):
            continue  # the front end's dummy_storage: never holds data, no ERT entry (as Accelergy writes none)
        attrs = {**arch.attributes, **lvl.attributes}
        try:
            entries, a = est.component(lvl.cls, attrs, where=f"{arch.source or 'architecture'}: {lvl.name}")
        except LooplabError as exc:
            sub = lvl.attributes.get("subclass")
            hint = f" (subclass {sub!r})" if sub else ""
            raise LooplabError(f"{exc}{hint}; give the ERT Accelergy wrote for this architecture "
                               "(--ert ERT.yaml)") from None
        tables[lvl.path] = entries
        area[lvl.path] = a
    return EstimatedErt(tables, f"estimated ({arch.source or 'architecture'})", area)


# ----------------------------------------------------------------------------------------------------------------
# Differentiable SRAM energy/area (co-search)
# ----------------------------------------------------------------------------------------------------------------
def sram_torch(depth, width, n_banks=1, smooth: bool = True, estimator: Estimator | None = None):
    """Read energy, write energy (pJ, full access) and area (um^2) of SRAMs of continuous size, as torch tensors.

    Differentiable in ``depth`` and ``width`` (and ``n_banks``). The legal-size rule is relaxed to
    ``w' = max(32, w)`` (no rounding to multiples of 8) so the result is continuous; with ``smooth=True`` (default)
    only the smooth trend + GP part is used, without the short-range kriging that pins measured grid points.
    """
    import torch

    est = estimator or load_estimator()
    depth = torch.as_tensor(depth, dtype=torch.float64)
    width = torch.as_tensor(width, dtype=depth.dtype)
    n_banks = torch.as_tensor(n_banks, dtype=depth.dtype)
    depth, width, n_banks = torch.broadcast_tensors(depth, width, n_banks)
    dl = torch.maximum(depth, 64.0 * n_banks)
    wl = torch.clamp(width, min=32.0)
    es = (0.7 * width / wl + 0.3) * (depth / dl) ** 0.78
    as_ = (width / wl) * (depth / dl)
    x = torch.stack([torch.log2(dl), torch.log2(wl), torch.log2(n_banks)], dim=-1).reshape(-1, 3)
    shape = depth.shape
    out = [torch.exp(est.sram_surfaces[k].torch(x, smooth=smooth)).reshape(shape) for k in SRAM_TARGETS]
    return out[0] * es, out[1] * es, out[2] * as_


# ----------------------------------------------------------------------------------------------------------------
# Held-out benchmark against plain log-log interpolation
# ----------------------------------------------------------------------------------------------------------------
HOLDOUT_SCHEMES = ("depth", "checkerboard", "random")
RANDOM_HOLDOUT_SHARE = 0.25


def holdout_split(cfg, scheme: str = "depth", seed: int = 0) -> np.ndarray:
    """Boolean mask of held-out configurations.

    ``depth``: every other grid point along depth (odd log2(depth)); ``checkerboard``: odd log2(depth) +
    log2(width) (width 24 counts as 32), which holds out whole capacity classes (capacity = depth x width);
    ``random``: a seeded 25% of the configurations. Configurations whose CACTI run is at the clamped minimum depth
    (``depth < 64 * n_banks``) are kept for the fit: they scale from the same CACTI run as a kept point, so holding
    them out would test nothing.
    """
    ld = np.log2(cfg.depth.to_numpy(float))
    lw = np.log2(np.maximum(32.0, np.ceil(cfg.width.to_numpy(float) / 8.0) * 8.0))
    if scheme == "random":
        held = np.random.default_rng(seed).random(len(cfg)) < RANDOM_HOLDOUT_SHARE
    elif scheme in ("depth", "checkerboard"):
        par = ld if scheme == "depth" else ld + np.round(lw)
        held = np.round(par) % 2 == 1
    else:
        raise LooplabError(f"unknown hold-out scheme {scheme!r} ({' | '.join(HOLDOUT_SCHEMES)})")
    return held & (cfg.depth.to_numpy(float) >= 64 * cfg.n_banks.to_numpy(float))


def loglog_baseline(cfg, held: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Plain log-log interpolation at double spacing: the geometric mean of the kept neighbours at depth/2 and
    2*depth (same width and banks). Returns predictions and the mask of held-out points it can predict."""
    key = {(r.depth, r.width, r.n_banks): i for i, r in enumerate(cfg.itertuples()) if not held[i]}
    preds = {k: np.full(len(cfg), np.nan) for k in SRAM_TARGETS}
    ok = np.zeros(len(cfg), dtype=bool)
    for i, r in enumerate(cfg.itertuples()):
        if not held[i]:
            continue
        lo, hi = key.get((r.depth / 2, r.width, r.n_banks)), key.get((r.depth * 2, r.width, r.n_banks))
        if lo is None or hi is None:
            continue
        ok[i] = True
        for k in SRAM_TARGETS:
            preds[k][i] = math.sqrt(cfg[k].iloc[lo] * cfg[k].iloc[hi])
    return preds, ok


def _stats(err: np.ndarray) -> dict[str, float]:
    return {"n": int(err.size), "median": float(np.median(err)), "max": float(np.max(err)),
            "mean": float(np.mean(err))}


def holdout_benchmark(grid_path: str | Path, scheme: str = "depth", n_worst: int = 6, seed: int = 0) -> dict:
    """Fit on the kept half of the SRAM grid, predict the held-out half; compare with the log-log baseline.

    Relative errors of read energy, write energy and area, pooled and per target, on (a) the held-out points the
    baseline can predict (both neighbours kept) and (b) every held-out point (the estimator only). ``worst``
    lists the ``n_worst`` largest errors (any target) with their configuration.
    """
    cfg = sram_configs(read_grid(grid_path))
    held = holdout_split(cfg, scheme, seed)
    surfaces = fit_sram(cfg[~held])
    est = Estimator(surfaces, {})
    test = cfg[held]
    pred = est.sram(test.depth.to_numpy(), test.width.to_numpy(), test.n_banks.to_numpy())
    base, ok = loglog_baseline(cfg, held)
    okt = ok[held]
    label = f"random (seed {seed})" if scheme == "random" else scheme
    out: dict[str, Any] = {"scheme": label, "n_fit": int((~held).sum()), "n_held_out": int(held.sum()),
                           "n_interior": int(okt.sum())}
    pooled_e, pooled_b, pooled_all = [], [], []
    worst = []
    for k in SRAM_TARGETS:
        truth = test[k].to_numpy()
        e = np.abs(pred[k] / truth - 1)
        worst += [{"target": k, "depth": int(r.depth), "width": int(r.width), "n_banks": int(r.n_banks),
                   "truth": float(truth[i]), "estimate": float(pred[k][i]), "rel_err": float(pred[k][i] / truth[i] - 1),
                   "interior": bool(okt[i])} for i, r in enumerate(test.itertuples())]
        b = np.abs(base[k][held][okt] / truth[okt] - 1)
        out[k] = {"estimator_interior": _stats(e[okt]), "baseline_interior": _stats(b), "estimator_all": _stats(e)}
        pooled_e.append(e[okt])
        pooled_b.append(b)
        pooled_all.append(e)
    out["pooled"] = {"estimator_interior": _stats(np.concatenate(pooled_e)),
                     "baseline_interior": _stats(np.concatenate(pooled_b)),
                     "estimator_all": _stats(np.concatenate(pooled_all))}
    out["worst"] = sorted(worst, key=lambda w: -abs(w["rel_err"]))[:n_worst]
    return out


def format_benchmark(res: dict) -> str:
    lines = [f"hold-out scheme {res['scheme']}: fit on {res['n_fit']} configs, {res['n_held_out']} held out "
             f"({res['n_interior']} interior, i.e. with both depth neighbours kept)",
             f"{'target':8s} {'estimator interior':>22s} {'log-log baseline':>22s} {'estimator all held-out':>24s}"]
    for k in (*SRAM_TARGETS, "pooled"):
        r = res[k]

        def f(s: dict) -> str:
            return f"med {100 * s['median']:5.1f}% max {100 * s['max']:5.1f}%"

        lines.append(f"{k:8s} {f(r['estimator_interior']):>22s} {f(r['baseline_interior']):>22s} "
                     f"{f(r['estimator_all']):>24s}")
    if res.get("worst"):
        lines.append("worst held-out points:")
        for w in res["worst"]:
            lines.append(f"  {w['target']:5s} depth {w['depth']:6d} width {w['width']:4d} banks {w['n_banks']}  "
                         f"Accelergy {w['truth']:10.4g}  estimate {w['estimate']:10.4g}  {100 * w['rel_err']:+6.1f}%"
                         f"{'' if w['interior'] else '  (edge)'}")
    return "\n".join(lines)


def compare_with_accelergy(arch_yaml: str | Path, ert_yaml: str | Path, art_yaml: str | Path | None = None,
                           estimator: Estimator | None = None) -> list[dict]:
    """Per component and entry: estimated vs Accelergy energy (and area); rows with relative errors."""
    from looplab.archspec import parse_arch
    from looplab.energy.ert import load_art, load_ert

    arch = parse_arch(Path(arch_yaml))
    est = estimate_ert(arch, estimator)
    ref = load_ert(ert_yaml)
    rows = []
    for name, entries in ref.tables.items():
        mine = est.tables.get(name)
        if mine is None:
            raise LooplabError(f"no estimated table for {name!r}", str(ert_yaml))
        for e in entries:
            dd, ad = e.arguments.get("data_delta"), e.arguments.get("address_delta")
            got = [m.energy for m in mine if m.name == e.name
                   and m.arguments.get("data_delta") == dd and m.arguments.get("address_delta") == ad]
            if not got:
                raise LooplabError(f"estimated table {name!r} lacks {e.name} {e.arguments}", str(ert_yaml))
            rows.append({"component": name, "action": e.name, "data_delta": dd, "address_delta": ad,
                         "accelergy": e.energy, "estimate": got[0],
                         "rel_err": abs(got[0] - e.energy) / e.energy if e.energy else abs(got[0])})
    if art_yaml is not None:
        for name, a in load_art(art_yaml).items():
            got = est.area[name]
            rows.append({"component": name, "action": "area", "data_delta": None, "address_delta": None,
                         "accelergy": a, "estimate": got, "rel_err": abs(got - a) / a if a else abs(got)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m looplab.energy.estimator", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit the estimator to an Accelergy grid CSV and write the JSON model")
    f.add_argument("grid")
    f.add_argument("-o", "--out", default=str(FIT_PATH))
    b = sub.add_parser("bench", help="hold out every other grid point; estimator vs log-log interpolation")
    b.add_argument("grid")
    b.add_argument("--scheme", default="depth", choices=list(HOLDOUT_SCHEMES))
    b.add_argument("--seed", type=int, default=0, help="seed of the random scheme")
    c = sub.add_parser("compare", help="estimated vs Accelergy ERT/ART for reference architectures")
    c.add_argument("arch_dirs", nargs="+", help="folders with arch.yaml, ERT.yaml, ART.yaml")
    a = p.parse_args(argv)
    try:
        if a.cmd == "fit":
            model = fit_grid(a.grid)
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(model))
            print(f"wrote {a.out}")
        elif a.cmd == "bench":
            print(format_benchmark(holdout_benchmark(a.grid, a.scheme, seed=a.seed)))
        else:
            for d in a.arch_dirs:
                d = Path(d)
                rows = compare_with_accelergy(d / "arch.yaml", d / "ERT.yaml", d / "ART.yaml")
                en = [r["rel_err"] for r in rows if r["action"] != "area"]
                ar = [r["rel_err"] for r in rows if r["action"] == "area"]
                print(f"{d.name:18s} {len(en):3d} ERT entries max err {100 * max(en):6.3f}%   "
                      f"{len(ar)} areas max err {100 * max(ar):6.3f}%")
    except LooplabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
