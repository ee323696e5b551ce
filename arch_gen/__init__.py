"""Accelerator families (Simba-like, Gemmini-like): configs, presets, grids, samplers, rendering."""
