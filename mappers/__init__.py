"""Mapping model, samplers, validity and search.

* :mod:`mappers.mapping` -- ``Mapping``/``LevelMapping``/``MappingBatch`` and Timeloop mapping YAML I/O.
* :mod:`mappers.validity` -- ``check_batch``/``check``: Timeloop's verdict, failing level and reason.
* :mod:`mappers.sampler` -- ``sample_mappings``: seeded, vectorised random mappings with valid/invalid quotas.
* :mod:`mappers.exhaustive` -- ``count_tilings``/``iter_tilings``/``enumerate_tilings`` for small layers.
* :mod:`mappers.families` -- per-family keep/bypass and spatial rules (Simba, Gemmini, generic).
* :mod:`mappers.canonical` -- semantic equality, reference-layout mapping YAML for an architecture.
* :mod:`mappers.flat` -- flat numeric vectors of a ``MappingBatch`` and back.
* :mod:`mappers.dosa` -- DOSA mapping strings and dataset CSVs.
"""
