"""The ``hilbench`` command line: a thin shell over scenarios and the bench."""
