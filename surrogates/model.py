"""A trained surrogate: one fitted estimator per accelerator family, its feature set and target, saved with its
provenance (``meta.json``: kind, model, features, target, training-data hash, seed, looplab version, and the
feature columns per family) and the estimators (joblib, ``model.joblib``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np

import looplab
from looplab.errors import LooplabError
from surrogates.data import FeatureTable, data_hash
from surrogates.estimators import is_classifier_target, make_estimator
from surrogates.features import FEATURE_SETS

LABEL = {"cycles": "cycles", "energy": "energy_pJ", "valid": "valid"}
SCALINGS = ("none", "roofline")


def roofline_log(names: list[str], X: np.ndarray, target: str) -> np.ndarray:
    """Natural log of the scale a ``roofline`` model divides its target by, from feature columns only:
    cycles -> the ideal compute time (layer MACs / MACs working in parallel = the temporal iteration count),
    energy -> the layer's MACs. The estimator then learns the stall factor (>= 1) or the energy per MAC, which are
    bounded and carry over to layers and accelerators of other sizes; tree models cannot extrapolate raw cycles."""
    col = {c: i for i, c in enumerate(names)}
    X = np.asarray(X, np.float64)
    t_cols = [i for c, i in col.items() if c.startswith("t_")]
    s_cols = [i for c, i in col.items() if c.startswith("s_")]
    if "layer_macs" in col:
        macs = X[:, col["layer_macs"]]
        steps = macs - X[:, col["spatial_total"]]
    elif t_cols:
        steps = X[:, t_cols].sum(axis=1)
        macs = steps + X[:, s_cols].sum(axis=1)
    else:
        raise LooplabError("the roofline scaling needs layer_macs/spatial_total (cosa) or t_*/s_* (raw) columns")
    return np.log(2.0) * (steps if target == "cycles" else macs)


def labelled(table: FeatureTable, target: str) -> np.ndarray:
    """Indices of the rows that carry a label for ``target`` (cycles/energy: the valid mappings)."""
    meta = table.meta
    if LABEL[target] not in meta:
        raise LooplabError(f"the data has no '{LABEL[target]}' column for target {target}", "dataset")
    if target == "valid":
        return np.flatnonzero(meta["valid"].notna().to_numpy())
    lab = meta[LABEL[target]].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.flatnonzero(np.isfinite(lab) & (lab > 0) & (meta["valid"].fillna(False).to_numpy(bool)))


def label_values(table: FeatureTable, target: str, idx: np.ndarray) -> np.ndarray:
    col = table.meta[LABEL[target]].iloc[idx]
    return col.to_numpy(dtype=bool).astype(np.int64) if target == "valid" else col.to_numpy(dtype=np.float64)


class SurrogateModel:
    """``model`` (lr|rf|mlp|gbm) on feature set ``features`` (raw|cosa) for ``target`` (cycles|energy|valid)."""

    def __init__(self, model: str, features: str, target: str, seed: int = 0, params: dict[str, Any] | None = None,
                 scaling: str = "none"):
        if scaling not in SCALINGS:
            raise LooplabError(f"unknown target scaling {scaling!r} (expected {' or '.join(SCALINGS)})", "scaling")
        if features not in FEATURE_SETS:
            raise LooplabError(f"unknown feature set {features!r} (expected {' or '.join(FEATURE_SETS)})",
                               "features")
        is_classifier_target(target)
        self.model, self.features, self.target, self.seed = model, features, target, int(seed)
        self.params = dict(params or {})
        self.scaling = "none" if target == "valid" else scaling
        self.estimators_: dict[str, Any] = {}
        self.columns_: dict[str, list[str]] = {}
        self.meta_: dict[str, Any] = {}

    def fit(self, tables: dict[str, FeatureTable], source: str | None = None) -> SurrogateModel:
        hashes, rows = {}, {}
        for fam, tab in sorted(tables.items()):
            idx = labelled(tab, self.target)
            if len(idx) < 2:
                raise LooplabError(f"{fam}: fewer than 2 rows labelled for target {self.target}", source)
            X, y = tab.X[self.features][idx], label_values(tab, self.target, idx)
            if self.target == "valid" and len(np.unique(y)) < 2:
                raise LooplabError(f"{fam}: every row has valid={bool(y[0])}; a validity model needs both kinds",
                                   source)
            est = make_estimator(self.model, self.target, self.seed, **self.params)
            if self.scaling == "roofline":
                y_fit = y / np.exp(roofline_log(tab.names[self.features], X, self.target))
            else:
                y_fit = y
            self.estimators_[fam] = est.fit(X, y_fit)
            self.columns_[fam] = list(tab.names[self.features])
            hashes[fam], rows[fam] = data_hash(X, y), int(len(idx))
        self.meta_ = {"kind": "surrogate", "model": self.model, "features": self.features, "target": self.target,
                      "seed": self.seed, "params": self.params, "scaling": self.scaling,
                      "families": sorted(self.estimators_),
                      "columns": self.columns_, "training_rows": rows, "training_data_hash": hashes,
                      "training_data": source, "looplab_version": looplab.__version__}
        return self

    def _check(self, table: FeatureTable) -> Any:
        fam = table.family
        if fam not in self.estimators_:
            raise LooplabError(f"this model was trained on {', '.join(sorted(self.estimators_)) or 'nothing'}, "
                               f"not on the {fam} family", "predict")
        names = table.names.get(self.features)
        if names != self.columns_[fam]:
            missing = [c for c in self.columns_[fam] if c not in (names or [])]
            extra = [c for c in (names or []) if c not in self.columns_[fam]]
            raise LooplabError(f"features differ from the ones the model was trained on ({self.features}, {fam}): "
                               f"missing {missing[:5]}, unexpected {extra[:5]}", "predict")
        return self.estimators_[fam]

    def predict(self, table: FeatureTable) -> np.ndarray:
        """cycles / pJ, or for target valid the probability that each mapping is valid."""
        est = self._check(table)
        X = table.X[self.features]
        if self.target == "valid":
            proba = est.predict_proba(X)
            cls = list(est.classes_)
            return proba[:, cls.index(1)] if 1 in cls else np.zeros(len(X))
        pred = np.asarray(est.predict(X), np.float64)
        if self.scaling == "roofline":
            pred = pred * np.exp(roofline_log(self.columns_[table.family], X, self.target))
        return pred

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump({"estimators": self.estimators_, "columns": self.columns_}, out / "model.joblib", compress=3)
        (out / "meta.json").write_text(json.dumps(self.meta_, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path) -> SurrogateModel:
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LooplabError(f"cannot read meta.json ({exc})", str(path)) from None
        if meta.get("kind") != "surrogate":
            raise LooplabError(f"not a surrogate model (kind {meta.get('kind')!r})", str(path / "meta.json"))
        for key in ("model", "features", "target"):
            if key not in meta:
                raise LooplabError(f"missing field '{key}'", str(path / "meta.json"))
        if not (path / "model.joblib").is_file():
            raise LooplabError("model.joblib not found", str(path))
        m = cls(meta["model"], meta["features"], meta["target"], meta.get("seed", 0), meta.get("params"),
                meta.get("scaling", "none"))
        blob = joblib.load(path / "model.joblib")
        m.estimators_, m.columns_, m.meta_ = blob["estimators"], blob["columns"], meta
        if m.columns_ != meta.get("columns", m.columns_):
            raise LooplabError("meta.json columns differ from the saved estimators'", str(path))
        return m
