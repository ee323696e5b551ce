"""Mapping model, samplers, validity and search."""
