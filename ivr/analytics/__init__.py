"""Command-center analytics: what the reports add up to.

``schema`` and ``rollup`` (the rollup tables migration 004 keeps by triggers),
``panels`` (the dashboard's numbers, read from them), ``dashboard`` and
``committee`` (panels put together), ``charts`` (SVG), ``exports`` (CSV, XLSX,
GeoJSON), ``public`` (the transparency API and Open311), ``zones`` and
``zonestore`` (GeoJSON zones), ``demo`` (Table 1 of the case study) and
``commands`` (``alerta demo|stats|zones``). It reads and writes through
``ivr.store``'s Database; nothing here imports the console.
"""
