"""``nature demo``: the embedded digits data (``digits``), the demo's Lightning training
(``training``) and the whole offline demo (``run.run_demo``). Needs the ``demo`` extra."""
