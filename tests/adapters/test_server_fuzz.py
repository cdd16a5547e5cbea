"""Fuzzing a running daemon (``msgsim serve --max-frame 65536``) over real sockets.

docs/protocol.md and the TcpServer docstring promise that nothing a client sends can stop the
server or disturb another connection: bytes that cannot be framed get a final ``fatal`` frame
(FrameTooLarge or MalformedFrame) and the connection closes; a frame that never completes does
nothing; any map that is framed correctly is answered (a ``res`` with the request's id, or id
nil when the map is not a request with an integer id) and the connection stays usable. DESIGN:
an invalid request changes nothing, and no exception but a BrokerError reaches a client.

One daemon serves the whole module. A *sentinel* queue holding three messages is created at
the start; after every example a fresh connection must still find it and count the same three
messages, and the daemon process must still be running. Mutated requests, which may be valid
and so change state, only name resources of their own (``fuzzmut-*``).

These are plain synchronous tests with stdlib sockets (every read has a timeout, so a hang is a
failure, not a stuck suite); they run on the real clock because a real process is the point.
"""

from __future__ import annotations

import copy
import json
import math
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from daemon import start_daemon, stop
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from msgsim.adapters import wire

MAX_FRAME = 65536
#: Seconds any single read may take before the test calls it a hang.
READ_TIMEOUT = 10.0
SENTINEL = "fuzz-sentinel"
SENTINEL_MESSAGES = 3
FRAMING_CODES = {"FrameTooLarge", "MalformedFrame", "FrameTooComplex"}

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------------- a raw client


class Conn:
    """One raw socket to the daemon, reading frames with the wire decoder."""

    def __init__(self, host: str, port: int, *, hello: bool = True) -> None:
        self.sock = socket.create_connection((host, port), timeout=READ_TIMEOUT)
        self.decoder = wire.FrameDecoder(2**32)  # the client side accepts any size
        self.inbox: deque[dict[str, Any]] = deque()
        self.eof = False
        self.welcome: dict[str, Any] | None = None
        if hello:
            self.send({"t": wire.HELLO, "v": wire.PROTOCOL_VERSION, "token": None})
            self.welcome = self.recv()
            assert self.welcome is not None and self.welcome["t"] == wire.WELCOME

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(wire.encode(message))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None once the server closed the connection."""
        while not self.inbox:
            if self.eof:
                return None
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"the server sent nothing for {READ_TIMEOUT} s (hang)")
            if not data:
                self.eof = True
            else:
                self.inbox.extend(self.decoder.feed(data))
        return self.inbox.popleft()

    def read_to_eof(self) -> list[dict[str, Any]]:
        out = []
        while (m := self.recv()) is not None:
            out.append(m)
        return out

    def response(self, rid: Any, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Read until the ``res`` for ``rid``; other messages go to ``seen``."""
        while True:
            m = self.recv()
            assert m is not None, f"the connection closed before the answer to request {rid}"
            if m.get("t") == wire.RESPONSE and m.get("id") == rid:
                return m
            assert seen is not None, f"unexpected message {m!r}"
            seen.append(m)

    def call(self, svc: str, op: str, p: dict[str, Any], rid: int = 1) -> dict[str, Any]:
        self.send({"t": wire.REQUEST, "id": rid, "svc": svc, "op": op, "p": p})
        res = self.response(rid)
        if "e" in res:
            raise AssertionError(f"{svc}.{op} failed: {res['e']}")
        return res["r"]

    def close(self, *, abort: bool = False) -> None:
        if abort:  # RST instead of FIN
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_error_shape(e: Any) -> None:
    assert isinstance(e, dict), e
    assert type(e.get("code")) is str and e["code"], e
    assert type(e.get("message")) is str, e
    assert type(e.get("sender_fault")) is bool, e


# ---------------------------------------------------------------------------------- the daemon


class Server:
    def __init__(self, daemon: Any, stderr: list[str]) -> None:
        self.daemon = daemon
        self.proc = daemon.proc
        self.host = daemon.host
        self.port = daemon.port
        self.stderr = stderr
        self.sentinel_url = ""
        self.mut: dict[str, Any] = {}  # the fuzzmut-* resources' names, URLs and ARNs
        #: (request, error) for every InternalFailure a mutated request got
        self.internal_failures: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def connect(self, **kw: Any) -> Conn:
        return Conn(self.host, self.port, **kw)

    def assert_healthy(self) -> None:
        """The daemon runs, a fresh connection is answered, and the sentinel is untouched."""
        assert self.proc.poll() is None, "the daemon exited"
        with self.connect() as c:
            got = c.call("sqs", "GetQueueUrl", {"QueueName": SENTINEL}, rid=1)
            assert got["QueueUrl"] == self.sentinel_url
            attrs = c.call(
                "sqs",
                "GetQueueAttributes",
                {
                    "QueueUrl": self.sentinel_url,
                    "AttributeNames": [
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed",
                    ],
                },
                rid=2,
            )["Attributes"]
            assert attrs == {
                "ApproximateNumberOfMessages": str(SENTINEL_MESSAGES),
                "ApproximateNumberOfMessagesNotVisible": "0",
                "ApproximateNumberOfMessagesDelayed": "0",
            }
        assert self.proc.poll() is None, "the daemon exited"


def _drain(pipe: Any, lines: list[str]) -> None:
    # The daemon logs a warning per lost framing; an unread stderr pipe would fill and block it.
    for line in pipe:
        lines.append(line)


def _ensure_mut_resources(server: Server) -> None:
    """(Re)create the fuzzmut-* resources; mutated requests may have deleted or changed them."""
    with server.connect() as c:
        c.send(
            {
                "t": "req",
                "id": 1,
                "svc": "sqs",
                "op": "CreateQueue",
                "p": {"QueueName": "fuzzmut-q"},
            }
        )
        c.send(
            {
                "t": "req",
                "id": 2,
                "svc": "sqs",
                "op": "CreateQueue",
                "p": {"QueueName": "fuzzmut.fifo", "Attributes": {"FifoQueue": "true"}},
            }
        )
        c.send({"t": "req", "id": 3, "svc": "sns", "op": "CreateTopic", "p": {"Name": "fuzzmut-t"}})
        c.send(
            {
                "t": "req",
                "id": 4,
                "svc": "kinesis",
                "op": "CreateStream",
                "p": {"StreamName": "fuzzmut-s", "ShardCount": 1},
            }
        )
        c.send(
            {
                "t": "req",
                "id": 5,
                "svc": "lambda",
                "op": "CreateFunction",
                "p": {"FunctionName": "fuzzmut-f", "Handler": "fuzz_no_such_module:handler"},
            }
        )
        seen: list[dict[str, Any]] = []
        for rid in range(1, 6):
            c.response(rid, seen)  # errors (already exists, being deleted) are fine here


@pytest.fixture(scope="module")
def server():
    d = start_daemon("--max-frame", str(MAX_FRAME))
    lines: list[str] = []
    reader = threading.Thread(target=_drain, args=(d.proc.stderr, lines), daemon=True)
    reader.start()
    srv = Server(d, lines)
    try:
        with srv.connect() as c:
            srv.sentinel_url = c.call("sqs", "CreateQueue", {"QueueName": SENTINEL})["QueueUrl"]
            for i in range(SENTINEL_MESSAGES):
                c.call("sqs", "SendMessage", {"QueueUrl": srv.sentinel_url, "MessageBody": f"s{i}"})
            _ensure_mut_resources(srv)
            q = c.call("sqs", "GetQueueUrl", {"QueueName": "fuzzmut-q"})["QueueUrl"]
            fifo = c.call("sqs", "GetQueueUrl", {"QueueName": "fuzzmut.fifo"})["QueueUrl"]
            q_arn = c.call(
                "sqs", "GetQueueAttributes", {"QueueUrl": q, "AttributeNames": ["QueueArn"]}
            )["Attributes"]["QueueArn"]
            topic = c.call("sns", "CreateTopic", {"Name": "fuzzmut-t"})["TopicArn"]
            shard = "shardId-000000000000"
            for _ in range(100):  # a new stream is CREATING for half a second
                summary = c.call("kinesis", "DescribeStreamSummary", {"StreamName": "fuzzmut-s"})
                if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                    break
                time.sleep(0.05)
            iterator = c.call(
                "kinesis",
                "GetShardIterator",
                {"StreamName": "fuzzmut-s", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"},
            )["ShardIterator"]
            srv.mut = {
                "q": q,
                "fifo": fifo,
                "q_arn": q_arn,
                "topic": topic,
                "shard": shard,
                "iterator": iterator,
            }
        srv.assert_healthy()
        yield srv
    finally:
        if d.proc.poll() is None:
            d.proc.terminate()
            try:
                d.proc.wait(timeout=15)
            except Exception:
                d.proc.kill()
                d.proc.wait(timeout=10)
        reader.join(timeout=10)
        stop(d.proc)


# ---------------------------------------------------------------------------------- strategies

ODD_STRINGS = [
    "",
    "\x00",
    "\ud800",  # a lone surrogate (the wire carries it; AWS refuses it)
    "\udfff\ud800",
    "\U0001f600",
    "\u202e",
    "\ufeff",
    "\uffff",
    "ǅİß",
    "-1",
    "1e309",
    "NaN",
    "true",
    "null",
    "{}",
    "[]",
    "All",
    "x" * 300,
    "9" * 40,
]
odd_text = st.sampled_from(ODD_STRINGS) | st.text(st.characters(exclude_categories=()), max_size=30)
BIG_INTS = [-(2**63), 2**63 - 1, 2**64 - 1, 2**31, -(2**31) - 1, 2**53 + 1, -1, 0]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from(BIG_INTS)
    | st.floats()  # NaN and infinities included
    | odd_text
    | st.binary(max_size=40)
    | st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8))
)
keys = odd_text | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=8) | st.none()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def base_requests(server: Server) -> list[tuple[str, str, dict[str, Any]]]:
    """Valid requests on the fuzzmut-* resources: the seeds the mutations start from."""
    m = server.mut
    q, fifo, topic = m["q"], m["fifo"], m["topic"]
    attr = {
        "a": {"DataType": "String", "StringValue": "v"},
        "n": {"DataType": "Number", "StringValue": "1"},
    }
    battr = {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    return [
        ("sqs", "CreateQueue", {"QueueName": "fuzzmut-q2", "Attributes": {"DelaySeconds": "0"}}),
        ("sqs", "GetQueueUrl", {"QueueName": "fuzzmut-q"}),
        (
            "sqs",
            "SendMessage",
            {"QueueUrl": q, "MessageBody": "hi", "DelaySeconds": 0, "MessageAttributes": attr},
        ),
        (
            "sqs",
            "SendMessage",
            {
                "QueueUrl": fifo,
                "MessageBody": "hi",
                "MessageGroupId": "g",
                "MessageDeduplicationId": "d",
                "MessageAttributes": battr,
            },
        ),
        (
            "sqs",
            "SendMessageBatch",
            {
                "QueueUrl": q,
                "Entries": [
                    {"Id": "1", "MessageBody": "a"},
                    {"Id": "2", "MessageBody": "b", "DelaySeconds": 1, "MessageAttributes": attr},
                ],
            },
        ),
        (
            "sqs",
            "ReceiveMessage",
            {
                "QueueUrl": q,
                "MaxNumberOfMessages": 2,
                "VisibilityTimeout": 0,
                "WaitTimeSeconds": 0,
                "MessageAttributeNames": ["All"],
                "MessageSystemAttributeNames": ["All"],
            },
        ),
        ("sqs", "DeleteMessage", {"QueueUrl": q, "ReceiptHandle": "bogus"}),
        (
            "sqs",
            "ChangeMessageVisibilityBatch",
            {"QueueUrl": q, "Entries": [{"Id": "1", "ReceiptHandle": "x", "VisibilityTimeout": 5}]},
        ),
        (
            "sqs",
            "DeleteMessageBatch",
            {"QueueUrl": q, "Entries": [{"Id": "1", "ReceiptHandle": "x"}]},
        ),
        ("sqs", "GetQueueAttributes", {"QueueUrl": q, "AttributeNames": ["All"]}),
        (
            "sqs",
            "SetQueueAttributes",
            {
                "QueueUrl": q,
                "Attributes": {
                    "VisibilityTimeout": "30",
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": m["q_arn"], "maxReceiveCount": 5}
                    ),
                },
            },
        ),
        ("sqs", "ListQueues", {"QueueNamePrefix": "fuzzmut", "MaxResults": 5}),
        ("sqs", "TagQueue", {"QueueUrl": q, "Tags": {"k": "v"}}),
        ("sqs", "ListMessageMoveTasks", {"SourceArn": m["q_arn"], "MaxResults": 1}),
        ("sns", "CreateTopic", {"Name": "fuzzmut-t", "Attributes": {"DisplayName": "x"}}),
        (
            "sns",
            "Publish",
            {"TopicArn": topic, "Message": "m", "Subject": "s", "MessageAttributes": attr},
        ),
        (
            "sns",
            "PublishBatch",
            {
                "TopicArn": topic,
                "PublishBatchRequestEntries": [
                    {"Id": "1", "Message": "a"},
                    {"Id": "2", "Message": "b"},
                ],
            },
        ),
        (
            "sns",
            "Subscribe",
            {
                "TopicArn": topic,
                "Protocol": "sqs",
                "Endpoint": m["q_arn"],
                "Attributes": {"RawMessageDelivery": "true", "FilterPolicy": '{"a": ["v"]}'},
                "ReturnSubscriptionArn": True,
            },
        ),
        ("sns", "ListSubscriptionsByTopic", {"TopicArn": topic}),
        (
            "sns",
            "SetTopicAttributes",
            {"TopicArn": topic, "AttributeName": "DisplayName", "AttributeValue": "y"},
        ),
        ("kinesis", "PutRecord", {"StreamName": "fuzzmut-s", "Data": b"x", "PartitionKey": "k"}),
        (
            "kinesis",
            "PutRecords",
            {
                "StreamName": "fuzzmut-s",
                "Records": [
                    {"Data": b"a", "PartitionKey": "k"},
                    {"Data": b"b", "PartitionKey": "j", "ExplicitHashKey": "1"},
                ],
            },
        ),
        ("kinesis", "DescribeStream", {"StreamName": "fuzzmut-s", "Limit": 1}),
        ("kinesis", "ListShards", {"StreamName": "fuzzmut-s", "MaxResults": 10}),
        (
            "kinesis",
            "GetShardIterator",
            {
                "StreamName": "fuzzmut-s",
                "ShardId": m["shard"],
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "StartingSequenceNumber": "1",
            },
        ),
        ("kinesis", "GetRecords", {"ShardIterator": m["iterator"], "Limit": 10}),
        ("kinesis", "AddTagsToStream", {"StreamName": "fuzzmut-s", "Tags": {"k": "v"}}),
        ("lambda", "GetFunction", {"FunctionName": "fuzzmut-f"}),
        (
            "lambda",
            "CreateFunction",
            {
                "FunctionName": "fuzzmut-f2",
                "Handler": "fuzz_no_such_module.handler",
                "Runtime": "python3.12",
                "Role": "arn:aws:iam::000000000000:role/r",
                "Timeout": 3,
                "MemorySize": 128,
                "Environment": {"Variables": {"A": "b"}},
                "Tags": {"k": "v"},
            },
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "fuzzmut-f", "InvocationType": "Event", "Payload": b'{"a": 1}'},
        ),
        (
            "lambda",
            "PutFunctionConcurrency",
            {"FunctionName": "fuzzmut-f", "ReservedConcurrentExecutions": 5},
        ),
        (
            "lambda",
            "PutFunctionEventInvokeConfig",
            {
                "FunctionName": "fuzzmut-f",
                "MaximumRetryAttempts": 0,
                "MaximumEventAgeInSeconds": 60,
            },
        ),
        ("lambda", "ListEventSourceMappings", {"FunctionName": "fuzzmut-f"}),
        ("lambda", "ListFunctionInvocations", {"FunctionName": "fuzzmut-f"}),
        ("admin", "Stats", {}),
        ("admin", "Health", {}),
        ("admin", "Version", {}),
    ]


#: Operations never sent by the mutation fuzz: Reset would wipe the sentinel, the others wait
#: (a subscription streams for minutes) or would let a fuzz request start long-running work.
UNSAFE_OPS = {"Reset", "SubscribeToShard", "CreateEventSourceMapping", "AdvanceClock"}
SERVICES = ["sqs", "sns", "kinesis", "lambda", "admin", "worker"]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path into nested maps and lists (the empty path excluded)."""
    out = []
    if isinstance(obj, dict):
        items = list(obj.items())
    elif isinstance(obj, list):
        items = list(enumerate(obj))
    else:
        return out
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def _parent(obj: Any, path: tuple) -> Any:
    for k in path[:-1]:
        obj = obj[k]
    return obj


@st.composite
def mutated_request(draw: Any, server: Server, ops: dict[str, list[str]]) -> dict[str, Any]:
    """A valid request map with a few mutations: keys dropped, values of other types, unknown
    keys, another (or an unknown) service or operation, an id that is not an integer."""
    svc, op, p = draw(st.sampled_from(base_requests(server)))
    msg: dict[str, Any] = {"t": "req", "id": draw(st.integers(0, 2**31)), "svc": svc, "op": op}
    msg["p"] = copy.deepcopy(p)
    n = draw(st.integers(1, 4))
    for _ in range(n):
        kind = draw(
            st.sampled_from(["drop", "replace", "add", "svc", "op", "id", "p", "t"])
            if draw(st.integers(0, 9)) == 0
            else st.sampled_from(["drop", "replace", "add"])
        )
        if kind == "svc":
            msg["svc"] = draw(st.sampled_from(SERVICES) | values)
        elif kind == "op":
            all_ops = sorted({o for names in ops.values() for o in names} - UNSAFE_OPS)
            msg["op"] = draw(st.sampled_from(all_ops) | values)
        elif kind == "id":
            msg["id"] = draw(values)
        elif kind == "p":
            msg["p"] = draw(values)
        elif kind == "t":
            msg["t"] = draw(
                st.sampled_from(["hello", "res", "fatal", "welcome", "done", "cancel", "ev"])
                | values
            )
        else:
            paths = _paths(msg["p"])  # map values and list items
            containers = [()] + [
                pa for pa in _paths(msg["p"]) if isinstance(_get(msg["p"], pa), dict)
            ]
            if kind == "add" or not paths:
                target = draw(st.sampled_from(containers)) if isinstance(msg["p"], dict) else None
                if target is None:
                    continue
                _get(msg["p"], target)[draw(keys)] = draw(values)
            else:
                path = draw(st.sampled_from(paths))
                parent = _parent(msg["p"], path)
                if kind == "drop":
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = draw(values)
    return msg


def _waits(msg: dict[str, Any]) -> bool:
    """A request that may legitimately take long to answer (a long poll): not fuzzed."""
    p = msg.get("p")
    if msg.get("op") != "ReceiveMessage" or not isinstance(p, dict):
        return False
    wait = p.get("WaitTimeSeconds")
    if isinstance(wait, str | bytes):
        try:
            wait = float(wait)
        except ValueError:
            return False
    if type(wait) in (bool, int, float):
        return not (wait <= 0) and not math.isnan(wait)
    return False


# ---------------------------------------------------------------------------------- bytes


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _packed(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, datetime=True, unicode_errors="surrogatepass")


chunks = st.one_of(
    st.binary(min_size=1, max_size=200),  # raw noise (its first 4 bytes are a length)
    st.binary(max_size=200).map(_frame),  # a frame of noise
    values.filter(lambda v: not isinstance(v, dict)).map(_packed).map(_frame),  # not a map
    st.tuples(st.dictionaries(odd_text, values, max_size=3), st.binary(min_size=1, max_size=8)).map(
        lambda mt: _frame(_packed(mt[0]) + mt[1])  # a map with trailing bytes
    ),
    st.dictionaries(odd_text, values, max_size=3).map(_packed).map(_frame),  # a map (answered)
    st.integers(0, 2**32 - 1).map(lambda n: struct.pack(">I", n)),  # a bare length prefix
)


@FUZZ
@given(data=st.lists(chunks, min_size=1, max_size=4).map(b"".join))
def test_random_bytes_after_hello_are_answered_or_end_in_a_fatal_frame(server, data):
    """Bytes after a valid hello: whatever the server can frame it answers (a ``res``; id nil
    for a map that is not a request); at the first byte it cannot frame it sends one ``fatal``
    frame (FrameTooLarge or MalformedFrame, as the wire decoder says) and closes on its own. A
    frame still incomplete when the client half-closes is dropped. Never a hang, never a
    change, and the next connection is served."""
    oracle = wire.FrameDecoder(
        MAX_FRAME, max_depth=wire.MAX_DEPTH, bytes_per_value=wire.BYTES_PER_VALUE
    )
    try:
        oracle.feed(data)
        fatal = None
    except wire.FramingError as exc:
        fatal = exc.code
    with server.connect() as c:
        c.send_raw(data)
        if fatal is None:
            c.sock.shutdown(socket.SHUT_WR)  # else the server must close without our help
        got = c.read_to_eof()
    if fatal is not None:
        assert got and got[-1]["t"] == wire.FATAL, got
        assert got[-1]["e"]["code"] == fatal
        assert_error_shape(got[-1]["e"])
        got = got[:-1]
    for m in got:
        assert m["t"] == wire.RESPONSE, m
        assert "e" in m, m
        assert_error_shape(m["e"])
    server.assert_healthy()


@FUZZ
@given(data=st.lists(chunks, min_size=1, max_size=3).map(b"".join))
def test_random_bytes_instead_of_a_hello_end_the_connection(server, data):
    """The first frame must be a hello: anything else gets a fatal frame (HelloExpected,
    UnsupportedProtocolVersion or a framing error) and the connection closes; a frame that never
    completes closes with nothing when the client leaves. The server goes on."""
    with server.connect(hello=False) as c:
        c.send_raw(data)
        c.sock.shutdown(socket.SHUT_WR)
        got = c.read_to_eof()
    assert len(got) <= 1, got
    if got:
        m = got[0]
        if m["t"] == wire.WELCOME:  # hypothesis found a hello: fine
            pass
        else:
            assert m["t"] == wire.FATAL, m
            assert m["e"]["code"] in FRAMING_CODES | {
                "HelloExpected",
                "UnsupportedProtocolVersion",
            }
            assert_error_shape(m["e"])
    server.assert_healthy()


def _sentinel_send(server: Server) -> bytes:
    return wire.encode(
        {
            "t": "req",
            "id": 7,
            "svc": "sqs",
            "op": "SendMessage",
            "p": {"QueueUrl": server.sentinel_url, "MessageBody": "must never arrive" * 20},
        }
    )


HELLO_FRAME = wire.encode({"t": wire.HELLO, "v": wire.PROTOCOL_VERSION, "token": None})


@FUZZ
@given(cut=st.integers(0, 10**6), pieces=st.integers(1, 4), abort=st.booleans())
def test_truncated_frames_change_nothing(server, cut, pieces, abort):
    """A hello and a SendMessage to the sentinel queue, cut anywhere before the request's last
    byte (sent in a few writes), then the socket closed (FIN or RST): the request is never done
    and the server goes on."""
    stream = HELLO_FRAME + _sentinel_send(server)
    data = stream[: cut % len(stream)]
    c = server.connect(hello=False)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        c.send_raw(data[i : i + step])
    c.close(abort=abort)
    server.assert_healthy()


@FUZZ
@given(
    length=st.integers(MAX_FRAME + 1, 2**32 - 1) | st.sampled_from([MAX_FRAME + 1, 2**32 - 1]),
    tail=st.binary(max_size=64),
    after_hello=st.booleans(),
)
def test_oversized_frames_are_refused_at_their_length_prefix(server, length, tail, after_hello):
    """A length prefix over --max-frame is refused as soon as it arrives: a fatal
    FrameTooLarge, the connection closed by the server, nothing done."""
    with server.connect(hello=after_hello) as c:
        c.send_raw(struct.pack(">I", length) + tail)
        got = c.read_to_eof()
    assert len(got) == 1 and got[0]["t"] == wire.FATAL, got
    assert got[0]["e"]["code"] == "FrameTooLarge"
    assert str(length) in got[0]["e"]["message"]
    server.assert_healthy()


def _health_frame(size: int) -> bytes:
    """An admin Health request whose payload is exactly ``size`` bytes (padded with a parameter
    Health does not take: the answer is its refusal)."""
    pad = size - 50
    while True:
        frame = wire.encode(
            {"t": "req", "id": 1, "svc": "admin", "op": "Health", "p": {"pad": b"x" * pad}}
        )
        over = len(frame) - wire.HEADER_SIZE - size
        if over == 0:
            return frame
        pad -= over


def test_frame_of_exactly_max_frame_is_answered_and_one_byte_more_is_refused(server):
    with server.connect() as c:
        c.send_raw(_health_frame(MAX_FRAME))
        assert c.response(1)["e"]["code"] == "InvalidParameterValue"  # read, decoded, answered
        c.send_raw(_health_frame(MAX_FRAME + 1)[: wire.HEADER_SIZE + 100])
        got = c.read_to_eof()
    assert [m["t"] for m in got] == [wire.FATAL]
    assert got[0]["e"]["code"] == "FrameTooLarge"
    server.assert_healthy()


def test_a_whole_oversized_frame_still_gets_its_fatal_frame(server):
    """docs/protocol.md: a frame over the limit is refused with a fatal FrameTooLarge frame. A
    client normally sends the whole frame, not just its length prefix; it must still be told."""
    frame = _health_frame(MAX_FRAME + 4000)
    got: list[dict[str, Any]] | str
    with server.connect() as c:
        try:
            c.send_raw(frame)
            got = c.read_to_eof()
        except (ConnectionResetError, BrokenPipeError) as exc:
            got = repr(exc)
    assert isinstance(got, list) and [m["t"] for m in got] == [wire.FATAL], got
    assert got[0]["e"]["code"] == "FrameTooLarge"
    server.assert_healthy()


# ---------------------------------------------------------------------------------- mutated requests


def _expected_answers(msg: dict[str, Any]) -> tuple[Any, bool]:
    """(the id the answer carries, whether one comes) for one message sent after the hello."""
    t = msg.get("t")
    if t == wire.REQUEST:
        rid = msg.get("id")
        return (rid if type(rid) is int else None), True
    if t in ("done", "cancel"):  # a worker's reply / a cancel: answered by nothing
        return None, False
    return None, True


def _follow_up_id(msgs: list[dict[str, Any]]) -> int:
    used = {m.get("id") for m in msgs if type(m.get("id")) is int}
    rid = -1
    while rid in used:
        rid -= 1
    return rid


@pytest.fixture(scope="module")
def ops(server):
    with server.connect() as c:
        return c.welcome["ops"]


def _run_mutated(server: Server, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send ``msgs`` in one write plus a valid follow-up; check the answers; return them."""
    follow = _follow_up_id(msgs)
    expected: Counter = Counter()
    for m in msgs:
        rid, answered = _expected_answers(m)
        if answered:
            expected[rid] += 1
    data = b"".join(wire.encode(m) for m in msgs)
    assume(len(data) <= MAX_FRAME)
    with server.connect() as c:
        c.send_raw(
            data
            + wire.encode(
                {
                    "t": "req",
                    "id": follow,
                    "svc": "sqs",
                    "op": "GetQueueUrl",
                    "p": {"QueueName": SENTINEL},
                }
            )
        )
        got: list[dict[str, Any]] = []
        answer = c.response(follow, got)
        assert answer.get("r", {}).get("QueueUrl") == server.sentinel_url, answer
        while len(got) < sum(expected.values()):
            m = c.recv()
            assert m is not None, ("closed early", msgs, got)
            got.append(m)
        # one more round trip: no second answer to any request arrives in between
        again = follow - 1
        while again in expected:
            again -= 1
        c.send({"t": "req", "id": again, "svc": "admin", "op": "Version", "p": {}})
        c.response(again, got)
    for m in got:
        assert m.get("t") == wire.RESPONSE, m
        assert set(m) in ({"t", "id", "r"}, {"t", "id", "e"}), m
        if "e" in m:
            assert_error_shape(m["e"])
        else:
            assert isinstance(m["r"], dict), m
    assert Counter(m["id"] for m in got) == expected, (msgs, got)
    for m in got:
        if m["id"] is None:
            assert "e" in m, m
    assert server.proc.poll() is None, "the daemon exited"
    return got


def _internal(msgs: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    by_id = {m["id"]: m for m in msgs if m.get("t") == "req" and type(m.get("id")) is int}
    return [
        (by_id.get(r["id"]), r["e"])
        for r in got
        if "e" in r and r["e"].get("code") == "InternalFailure"
    ]


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_mutated_requests_get_exactly_one_answer_each(server, ops, data):
    """Valid requests mutated (keys dropped, values of other types and sizes, unknown keys,
    services and operations, ids that are not integers), framed correctly and pipelined on one
    connection: each request with an integer id gets exactly one ``res`` with that id carrying
    ``r`` or a well-formed ``e``; a message without one gets a ``res`` with id nil and an error;
    the connection stays usable (a follow-up on it is answered) and the daemon keeps running.
    The fuzz touches only fuzzmut-* resources: the sentinel stays as it was."""
    _ensure_mut_resources(server)
    msgs = data.draw(st.lists(mutated_request(server, ops), min_size=1, max_size=3))
    assume(not any(_waits(m) for m in msgs))
    ids = [m["id"] for m in msgs if m.get("t") == "req" and type(m.get("id")) is int]
    assume(len(ids) == len(set(ids)))
    got = _run_mutated(server, msgs)
    failures = _internal(msgs, got)
    server.internal_failures.extend(failures)
    assert not failures, f"InternalFailure (a broker validation gap): {failures}"
    server.assert_healthy()


# ---------------------------------------------------------------------------------- known defects

_Q = "https://sqs.us-east-1.amazonaws.com/000000000000/fuzzmut-q"
_TOPIC = "arn:aws:sns:us-east-1:000000000000:fuzzmut-t"
_STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/fuzzmut-s"
_ODD_FIELD = {"DataType": "String", "StringValue": "v", 1: "x"}
_LONE = {"DataType": "Binary", "BinaryValue": "\ud800"}
#: (defect, service, operation, parameters): the minimal requests of each known defect.
KNOWN_CASES = [
    (
        "sqs-attribute-field-names",
        "sqs",
        "SendMessage",
        {"QueueUrl": _Q, "MessageBody": "b", "MessageAttributes": {"a": _ODD_FIELD}},
    ),
    (
        "sqs-attribute-field-names",
        "sqs",
        "SendMessage",
        {
            "QueueUrl": _Q,
            "MessageBody": "b",
            "MessageSystemAttributes": {"AWSTraceHeader": _ODD_FIELD},
        },
    ),
    (
        "sqs-attribute-field-names",
        "sqs",
        "SendMessageBatch",
        {
            "QueueUrl": _Q,
            "Entries": [{"Id": "1", "MessageBody": "b", "MessageAttributes": {"a": _ODD_FIELD}}],
        },
    ),
    (
        "binary-value-surrogate",
        "sqs",
        "SendMessage",
        {"QueueUrl": _Q, "MessageBody": "b", "MessageAttributes": {"a": _LONE}},
    ),
    (
        "binary-value-surrogate",
        "sns",
        "Publish",
        {"TopicArn": _TOPIC, "Message": "m", "MessageAttributes": {"a": _LONE}},
    ),
    (
        "binary-value-surrogate",
        "sns",
        "PublishBatch",
        {
            "TopicArn": _TOPIC,
            "PublishBatchRequestEntries": [
                {"Id": "1", "Message": "m", "MessageAttributes": {"a": _LONE}}
            ],
        },
    ),
    (
        "reserved-concurrency-nil",
        "lambda",
        "PutFunctionConcurrency",
        {"FunctionName": "fuzzmut-f", "ReservedConcurrentExecutions": None},
    ),
    (
        "esm-destination-not-a-map",
        "lambda",
        "CreateEventSourceMapping",
        {
            "FunctionName": "fuzzmut-f",
            "EventSourceArn": _STREAM,
            "StartingPosition": "LATEST",
            "DestinationConfig": {"OnFailure": 1},
        },
    ),
    (
        "esm-destination-not-a-map",
        "lambda",
        "CreateEventSourceMapping",
        {
            "FunctionName": "fuzzmut-f",
            "EventSourceArn": _STREAM,
            "StartingPosition": "LATEST",
            "DestinationConfig": {"OnSuccess": "x"},
        },
    ),
    (
        "esm-destination-not-a-map",
        "lambda",
        "UpdateEventSourceMapping",
        {"UUID": "<kinesis mapping>", "DestinationConfig": {"OnFailure": 1}},
    ),
]


@pytest.mark.parametrize(
    "case", KNOWN_CASES, ids=[f"{name}-{op}" for name, _, op, _ in KNOWN_CASES]
)
def test_invalid_requests_the_fuzz_found_get_a_validation_error(server, case):
    """Minimal invalid requests the fuzz found answered InternalFailure (a Python exception in
    the broker) instead of the sender-fault validation error DESIGN promises."""
    _, svc, op, p = case
    assert (server.mut["q"], server.mut["topic"]) == (_Q, _TOPIC)
    with server.connect() as c:
        if p.get("UUID") == "<kinesis mapping>":
            made = c.call(
                "lambda",
                "CreateEventSourceMapping",
                {
                    "FunctionName": "fuzzmut-f",
                    "EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/fuzzmut-s",
                    "StartingPosition": "LATEST",
                    "Enabled": False,
                },
            )
            p = {**p, "UUID": made["UUID"]}
        c.send({"t": "req", "id": 5, "svc": svc, "op": op, "p": p})
        res = c.response(5)
    if op.endswith("Batch"):  # a batch refuses the bad entry, with its own code
        (failed,) = res["r"]["Failed"]
        assert not res["r"]["Successful"]
        assert failed["Code"] != "InternalFailure" and failed["SenderFault"] is True, failed
        return
    assert "e" in res, res
    assert_error_shape(res["e"])
    assert res["e"]["code"] != "InternalFailure", res["e"]
    assert res["e"]["sender_fault"] is True


@pytest.mark.parametrize("t", ["cancel", "done"])
def test_cancel_or_done_with_an_unhashable_id_leaves_the_connection_usable(server, t):
    with server.connect() as c:
        c.send({"t": t, "id": [1]})
        c.send({"t": "req", "id": 1, "svc": "admin", "op": "Version", "p": {}})
        res = c.recv()
    assert res is not None and res.get("id") == 1 and "r" in res, res
    server.assert_healthy()


# ---------------------------------------------------------------------------------- the log

_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ([\w.]+): (.*)$")


def _log_records(server: Server) -> list[str]:
    records: list[list[str]] = []
    for line in list(server.stderr):
        if _RECORD.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    return ["".join(r) for r in records]


def _traceback_kind(record: str) -> str | None:
    """None for a record without a traceback; else what it is: an internal failure the client
    was answered (fine), a known defect, or "unexplained"."""
    if "Traceback (most recent call last)" not in record:
        return None
    head = _RECORD.match(record.splitlines()[0])
    message = head.group(3).strip() if head else ""
    if message.startswith("internal failure in ") or re.fullmatch(r"request \S+ failed", message):
        return "internal failure"
    return "unexplained"


def _wait_for_records(server: Server, before: int, seconds: float) -> list[str]:
    """Log records after the first ``before``, once one with a traceback arrived or after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        new = _log_records(server)[before:]
        if any(_traceback_kind(r) for r in new):
            return new
        time.sleep(0.05)
    return _log_records(server)[before:]


@pytest.mark.parametrize("when", ["after the hello", "mid-frame"])
def test_a_client_that_resets_its_connection_is_not_logged_as_a_failure(server, when):
    before = len(_log_records(server))
    c = server.connect()
    if when == "mid-frame":
        c.send_raw(_sentinel_send(server)[:10])
    time.sleep(0.2)
    c.close(abort=True)
    new = _wait_for_records(server, before, 1.0)
    server.assert_healthy()
    assert [_traceback_kind(r) for r in new if _traceback_kind(r)] == []


def test_the_daemon_logged_tracebacks_only_for_internal_failures(server):
    """After all the fuzz, the daemon's log holds a traceback only where a request was answered
    InternalFailure (the broker logs the exception it turned into one) or for the known defects
    above (connection resets logged as failures; unhashable cancel/done ids). A traceback of
    anything else (a connection task that failed, an encoding error) is a defect."""
    server.assert_healthy()
    unexplained = [r for r in _log_records(server) if _traceback_kind(r) == "unexplained"]
    assert not unexplained, "\n".join(unexplained)
