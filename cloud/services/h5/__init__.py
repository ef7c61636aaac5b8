"""The public H5 site (issue 15): the shell and home page ``/h5/``, the trace lookup
``/h5/trace`` and the public JSON behind them (``/api/v1/public/home``,
``/api/v1/public/lookup``)."""
