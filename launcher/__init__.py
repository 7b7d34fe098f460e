"""``ssnas serve``: the launcher of the whole service on one machine (``launcher.serve``), and the
process helpers that it, the end-to-end tests and the benchmarks start children with. It stands
above ``api`` and ``worker`` (it starts both) and is imported by neither."""
