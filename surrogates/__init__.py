"""Surrogate models: features, estimators, evaluation."""
