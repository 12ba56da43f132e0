"""mjwidgets benchmarks (issue 8): run them all with ``python -m benchmarks.run``.

Each module exposes ``run(options) -> list[Row]``; ``benchmarks.run`` collects the rows, judges the
goals and writes ``benchmarks/results/latest.{json,md}``. Nothing here is imported by the package
or the test suite, and no timing is ever asserted in tests.
"""
