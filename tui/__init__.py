"""The test engineer's front end: a Textual app over bench snapshots.

Importing ``tui`` imports no Textual: :mod:`tui.session` (the bench the app
drives) is plain Python, and :mod:`tui.app` is imported only by whoever
starts the app (``hilbench tui``).  The TUI computes no physics and owns no
bus logic; it reads :class:`hilbench.bench.BenchSnapshot` values.
"""
