"""The stage layer: the pipeline's stage table, its artifact layout, the one freshness check,
per-artifact locks and the one staged write (see each module). Below every pipeline package:
it imports only :mod:`apq.errors` and :mod:`apq.io`."""
