"""Reading the Timeloop inputs users already have: every architecture, problem and mapping syntax Timeloop accepts.

* :mod:`looplab.interop.arch_formats`: Timeloop's legacy ``arch:`` format and the front end's v0.4 specs
  (``!Container``/``!Component``, through ``pytimeloop.timeloopfe``) turned into the classic tree
  :func:`looplab.archspec.parse_arch` reads.
* :mod:`looplab.interop.problem`: any problem with an explicit ``shape`` (dimension names, coefficients, data-space
  projections) mapped onto looplab's seven conv dimensions by each dimension's role in the projections.
"""
