"""Entry point: ``python -m bench <subcommand> [options]``.

A subcommand is a module exposing ``configure(parser)`` (adds its options to an
argparse parser) and ``run(args) -> int`` (runs, prints, returns an exit code).
Register new ones (kinesis, tcp, ...) in ``SUBCOMMANDS``. Only the chosen
subcommand's module is imported, so one benchmark's optional dependencies (or
a service still being written) never break another.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sqs": ("bench.sqs", "SQS throughput, scaling and memory; msgsim versus moto"),
    "sns": (
        "bench.sns",
        "SNS publish throughput into 1-100 SQS subscriptions, with filter policies",
    ),
    "kinesis": (
        "bench.kinesis",
        "Kinesis PutRecord/PutRecords/GetRecords throughput and read cost by shard depth",
    ),
    "functions": (
        "bench.functions",
        "Lambda invokes/s (sync, async) and records/s through SQS and Kinesis mappings",
    ),
    "tcp": (
        "bench.tcp",
        "SendMessage(Batch) latency and throughput over TCP against `msgsim serve`, "
        "next to a bare msgpack echo floor",
    ),
    "limits": (
        "bench.limits",
        "daemon memory per idle connection, parked poll, queued message and queue, and under "
        "floods, amplification and unread answers",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(prog="python -m bench", description="msgsim benchmarks")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            sub_parser.description = (module.__doc__ or help_text).strip().splitlines()[0]
            module.configure(sub_parser)
            sub_parser.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
