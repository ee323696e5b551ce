"""Search: mapping-first gradient co-search (DOSA style), its baselines, and a fixed-hardware mapper.

Modules: ``network`` (networks, network cost, designs and their files), ``hardware`` (family design space, design
inference, architecture/ERT cache), ``encoding`` (prime-factor assignments), ``local`` (exact-model local search on
fixed hardware), ``fixed`` (``looplab map --backend looplab``), ``budget`` (evaluation counting), and one module per
co-search method: ``gradient``, ``random_search``, ``bo_dosa``, ``bo_botorch``, ``mindmappings``; ``run`` ties them
to ``looplab search`` and ``report`` writes its summary.
"""
