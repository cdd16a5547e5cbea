"""The notification envelope is hand-assembled for speed: it must always be valid JSON that
parses back to exactly the published fields (AWS's Notification document)."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from msgsim.broker.sns.envelope import Signer
from msgsim.broker.sns.model import Published

texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
attributes = st.dictionaries(
    names,
    st.one_of(
        st.builds(lambda v: {"DataType": "String", "StringValue": v}, texts),
        st.builds(
            lambda t, v: {"DataType": "String." + t, "StringValue": v},
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8),
            texts,
        ),
        st.builds(
            lambda v: {"DataType": "Binary", "BinaryValue": v}, st.binary(min_size=1, max_size=8)
        ),
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    message=texts,
    subject=st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1),
    attrs=attributes,
    sequence=st.none() | st.just("10000000000000000001"),
)
def test_envelope_is_json_with_exactly_the_published_fields(message, subject, attrs, sequence):
    signer = Signer("us-east-1", b"k" * 16)
    topic = "arn:aws:sns:us-east-1:000000000000:t"
    pub = Published(
        "0f8e3c1a-1111-4222-8333-444455556666",
        topic,
        message,
        subject,
        attrs or None,
        "2025-01-01T00:00:00.000Z",
        sequence_number=sequence,
    )
    sub = topic + ":5d5a0b8e-aaaa-4bbb-8ccc-dddddddddddd"
    doc = json.loads(signer.notification(pub, "sqs", sub))
    expected_keys = ["Type", "MessageId"]
    expected_keys += ["SequenceNumber"] if sequence else []
    expected_keys += ["TopicArn"] + (["Subject"] if subject is not None else [])
    expected_keys += ["Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"]
    expected_keys += ["UnsubscribeURL"] + (["MessageAttributes"] if attrs else [])
    assert list(doc) == expected_keys
    assert doc["Message"] == message and doc.get("Subject") == subject
    assert doc["UnsubscribeURL"].endswith("SubscriptionArn=" + sub)
    assert len(base64.b64decode(doc["Signature"])) == 256
    for name, attr in attrs.items():
        got = doc["MessageAttributes"][name]
        assert got["Type"] == attr["DataType"]
        if "BinaryValue" in attr:
            assert base64.b64decode(got["Value"]) == attr["BinaryValue"]
        else:
            assert got["Value"] == attr["StringValue"]
