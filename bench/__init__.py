"""Benchmarks for msgsim: ``python -m bench <subcommand>``.

Benchmarks print figures (throughput, per-operation cost, memory); they never
assert on time. Each subcommand lives in its own module, registered in
``bench.__main__.SUBCOMMANDS``.
"""
