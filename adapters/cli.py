"""The ``msgsim`` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import trio
import trio.testing

from msgsim.broker import Broker
from msgsim.broker.errors import BrokerError
from msgsim.broker.functions.handlers import HandlerRoots, resolve_handler
from msgsim.broker.functions.options import LambdaOptions

from .gcpolicy import LongLivedObjects
from .inprocess import InProcessClient
from .tcp_client import TcpClient
from .tcp_server import (
    DEFAULT_GRACE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BUFFERED,
    TcpServer,
    server_version,
)
from .tokens import (
    TOKEN_ENV,
    TokenFileError,
    new_token,
    read_token_file,
    remove_default_token,
    write_default_token,
)
from .wire import DEFAULT_MAX_FRAME, DEFAULT_MAX_IN_FLIGHT

log = logging.getLogger("msgsim")


async def demo(seed: int = 7, out=print) -> None:
    """A short story on the virtual clock: an order queue with a dead-letter queue, a consumer
    that cannot process one poison message, and a FIFO queue that keeps per-customer order.
    Hours of virtual time pass in milliseconds; the same seed prints the same ids."""
    async with Broker.open(seed=seed) as broker:
        sqs = InProcessClient(broker).client("sqs")
        start = trio.current_time()

        def say(text: str) -> None:
            out(f"[t={trio.current_time() - start:>8.1f}s] {text}")

        dlq_url = (await sqs.create_queue(QueueName="orders-dlq"))["QueueUrl"]
        dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        url = (
            await sqs.create_queue(
                QueueName="orders",
                Attributes={
                    "VisibilityTimeout": "30",
                    "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}',
                },
            )
        )["QueueUrl"]
        say(f"created {url} with dead-letter queue orders-dlq (maxReceiveCount 2)")

        for body in ("order-1: 2 apples", "order-2: POISON", "order-3: 1 pear"):
            sent = await sqs.send_message(QueueUrl=url, MessageBody=body)
            say(f"sent {body!r} as {sent['MessageId']}")
        await sqs.send_message(QueueUrl=url, MessageBody="order-4: 3 plums", DelaySeconds=90)
        say("sent 'order-4: 3 plums' with a 90 s delay")

        processed = 0
        while processed < 3:
            got = await sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=20,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            for m in got.get("Messages", []):
                count = m["Attributes"]["ApproximateReceiveCount"]
                if "POISON" in m["Body"]:
                    say(
                        f"consumer failed on {m['Body']!r} (receive #{count}); it reappears in 30 s"
                    )
                    continue
                await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                processed += 1
                say(f"processed and deleted {m['Body']!r} (receive #{count})")
            if not got:
                say("long poll returned empty after 20 s")

        got = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        say(f"orders now yields {len(got.get('Messages', []))} messages: the poison pill moved")
        dead = await sqs.receive_message(
            QueueUrl=dlq_url, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"]
        )
        for m in dead.get("Messages", []):
            say(
                f"dead-letter queue holds {m['Body']!r} from "
                f"{m['Attributes']['DeadLetterQueueSourceArn']}"
            )

        fifo = (
            await sqs.create_queue(
                QueueName="payments.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )
        )["QueueUrl"]
        for customer, amount in [("alice", 10), ("bob", 5), ("alice", 20), ("bob", 7)]:
            await sqs.send_message(
                QueueUrl=fifo, MessageBody=f"{customer} pays {amount}", MessageGroupId=customer
            )
        dup = await sqs.send_message(
            QueueUrl=fifo, MessageBody="alice pays 10", MessageGroupId="alice"
        )
        say(f"re-sent 'alice pays 10' within 5 minutes: deduplicated to {dup['MessageId']}")
        order: list[str] = []
        while True:
            got = await sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)
            if not got:
                break
            for m in got["Messages"]:
                order.append(m["Body"])
                await sqs.delete_message(QueueUrl=fifo, ReceiptHandle=m["ReceiptHandle"])
        say(f"payments.fifo delivered, in per-customer order: {order}")
        await trio.sleep(14 * 24 * 3600)
        attrs = await sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        say(
            "14 days later the dead-letter queue holds "
            f"{attrs['Attributes']['ApproximateNumberOfMessages']} messages (retention is 4 days)"
        )


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 4650,
    seed: int = 0,
    token: str | None = None,
    clock: trio.testing.MockClock | None = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    grace: float = DEFAULT_GRACE,
    handler_roots: Sequence[str] | None = None,
    write_token: bool = False,
    out=print,
    **limits: Any,
) -> None:
    """``msgsim serve``: run a broker daemon on ``host:port`` until SIGINT or SIGTERM, then stop
    accepting, let requests in flight answer (long polls answer at once with what they have),
    give the rest ``grace`` seconds and answer them ServiceUnavailable.

    Import-string handlers load only from ``handler_roots`` (default: the current directory);
    every other function is served by ``msgsim worker`` processes. ``write_token``: keep
    ``token`` in the private file clients on this machine read by default
    (:func:`~.tokens.default_token_path` of the port), removed on exit."""
    roots = HandlerRoots([os.getcwd()] if handler_roots is None else handler_roots)
    for root in roots.paths:  # a handler's own imports of its neighbours work
        if root not in sys.path:
            sys.path.append(root)
    log.info("handlers load from %s", roots.describe())
    server = TcpServer(
        seed=seed,
        # Handlers run in threads here: a blocking one must not freeze the daemon.
        broker_options={
            "handler_roots": roots.paths,
            "lambda_options": LambdaOptions(handler_threads=True),
        },
        token=token,
        clock=clock,
        max_frame=max_frame,
        max_in_flight=max_in_flight,
        grace=grace,
        **limits,  # max_buffered, max_connections, idle_timeout
    )
    with (
        contextlib.ExitStack() as stack,
        trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
    ):
        async with trio.open_nursery() as root:
            await root.start(server.run)
            async with trio.open_nursery() as connections:
                listeners = await trio.open_tcp_listeners(port, host=host)
                accepting = trio.CancelScope()

                async def accept(task_status=trio.TASK_STATUS_IGNORED) -> None:
                    with accepting:
                        await server.serve_listeners(
                            listeners, handler_nursery=connections, task_status=task_status
                        )

                await connections.start(accept)
                bound = listeners[0].socket.getsockname()
                if write_token and token is not None:
                    token_path = write_default_token(bound[1], token)
                    stack.callback(remove_default_token, token_path, token)
                out(
                    f"msgsim serve: listening on {bound[0]}:{bound[1]} "
                    f"({describe_clock(clock)}; seed {seed}; msgsim {server_version()})",
                    flush=True,
                )
                async for signum in signals:
                    log.info("signal %s: shutting down", signum)
                    break
                accepting.cancel()
                for listener in listeners:
                    await listener.aclose()
                server.begin_shutdown()
                await server.wait_idle()
                connections.cancel_scope.cancel()
            root.cancel_scope.cancel()
    out("msgsim stopped", flush=True)


def describe_clock(clock: trio.testing.MockClock | None) -> str:
    """The start-up line's words for the daemon's clock: which one, and how fast it runs."""
    if clock is None:
        return "clock: real"
    if clock.rate == 1:
        return (
            "clock: virtual, rate 1.0x, real speed: a 20 s long poll takes 20 s; --rate R runs "
            "it R times as fast and AdvanceClock jumps it"
        )
    return f"clock: virtual, rate {float(clock.rate)}x; AdvanceClock jumps it"


async def worker(
    function: str,
    handler: str,
    *,
    host: str = "127.0.0.1",
    port: int = 4650,
    token: str | None = None,
    concurrency: int = 1,
    out=print,
) -> None:
    """``msgsim worker``: serve ``function``'s invocations with the handler an import string
    names, until SIGINT or SIGTERM; reconnects whenever the daemon restarts."""
    fn = resolve_handler(handler)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def run() -> None:
                async with TcpClient.connect(host, port, token=token) as client:
                    await client.serve_function(function, fn, concurrency=concurrency)
                    out(f"msgsim worker serving {function} with {handler}", flush=True)
                    await client.serve_forever()

            nursery.start_soon(run)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def port_number(text: str, *, lowest: int = 0) -> int:
    """An argparse type: a TCP port number, ``lowest`` to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not lowest <= port <= 65535:
        free = " (0 picks a free port)" if lowest == 0 else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use {lowest} to 65535{free}")
    return port


def _grace(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds, 0 or more")
    return seconds


def _daemon_port(text: str) -> int:
    return port_number(text, lowest=1)


def _command_parser(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="msgsim", description="Deterministic, virtual-time AWS messaging simulator."
    )
    parser.add_argument("--version", action="version", version=f"msgsim {server_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = _command_parser(sub, "demo", "a short run on the virtual clock that narrates itself")
    p_demo.add_argument(
        "--seed", type=int, default=7, help="seed of the broker's RNG (default: %(default)s)"
    )

    p_serve = _command_parser(sub, "serve", "run the broker as a daemon over TCP")
    p_serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p_serve.add_argument(
        "--port",
        type=port_number,
        default=4650,
        help="port to listen on, 0 to 65535; 0 picks a free one (default: %(default)s)",
    )
    p_serve.add_argument(
        "--seed", type=int, default=0, help="seed of the broker's RNG (default: %(default)s)"
    )
    p_serve.add_argument(
        "--clock",
        choices=["real", "virtual"],
        default="real",
        help="real: wall-clock time; virtual: a clock the admin operation AdvanceClock moves "
        "on, running at --rate meanwhile (default: %(default)s)",
    )
    p_serve.add_argument(
        "--rate",
        type=float,
        default=None,
        help="with --clock virtual: virtual seconds per real second (default: 1.0, real speed: a "
        "20 s long poll takes 20 s)",
    )
    p_serve.add_argument(
        "--handlers",
        action="append",
        metavar="PATH",
        default=None,
        help="a folder import-string handlers may load from, repeatable; nothing else loads in "
        "the daemon, not the standard library nor site-packages unless named here (every other "
        "function is served by 'msgsim worker'). Handlers run on the daemon's trio thread: a "
        "blocking one belongs in a worker (default: the directory serve starts in)",
    )
    p_serve.add_argument(
        "--token-file",
        metavar="PATH",
        default=None,
        help="read the token clients must present from PATH, a file only you may read (mode 0600)",
    )
    p_serve.add_argument(
        "--token",
        default=None,
        help="the token clients must present; other local users can read it in the process "
        f"list, so prefer ${TOKEN_ENV} or --token-file (default: ${TOKEN_ENV}, else a new "
        "random token, kept in $XDG_RUNTIME_DIR/msgsim/PORT.token or ~/.msgsim/PORT.token, "
        "mode 0600, where TcpClient and msgsim worker on this machine find it)",
    )
    p_serve.add_argument(
        "--no-token",
        action="store_true",
        help="require no token: any local process may connect and call",
    )
    p_serve.add_argument(
        "--max-frame",
        type=int,
        default=DEFAULT_MAX_FRAME,
        help="largest frame either side accepts, in bytes (default: %(default)s)",
    )
    p_serve.add_argument(
        "--max-in-flight",
        type=int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help="requests one connection may have waiting (default: %(default)s)",
    )
    p_serve.add_argument(
        "--max-buffered",
        type=int,
        default=DEFAULT_MAX_BUFFERED,
        help="bytes of incoming frames all connections together may buffer (default: %(default)s)",
    )
    p_serve.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help="open connections at once (default: the open-file limit less 32, at most 1024)",
    )
    p_serve.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a connection may stay idle before it is closed; 0: never "
        "(default: %(default)s)",
    )
    p_serve.add_argument(
        "--grace",
        type=_grace,
        default=DEFAULT_GRACE,
        help="on SIGINT or SIGTERM, seconds requests in flight get to finish; the rest are "
        "answered ServiceUnavailable (default: %(default)s)",
    )
    p_serve.add_argument(
        "--log-level", default="WARNING", help="logging level, on stderr (default: %(default)s)"
    )

    p_worker = _command_parser(sub, "worker", "serve a function's invocations from this process")
    p_worker.add_argument(
        "--function",
        required=True,
        help="the function's name (a client creates the function with create_function)",
    )
    p_worker.add_argument(
        "handler",
        help="the handler, package.module:function, imported as python -m would import it: "
        "the current directory comes first on the import path",
    )
    p_worker.add_argument(
        "--host", default="127.0.0.1", help="the daemon's address (default: %(default)s)"
    )
    p_worker.add_argument(
        "--port", type=_daemon_port, default=4650, help="the daemon's port (default: %(default)s)"
    )
    p_worker.add_argument(
        "--token-file",
        metavar="PATH",
        default=None,
        help="read the daemon's token from PATH, a file only you may read (mode 0600)",
    )
    p_worker.add_argument(
        "--token",
        default=None,
        help="the daemon's token; other local users can read it in the process list, so prefer "
        f"${TOKEN_ENV} or --token-file (default: ${TOKEN_ENV}, else the token file of a daemon "
        "on this machine)",
    )
    p_worker.add_argument(
        "--concurrency", type=int, default=1, help="invocations at once (default: %(default)s)"
    )
    p_worker.add_argument(
        "--log-level", default="WARNING", help="logging level, on stderr (default: %(default)s)"
    )
    commands = {"serve": p_serve, "worker": p_worker}

    args = parser.parse_args(argv)
    if args.command == "demo":
        trio.run(demo, args.seed, clock=trio.testing.MockClock(autojump_threshold=0))
        return 0
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token, write_token = _token(commands[args.command], args)
    try:
        return _daemon_command(commands[args.command], args, token, write_token)
    except BaseException as exc:
        # What the user can fix (the port is taken, no daemon answers, the token is refused) is
        # a line on stderr and exit status 1, not a traceback.
        leaf = _only_leaf(exc)
        if isinstance(leaf, OSError | BrokerError):
            where = f"cannot listen on {args.host}:{args.port}: " if args.command == "serve" else ""
            print(f"msgsim {args.command}: {where}{leaf}", file=sys.stderr)
            return 1
        raise


def _token(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str | None, bool]:
    """The token to require (serve) or present (worker), and whether serve is to write it to
    its default token file. See :mod:`.tokens` for the order."""
    no_token = getattr(args, "no_token", False)
    if no_token and (args.token is not None or args.token_file is not None):
        parser.error("--no-token with --token or --token-file: choose one")
    if args.token is not None and args.token_file is not None:
        parser.error("--token and --token-file: choose one")
    if no_token:
        return None, False
    if args.token_file is not None:
        try:
            return read_token_file(args.token_file), False
        except TokenFileError as exc:
            parser.error(str(exc))
    if args.token is not None:
        print(
            f"msgsim {args.command}: warning: --token is visible to every local user in the "
            f"process list (/proc/PID/cmdline); prefer ${TOKEN_ENV} or --token-file",
            file=sys.stderr,
        )
        return args.token, False
    if args.command == "worker":
        return None, False  # TcpClient.connect looks for it ($MSGSIM_TOKEN, the token file)
    token = os.environ.get(TOKEN_ENV)
    return (token, False) if token else (new_token(), True)


def _only_leaf(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (trio's nurseries wrap
    what escapes them), or ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _daemon_command(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    token: str | None,
    write_token: bool = False,
) -> int:
    if args.command == "serve":
        if args.rate is not None and args.clock == "real":
            parser.error(
                "--rate sets the speed of the virtual clock; the real clock runs at real speed "
                "(add --clock virtual, or leave out --rate)"
            )
        rate = 1.0 if args.rate is None else args.rate
        if not rate > 0 or rate == float("inf"):
            parser.error("--rate must be a positive number")
        if args.max_frame < 1024 or args.max_in_flight < 1:
            parser.error("--max-frame must be at least 1024 and --max-in-flight at least 1")
        if args.max_buffered < args.max_frame or (args.max_connections or 1) < 1:
            parser.error("--max-buffered must hold a frame; --max-connections must be positive")
        for root in args.handlers or ():
            if not os.path.isdir(root):
                parser.error(f"--handlers {root}: not a folder")
        clock = trio.testing.MockClock(rate=rate) if args.clock == "virtual" else None
        with LongLivedObjects():  # the daemon owns its process: see adapters/gcpolicy.py
            trio.run(
                partial(
                    serve,
                    host=args.host,
                    port=args.port,
                    seed=args.seed,
                    token=token,
                    clock=clock,
                    max_frame=args.max_frame,
                    max_in_flight=args.max_in_flight,
                    max_buffered=args.max_buffered,
                    max_connections=args.max_connections,
                    idle_timeout=args.idle_timeout,
                    handler_roots=args.handlers,
                    write_token=write_token,
                    grace=args.grace,
                ),
                clock=clock,
            )
        return 0
    if args.command == "worker":
        if args.concurrency < 1:
            parser.error("--concurrency must be at least 1")
        # As `python -m` does: the project the worker is started from is importable, first.
        cwd = os.getcwd()
        if sys.path[:1] != [cwd]:
            sys.path.insert(0, cwd)
        try:
            resolve_handler(args.handler)
        except Exception as exc:
            parser.error(f"cannot load handler {args.handler!r}: {exc}")
        trio.run(
            partial(
                worker,
                args.function,
                args.handler,
                host=args.host,
                port=args.port,
                token=token,
                concurrency=args.concurrency,
            )
        )
        return 0
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
