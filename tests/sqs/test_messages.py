"""SendMessage / ReceiveMessage through the boto3-shaped client, on the virtual clock.

Each test states the AWS behaviour it checks (AWS SQS API reference / developer guide).

Every test names ``autojump_clock`` itself: pytest-trio hands trio.run only a clock that is one of
the test function's own arguments, not one that a fixture (``broker``) depends on.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from sqs_helpers import counts

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError
from msgsim.broker.sqs.message import first_forbidden_char

DAY = 86_400


# --- independent reference implementations -------------------------------------------------------


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def md5_of_attributes(attributes: dict[str, dict]) -> str:
    """MD5OfMessageAttributes as AWS computes it: names sorted; for each attribute the 4-byte
    big-endian length and bytes of the name, the same for DataType, one transport byte
    (1 = String/Number, 2 = Binary), then the 4-byte length and bytes of the value."""

    def field(raw: bytes) -> bytes:
        return struct.pack(">I", len(raw)) + raw

    buf = bytearray()
    for name in sorted(attributes):
        attr = attributes[name]
        data_type = attr["DataType"]
        buf += field(name.encode("utf-8"))
        buf += field(data_type.encode("utf-8"))
        if data_type.split(".", 1)[0] == "Binary":
            buf += b"\x02"
            buf += field(bytes(attr["BinaryValue"]))
        else:
            buf += b"\x01"
            buf += field(attr["StringValue"].encode("utf-8"))
    return hashlib.md5(bytes(buf)).hexdigest()


def s(value: str, data_type: str = "String") -> dict:
    return {"DataType": data_type, "StringValue": value}


def b(value: bytes, data_type: str = "Binary") -> dict:
    return {"DataType": data_type, "BinaryValue": value}


async def make_queue(sqs, name: str = "q", **attributes: str) -> str:
    return (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]


async def receive_all(sqs, url: str, **kwargs) -> list[dict]:
    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs)
    return r.get("Messages", [])


def test_reference_md5_of_attributes_matches_a_hand_built_buffer():
    """Guards the reference implementation itself against a byte layout worked out by hand."""
    raw = (
        b"\x00\x00\x00\x01a" + b"\x00\x00\x00\x06String" + b"\x01" + b"\x00\x00\x00\x01x"
        b"\x00\x00\x00\x01b" + b"\x00\x00\x00\x06Binary" + b"\x02" + b"\x00\x00\x00\x02\x00\xff"
    )
    expected = hashlib.md5(raw).hexdigest()
    assert md5_of_attributes({"b": b(b"\x00\xff"), "a": s("x")}) == expected


def test_reference_md5_of_attributes_matches_published_digests():
    """Known answers published by independent SQS client libraries' test suites."""
    assert (
        md5_of_attributes({"ordinal": s("1", "Number"), "category": s("test")})
        == "d21ae90c49061e927f57df5f5d72be1f"
    )
    assert md5_of_attributes({"SellerName": s("Example Store")}) == (
        "cd28f3b68aeee4b2eac9c66f2f694b58"
    )


# --- basics ---------------------------------------------------------------------------------------


async def test_send_then_receive_returns_body_ids_and_md5(autojump_clock, sqs):
    """AWS: SendMessage returns MessageId and MD5OfMessageBody (hex MD5 of the UTF-8 body); the
    received message carries the same MessageId, Body, MD5OfBody and a ReceiptHandle."""
    url = await make_queue(sqs)
    sent = await sqs.send_message(QueueUrl=url, MessageBody="hello world")
    assert sent["MD5OfMessageBody"] == md5_of_body("hello world")
    assert "MD5OfMessageAttributes" not in sent
    got = await sqs.receive_message(QueueUrl=url)
    [m] = got["Messages"]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == "hello world"
    assert m["MD5OfBody"] == md5_of_body("hello world")
    assert isinstance(m["ReceiptHandle"], str) and m["ReceiptHandle"]
    assert "MessageAttributes" not in m
    assert "Attributes" not in m


async def test_receive_from_empty_queue_has_no_messages_key(autojump_clock, sqs):
    """AWS/boto3: an empty receive has no Messages key."""
    url = await make_queue(sqs)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)


async def test_messages_are_received_once_each_in_send_order_by_default(autojump_clock, sqs):
    """msgsim's default exact mode on a standard queue: each message once, in send order;
    MaxNumberOfMessages defaults to 1."""
    url = await make_queue(sqs)
    ids = [
        (await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}"))["MessageId"] for i in range(12)
    ]
    assert len(set(ids)) == 12
    one = await sqs.receive_message(QueueUrl=url)
    assert [m["Body"] for m in one["Messages"]] == ["m0"]
    ten = await receive_all(sqs, url)
    assert [m["Body"] for m in ten] == [f"m{i}" for i in range(1, 11)]
    rest = await receive_all(sqs, url)
    assert [m["MessageId"] for m in rest] == [ids[11]]


async def test_each_receive_mints_a_new_receipt_handle(autojump_clock, sqs):
    """AWS: every time a message is received it gets a different receipt handle."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    first = (await sqs.receive_message(QueueUrl=url, VisibilityTimeout=0))["Messages"][0]
    second = (await sqs.receive_message(QueueUrl=url))["Messages"][0]
    assert first["MessageId"] == second["MessageId"]
    assert first["ReceiptHandle"] != second["ReceiptHandle"]


@pytest.mark.parametrize("n", [0, 11, -1])
async def test_max_number_of_messages_outside_1_to_10_is_rejected(autojump_clock, sqs, n):
    """AWS: MaxNumberOfMessages must be 1-10 (InvalidParameterValue); nothing is received."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    with pytest.raises(BrokerError) as e:
        await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n)
    assert e.value.code == "InvalidParameterValue"
    assert "MaxNumberOfMessages" in e.value.message
    assert await counts(sqs, url) == (1, 0, 0)


async def test_missing_message_body_is_missing_parameter(autojump_clock, sqs):
    """AWS: MessageBody is required."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url)
    assert e.value.code == "MissingParameter"
    assert "MessageBody" in e.value.message


async def test_empty_message_body_is_rejected(autojump_clock, sqs):
    """AWS: an empty body fails with MissingParameter ("The request must contain the parameter
    MessageBody"); nothing is enqueued."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="")
    assert e.value.code == "MissingParameter"
    assert await counts(sqs, url) == (0, 0, 0)


# --- body characters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["a\x00b", "bell\x08", "unit\x1fsep", "x\ufffe", "x\uffff", "\x0b", "\x0c", "\ud800"],
)
async def test_characters_outside_the_allowed_set_are_invalid_message_contents(
    autojump_clock, sqs, body
):
    """AWS: a body may contain only #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF;
    anything else is InvalidMessageContents and nothing is enqueued."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody=body)
    assert e.value.code == "InvalidMessageContents"
    assert await counts(sqs, url) == (0, 0, 0)


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_first_forbidden_char_agrees_with_the_allowed_ranges(body):
    """AWS's allowed set (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF) decides, also
    on the ASCII shortcut: DEL is allowed, the other C0 controls are not."""
    model = next((c for c in body if not _aws_allowed(c)), None)
    assert first_forbidden_char(body) == model


def _aws_allowed(c: str) -> bool:
    o = ord(c)
    return (
        o in (0x9, 0xA, 0xD)
        or 0x20 <= o <= 0xD7FF
        or 0xE000 <= o <= 0xFFFD
        or 0x10000 <= o <= 0x10FFFF
    )


@pytest.mark.parametrize(
    "body",
    [
        "tab\there\nnewline\rreturn",
        "emoji \U0001f600 ok",
        "\ud7ff\ue000\ufffd",
        "\U00010000\U0010ffff",
        "caf\u00e9 \u65e5\u672c",
        " ",
        "delete \x7f is allowed",
    ],
)
async def test_allowed_characters_round_trip_with_matching_md5(autojump_clock, sqs, body):
    """AWS: tab, newline, carriage return and all other allowed code points (including emoji
    beyond the BMP) are accepted and returned unchanged; MD5 is over the UTF-8 bytes."""
    url = await make_queue(sqs)
    sent = await sqs.send_message(QueueUrl=url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_of_body(body)
    [m] = (await sqs.receive_message(QueueUrl=url))["Messages"]
    assert m["Body"] == body
    assert m["MD5OfBody"] == md5_of_body(body)


# --- message attributes ---------------------------------------------------------------------------


async def test_message_attributes_of_every_type_round_trip_with_aws_md5(autojump_clock, sqs):
    """AWS: String, Number and Binary attributes, including custom type labels such as
    Number.float, String.custom and Binary.gif, come back unchanged; MD5OfMessageAttributes on
    send and receive is AWS's digest of the attributes."""
    url = await make_queue(sqs)
    attrs = {
        "name": s("Ada"),
        "count": s("42", "Number"),
        "ratio": s("-1.5e3", "Number.float"),
        "label": s("x", "String.custom"),
        "blob": b(b"\x00\x01\xfe\xff"),
        "image": b(b"GIF89a", "Binary.gif"),
        "unicode": s("\u65e5\u672c \U0001f600"),
    }
    sent = await sqs.send_message(QueueUrl=url, MessageBody="body", MessageAttributes=attrs)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs)
    assert sent["MD5OfMessageBody"] == md5_of_body("body")

    [m] = (await sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]))["Messages"]
    got = m["MessageAttributes"]
    assert set(got) == set(attrs)
    for name, attr in attrs.items():
        assert got[name]["DataType"] == attr["DataType"], name
        if "BinaryValue" in attr:
            assert bytes(got[name]["BinaryValue"]) == attr["BinaryValue"], name
        else:
            assert got[name]["StringValue"] == attr["StringValue"], name
    assert m["MD5OfMessageAttributes"] == md5_of_attributes(attrs)


async def test_md5_of_attributes_does_not_depend_on_the_order_given(autojump_clock, sqs):
    """AWS sorts attribute names before hashing, so insertion order does not matter."""
    url = await make_queue(sqs)
    a = {"zeta": s("1", "Number"), "alpha": s("a"), "Mid": b(b"m")}
    reordered = {k: a[k] for k in ("Mid", "alpha", "zeta")}
    r1 = await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=a)
    r2 = await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=reordered)
    assert r1["MD5OfMessageAttributes"] == r2["MD5OfMessageAttributes"] == md5_of_attributes(a)


async def test_ten_message_attributes_are_allowed_eleven_are_not(autojump_clock, sqs):
    """AWS: a message can carry at most 10 message attributes (InvalidParameterValue beyond)."""
    url = await make_queue(sqs)
    ten = {f"a{i}": s(str(i)) for i in range(10)}
    await sqs.send_message(QueueUrl=url, MessageBody="ok", MessageAttributes=ten)
    eleven = {**ten, "a10": s("10")}
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="no", MessageAttributes=eleven)
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (1, 0, 0)


@pytest.mark.parametrize(
    "name",
    [
        "AWS.thing",
        "aws.thing",
        "Amazon.thing",
        "AMAZON.thing",
        ".leading",
        "trailing.",
        "double..dot",
        "has space",
        "bad$char",
        "slash/",
        "x" * 257,
    ],
)
async def test_invalid_message_attribute_names_are_rejected(autojump_clock, sqs, name):
    """AWS: attribute names are up to 256 chars of [A-Za-z0-9_.-], must not start with AWS. or
    Amazon. (any case), and must not start or end with a dot or contain two dots in a row."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={name: s("v")})
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (0, 0, 0)


@pytest.mark.parametrize("name", ["a", "A-b_c.d", "awsome", "amazonian", "x" * 256, "v1.2.3"])
async def test_valid_message_attribute_names_are_accepted(autojump_clock, sqs, name):
    """AWS: names made of allowed characters are accepted, including ones merely starting with
    'aws'/'amazon' without the dot."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={name: s("v")})
    [m] = (await sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]))["Messages"]
    assert m["MessageAttributes"][name]["StringValue"] == "v"


@pytest.mark.parametrize(
    "attr",
    [
        {"DataType": "Text", "StringValue": "x"},  # unknown base type
        {"DataType": "", "StringValue": "x"},
        {"DataType": "Number", "StringValue": "forty-two"},
        {"DataType": "String", "StringValue": ""},  # values must not be empty
        {"DataType": "String"},  # no value
        {"DataType": "Binary", "StringValue": "not binary"},
        {"StringValue": "no type"},
    ],
)
async def test_malformed_message_attribute_values_are_rejected(autojump_clock, sqs, attr):
    """AWS: DataType must be String, Number or Binary (optionally with a .label); the value must be
    present, non-empty, of the matching kind, and a Number must be numeric."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={"attr": attr})
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (0, 0, 0)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1" * 38, True),
        ("-0.000" + "9" * 38, True),
        ("1e10", True),
        ("1" * 39, False),
        ("1." + "2" * 38, False),
    ],
)
async def test_number_attributes_hold_up_to_38_digits_of_precision(autojump_clock, sqs, value, ok):
    """AWS: a Number attribute can have up to 38 digits of precision; more is
    InvalidParameterValue."""
    url = await make_queue(sqs)
    attrs = {"n": s(value, "Number")}
    if ok:
        await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
        [m] = (await sqs.receive_message(QueueUrl=url, MessageAttributeNames=["n"]))["Messages"]
        assert m["MessageAttributes"]["n"]["StringValue"] == value
    else:
        with pytest.raises(BrokerError) as e:
            await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
        assert e.value.code == "InvalidParameterValue"
        assert await counts(sqs, url) == (0, 0, 0)


ATTRS_FOR_FILTERING = {
    "foo.a": s("1"),
    "foo.b": s("2"),
    "foobar": s("3"),
    "bar": s("4", "Number"),
    "Bar": b(b"5"),
}


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (["All"], set(ATTRS_FOR_FILTERING)),
        ([".*"], set(ATTRS_FOR_FILTERING)),
        (["bar"], {"bar"}),
        (["Bar"], {"Bar"}),
        (["foo.*"], {"foo.a", "foo.b"}),
        (["foo.a", "bar"], {"foo.a", "bar"}),
        (["nothing-matches"], set()),
        ([], set()),
        (None, set()),
    ],
)
async def test_message_attribute_names_select_what_is_returned(
    autojump_clock, sqs, requested, expected
):
    """AWS: MessageAttributeNames returns all attributes for "All" or ".*", exact (case-sensitive)
    names, or every name starting with a prefix given as "prefix.*"; nothing when not asked.
    MD5OfMessageAttributes covers the attributes returned."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=ATTRS_FOR_FILTERING)
    kwargs = {} if requested is None else {"MessageAttributeNames": requested}
    [m] = (await sqs.receive_message(QueueUrl=url, **kwargs))["Messages"]
    got = m.get("MessageAttributes", {})
    assert set(got) == expected
    if expected:
        subset = {k: ATTRS_FOR_FILTERING[k] for k in expected}
        assert m["MD5OfMessageAttributes"] == md5_of_attributes(subset)


# --- system attributes ----------------------------------------------------------------------------


@pytest.mark.parametrize("parameter", ["MessageSystemAttributeNames", "AttributeNames"])
async def test_system_attributes_all(autojump_clock, sqs, parameter):
    """AWS: asking for All system attributes (via MessageSystemAttributeNames, or the older
    AttributeNames) returns SentTimestamp and ApproximateFirstReceiveTimestamp in epoch
    milliseconds, ApproximateReceiveCount and SenderId, all as strings."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    await trio.sleep(5)
    [m] = (await sqs.receive_message(QueueUrl=url, **{parameter: ["All"]}))["Messages"]
    a = m["Attributes"]
    assert {
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SenderId",
    } <= set(a)
    assert all(isinstance(v, str) for v in a.values())
    assert a["ApproximateReceiveCount"] == "1"
    assert a["SenderId"]
    sent, first = int(a["SentTimestamp"]), int(a["ApproximateFirstReceiveTimestamp"])
    assert 1_000_000_000_000 < sent < 10_000_000_000_000  # milliseconds, not seconds
    assert abs((first - sent) - 5_000) <= 1
    assert "AWSTraceHeader" not in a


@pytest.mark.parametrize("parameter", ["MessageSystemAttributeNames", "AttributeNames"])
async def test_system_attributes_by_name_return_only_those(autojump_clock, sqs, parameter):
    """AWS: naming system attributes returns only the named ones."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    [m] = (await sqs.receive_message(QueueUrl=url, **{parameter: ["SentTimestamp"]}))["Messages"]
    assert set(m["Attributes"]) == {"SentTimestamp"}


async def test_receive_count_grows_and_first_receive_timestamp_stays(autojump_clock, sqs):
    """AWS: ApproximateReceiveCount counts receives; ApproximateFirstReceiveTimestamp is the time
    of the first receive and does not change on later ones."""
    url = await make_queue(sqs, VisibilityTimeout="10")
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    names = ["ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SentTimestamp"]
    seen = []
    for _ in range(3):
        [m] = (await sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=names))[
            "Messages"
        ]
        seen.append(m["Attributes"])
        await trio.sleep(11)
    assert [a["ApproximateReceiveCount"] for a in seen] == ["1", "2", "3"]
    assert len({a["ApproximateFirstReceiveTimestamp"] for a in seen}) == 1
    assert len({a["SentTimestamp"] for a in seen}) == 1


async def test_aws_trace_header_system_attribute_round_trips(autojump_clock, sqs):
    """AWS: MessageSystemAttributes may carry AWSTraceHeader (String); SendMessage returns
    MD5OfMessageSystemAttributes (same digest scheme as message attributes) and the header is
    returned as the AWSTraceHeader system attribute."""
    url = await make_queue(sqs)
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    system = {"AWSTraceHeader": s(trace)}
    sent = await sqs.send_message(QueueUrl=url, MessageBody="x", MessageSystemAttributes=system)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(system)
    assert "MD5OfMessageAttributes" not in sent
    [m] = (await sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"]))[
        "Messages"
    ]
    assert m["Attributes"] == {"AWSTraceHeader": trace}
    assert "MessageAttributes" not in m


async def test_only_aws_trace_header_is_a_settable_system_attribute(autojump_clock, sqs):
    """AWS: AWSTraceHeader is currently the only supported message system attribute."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(
            QueueUrl=url, MessageBody="x", MessageSystemAttributes={"SenderId": s("me")}
        )
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (0, 0, 0)


# --- size limit -----------------------------------------------------------------------------------


async def test_body_exactly_at_maximum_message_size_is_accepted_one_byte_over_rejected(
    autojump_clock, sqs
):
    """AWS: a message may be up to MaximumMessageSize bytes; one byte more is InvalidParameterValue
    and nothing is enqueued."""
    url = await make_queue(sqs, MaximumMessageSize="1024")
    await sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (1, 0, 0)


async def test_size_counts_utf8_bytes_not_characters(autojump_clock, sqs):
    """AWS measures the message in bytes: 512 two-byte characters fill a 1024-byte limit."""
    url = await make_queue(sqs, MaximumMessageSize="1024")
    await sqs.send_message(QueueUrl=url, MessageBody="\u00e9" * 512)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="\u00e9" * 512 + "a")
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (1, 0, 0)


async def test_size_includes_attribute_names_types_and_values(autojump_clock, sqs):
    """AWS: the size limit covers body plus every attribute's name, data type and value."""
    url = await make_queue(sqs, MaximumMessageSize="1024")
    attrs = {"key": s("value"), "bin": b(b"\x00" * 10, "Binary.raw")}
    extra = len("key") + len("String") + len("value") + len("bin") + len("Binary.raw") + 10
    await sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 - extra), MessageAttributes=attrs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(
            QueueUrl=url, MessageBody="x" * (1024 - extra + 1), MessageAttributes=attrs
        )
    assert e.value.code == "InvalidParameterValue"
    assert await counts(sqs, url) == (1, 0, 0)


async def test_default_maximum_message_size_is_256_kib(autojump_clock, sqs):
    """msgsim's default MaximumMessageSize is 262,144 bytes (the contract pins the classic AWS
    default): exactly that is accepted, one byte more is refused."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x" * 262_144)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x" * 262_145)
    assert e.value.code == "InvalidParameterValue"


async def test_raised_maximum_message_size_of_one_mib_is_accepted(autojump_clock, sqs):
    """AWS: MaximumMessageSize can be raised to 1,048,576 bytes; a 1 MiB message then goes through
    intact, and one byte more is still refused."""
    url = await make_queue(sqs, MaximumMessageSize="1048576")
    body = "y" * 1_048_576
    sent = await sqs.send_message(QueueUrl=url, MessageBody=body)
    [m] = (await sqs.receive_message(QueueUrl=url))["Messages"]
    assert m["Body"] == body
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"] == md5_of_body(body)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody=body + "y")
    assert e.value.code == "InvalidParameterValue"


async def test_trace_header_does_not_count_towards_the_size_limit(autojump_clock, sqs):
    """AWS: message system attributes (AWSTraceHeader) are not part of the message size."""
    url = await make_queue(sqs, MaximumMessageSize="1024")
    await sqs.send_message(
        QueueUrl=url,
        MessageBody="x" * 1024,
        MessageSystemAttributes={"AWSTraceHeader": s("Root=1-00000000-000000000000000000000000")},
    )
    assert await counts(sqs, url) == (1, 0, 0)


# --- delays ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [-1, 901])
async def test_per_message_delay_outside_0_to_900_is_rejected(autojump_clock, sqs, delay):
    """AWS: DelaySeconds on SendMessage must be 0-900."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=delay)
    assert e.value.code == "InvalidParameterValue"
    assert "DelaySeconds" in e.value.message
    assert await counts(sqs, url) == (0, 0, 0)


async def test_per_message_delay_hides_the_message_until_it_ends(autojump_clock, sqs):
    """AWS: a message sent with DelaySeconds is invisible (counted as Delayed) for that long."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=900)
    assert await counts(sqs, url) == (0, 0, 1)
    await trio.sleep(899)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)
    assert await counts(sqs, url) == (0, 0, 1)
    await trio.sleep(2)
    assert await counts(sqs, url) == (1, 0, 0)
    [m] = (await sqs.receive_message(QueueUrl=url))["Messages"]
    assert m["Body"] == "late"


async def test_queue_delay_applies_when_the_message_gives_none(autojump_clock, sqs):
    """AWS: a queue's DelaySeconds delays every message that does not set its own."""
    url = await make_queue(sqs, DelaySeconds="20")
    await sqs.send_message(QueueUrl=url, MessageBody="q-delayed")
    assert await counts(sqs, url) == (0, 0, 1)
    await trio.sleep(19)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)
    await trio.sleep(2)
    [m] = (await sqs.receive_message(QueueUrl=url))["Messages"]
    assert m["Body"] == "q-delayed"


async def test_per_message_delay_overrides_queue_delay_on_standard_queue(autojump_clock, sqs):
    """AWS: on a standard queue a message's DelaySeconds (even 0) overrides the queue default."""
    url = await make_queue(sqs, DelaySeconds="600")
    await sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
    await sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=5)
    assert await counts(sqs, url) == (1, 0, 1)
    assert [m["Body"] for m in await receive_all(sqs, url)] == ["now"]
    await trio.sleep(6)
    assert [m["Body"] for m in await receive_all(sqs, url)] == ["soon"]


async def test_long_poll_returns_a_delayed_message_once_its_delay_ends(autojump_clock, sqs):
    """AWS: a long poll waits up to WaitTimeSeconds and returns as soon as a message becomes
    available, e.g. when a delay ends."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="wait for me", DelaySeconds=10)
    start = trio.current_time()
    r = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    assert [m["Body"] for m in r["Messages"]] == ["wait for me"]
    assert 10 <= trio.current_time() - start < 20


# --- retention ------------------------------------------------------------------------------------


async def test_unreceived_message_expires_after_retention_period(autojump_clock, sqs):
    """AWS: a message not deleted within MessageRetentionPeriod is deleted by SQS, even if it was
    never received; it leaves the counts too."""
    url = await make_queue(sqs, MessageRetentionPeriod="60")
    await sqs.send_message(QueueUrl=url, MessageBody="short-lived")
    await trio.sleep(50)
    assert await counts(sqs, url) == (1, 0, 0)
    await trio.sleep(20)
    assert await counts(sqs, url) == (0, 0, 0)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)


async def test_inflight_message_expires_after_retention_period(autojump_clock, sqs):
    """AWS: retention counts from the send, so an in-flight message also expires and does not
    come back when its visibility timeout ends."""
    url = await make_queue(sqs, MessageRetentionPeriod="60", VisibilityTimeout="300")
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    assert len(await receive_all(sqs, url)) == 1
    await trio.sleep(61)
    assert await counts(sqs, url) == (0, 0, 0)
    await trio.sleep(300)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)


async def test_default_retention_is_four_days(autojump_clock, sqs):
    """AWS: the default MessageRetentionPeriod is 345,600 s (4 days)."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    await trio.sleep(4 * DAY - 60)
    assert await counts(sqs, url) == (1, 0, 0)
    await trio.sleep(120)
    assert await counts(sqs, url) == (0, 0, 0)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)


async def test_fourteen_day_retention_on_the_virtual_clock(autojump_clock, sqs):
    """AWS: the longest retention is 1,209,600 s (14 days): the message is there just before and
    gone just after, and the two weeks pass in virtual time."""
    url = await make_queue(sqs, MessageRetentionPeriod="1209600")
    sent = await sqs.send_message(QueueUrl=url, MessageBody="fortnight")
    await trio.sleep(14 * DAY - 60)
    [m] = (await sqs.receive_message(QueueUrl=url, VisibilityTimeout=10))["Messages"]
    assert m["MessageId"] == sent["MessageId"]
    await trio.sleep(120)
    assert await counts(sqs, url) == (0, 0, 0)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)


# --- determinism ----------------------------------------------------------------------------------


async def _script(sqs) -> list[str]:
    """A fixed sequence of calls; returns every id and handle it saw."""
    out = []
    url = (await sqs.create_queue(QueueName="det"))["QueueUrl"]
    for i in range(3):
        out.append((await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}"))["MessageId"])
    batch = await sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": f"b{i}"} for i in range(2)]
    )
    out.extend(e["MessageId"] for e in batch["Successful"])
    for m in (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]:
        out.extend([m["MessageId"], m["ReceiptHandle"]])
    return out


async def test_same_seed_gives_identical_message_ids_and_receipt_handles(autojump_clock):
    """msgsim determinism: two brokers with the same seed, given the same calls at the same
    virtual times, produce byte-identical MessageIds and ReceiptHandles."""
    async with Broker.open(seed=42) as b1, Broker.open(seed=42) as b2:
        sqs1 = InProcessClient(b1).client("sqs")
        sqs2 = InProcessClient(b2).client("sqs")
        run1 = await _script(sqs1)
        run2 = await _script(sqs2)
    assert len(run1) == 15
    assert run1 == run2
    # Five distinct MessageIds (each seen at send and at receive) and five distinct handles.
    assert len(set(run1)) == 10


async def test_different_seeds_give_different_ids(autojump_clock):
    """msgsim determinism: the ids come from the seeded RNG, so another seed gives other ids."""
    async with Broker.open(seed=1) as b1, Broker.open(seed=2) as b2:
        run1 = await _script(InProcessClient(b1).client("sqs"))
        run2 = await _script(InProcessClient(b2).client("sqs"))
    assert set(run1).isdisjoint(run2)


async def test_message_expires_exactly_at_sent_time_plus_retention(autojump_clock, sqs):
    """AWS: a message is deleted once it has been in the queue for MessageRetentionPeriod. At the
    exact instant sent_at + retention it is gone (no floating-point reprieve)."""
    url = (await sqs.create_queue(QueueName="edge", Attributes={"MessageRetentionPeriod": "60"}))[
        "QueueUrl"
    ]
    await trio.sleep(0.7652070772182651)  # an offset where (t + 60) - 60 < t in floating point
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    sent = trio.current_time()
    await trio.sleep_until(sent + 60)
    assert await counts(sqs, url) == (0, 0, 0)
