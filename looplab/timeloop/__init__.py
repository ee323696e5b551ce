"""Drive the real Timeloop and Accelergy: subprocess runner, pytimeloop bindings, ERT/ART cache, output parsers.

Modules:
    runner             -- one ``timeloop-model`` run in its own temporary directory -> EvalResult
    pytimeloop_backend -- evaluation through the timeloop-python bindings, one worker process per architecture
    pytimeloop_worker  -- that worker (stdlib + bindings only; the bindings' rules in its docstring)
    discover           -- LOOPLAB_SIMULATORS=DIR or PATH: where the simulators are, TIMELOOP_DIR
    mapper             -- ``looplab map --backend timeloop-mapper``: Timeloop's mapper in its own directory
    fuzz               -- differential fuzz: real Timeloop vs the analytical model on random points
    accelergy          -- Accelergy once per architecture; ERT/ART cached by content hash
    parse_stats        -- ``timeloop-model.stats.txt`` (fJ/Compute and older pJ/Compute builds)
    parse_xml          -- ``timeloop-model.map+stats.xml``
    parse_accelergy    -- ERT_summary / ART_summary / accelergy.log
    errors             -- Timeloop's ``ERROR: couldn't map level ...`` lines
    batch              -- ``looplab evaluate --batch``: CASES.jsonl -> RESULTS.jsonl in worker processes, resumable

Backends over these: :func:`looplab.backends.get_backend`.
"""
