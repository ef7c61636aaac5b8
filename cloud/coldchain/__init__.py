"""The cold chain: commodity profiles applied to rooms and vehicles, the excursion
engine, MKT over any interval, alarms and their escalation. See README.md.

Public API for other packages (floors above 3):

- :func:`cloud.coldchain.service.build` -> :class:`ColdChain` (``attach(hooks)``,
  ``start()``, ``stop()``);
- :meth:`Engine.readings_written` (blocks you wrote yourself, e.g. OsmAnd fixes with
  ``temp1``), :meth:`Engine.recheck`;
- :func:`cloud.coldchain.service.excursions`, :func:`cloud.coldchain.service.alarms_of`;
- :mod:`cloud.coldchain.alarms` (``raise_or_repeat``, ``acknowledge``,
  ``condition_ended``) for alarms of your own conditions;
- :func:`cloud.coldchain.mkt.summary` of :meth:`TimeSeriesStore.evidence`.
"""
