"""``hhlif report``: tables and figures from the run directories of ``hhlif train`` (see
:mod:`hhlif.commands.report`).

- :mod:`~hhlif.report.naming`: model keys (``HH_fc``, ``4LIF_fc``) and flat hyper-parameters, shared with the
  TensorBoard HParams summary the logger writes;
- :mod:`~hhlif.report.runs`: finding runs, reading their config, ``metrics.json`` or failure marker, grouping
  them by task, model and swept setting, mean ± std over seeds;
- :mod:`~hhlif.report.curves`: scalar series from the TensorBoard event files, the paper's reward smoothing;
- :mod:`~hhlif.report.plots`: the figures (matplotlib, Agg);
- :mod:`~hhlif.report.build`: the output directory, ``report.md``, ``report.csv``, ``runs.csv``, ``scalars.csv``.
"""
