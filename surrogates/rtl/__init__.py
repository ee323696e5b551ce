"""Gemmini RTL latency (DOSA's FireSim measurements): the analytical model plus a learned correction.

* :mod:`surrogates.rtl.data` -- DOSA-format CSVs with the analytical model (DOSA's Timeloop build) on every row;
* :mod:`surrogates.rtl.features` -- the ``rtl`` and ``raw`` feature sets;
* :mod:`surrogates.rtl.estimators` -- :class:`RtlLatencyRegressor` (analytical / learned / residual) and the torch
  MLP, behind scikit-learn's estimator contract;
* :mod:`surrogates.rtl.evaluate` -- metrics, group k-fold over layer shapes, DOSA's random 8%, plots;
* :mod:`surrogates.rtl.cli_entry` -- ``looplab train --model rtl-*`` and ``looplab predict``;
  ``python -m surrogates.rtl cv FIRESIM.csv --out DIR`` prints the cross-validated table of every predictor.
"""
