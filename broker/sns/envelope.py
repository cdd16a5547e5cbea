"""The JSON documents SNS sends: notifications, subscription and unsubscribe confirmations.

Field order and formatting follow what AWS sends (two-space indent, ``"Key" : value``), so a
consumer that parses the JSON sees AWS's shape: ``Type``, ``MessageId``, ``SequenceNumber``
(FIFO), ``TopicArn``, ``Subject`` (only when given), ``Message``, ``Timestamp``,
``SignatureVersion``, ``Signature``, ``SigningCertURL``, ``UnsubscribeURL`` and
``MessageAttributes`` (``{name: {"Type", "Value"}}``, binary values in base64).

``Signature`` is base64 text of the length an RSA-2048 signature has, derived from the fields
AWS signs; it is deterministic but not verifiable against AWS's certificate (this is a
simulator: there is no AWS private key to sign with).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from .model import Published

_SEP = (",", " : ")


#: A JSON string literal, non-ASCII kept as is (the C encoder json.dumps uses for a str).
_dumps = encode_basestring


def iso_ms(wall: float) -> str:
    """AWS's notification timestamp: ISO 8601 in UTC with milliseconds, e.g.
    ``2025-01-01T00:00:00.000Z``."""
    second = math.floor(wall)
    ms = int((wall - second) * 1000)
    if second != _last_second[0]:
        stamp = datetime.fromtimestamp(second, UTC)
        _last_second[0] = second
        _last_second[1] = stamp.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{_last_second[1]}{ms:03d}Z"


_last_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def signature(string_to_sign: str, secret: bytes) -> str:
    """A 256-byte signature-shaped value over AWS's string to sign (name, newline, value,
    newline for each signed field, in AWS's order), in base64."""
    digest = hashlib.sha256(secret + string_to_sign.encode()).digest()
    return base64.b64encode(digest * 8).decode()


def _attribute_pairs(attributes: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(name, Type, Value) of each message attribute as a notification shows it (binary values
    in base64)."""
    out = []
    for name, attr in attributes.items():
        value = attr.get("StringValue")
        if value is None:
            value = base64.b64encode(attr["BinaryValue"]).decode()
        out.append((name, attr["DataType"], value))
    return out


def _attributes_json(attributes: dict[str, dict[str, Any]]) -> str:
    """``{\n    "name" : {"Type":"String","Value":"v"},...\n  }`` as AWS lays it out. (Names
    are validated to ASCII without quotes or backslashes: no escaping.)"""
    parts = [
        f'    "{name}" : {{"Type":{_dumps(data_type)},"Value":{_dumps(value)}}}'
        for name, data_type, value in _attribute_pairs(attributes)
    ]
    return "{\n" + ",\n".join(parts) + "\n  }"


class Signer:
    """Signs and formats documents for one broker (one region)."""

    def __init__(self, region: str, secret: bytes) -> None:
        self.region = region
        self.secret = secret
        cert = hashlib.sha256(secret).hexdigest()[:32]
        self.cert_url = f"https://sns.{region}.amazonaws.com/SimpleNotificationService-{cert}.pem"
        self.endpoint = f"https://sns.{region}.amazonaws.com/"

    def unsubscribe_url(self, subscription_arn: str) -> str:
        return f"{self.endpoint}?Action=Unsubscribe&SubscriptionArn={subscription_arn}"

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return f"{self.endpoint}?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}"

    # ------------------------------------------------------------------ notifications
    def notification(self, pub: Published, protocol: str, subscription_arn: str) -> str:
        """The notification JSON for one subscriber. Everything but the UnsubscribeURL is the
        same for every subscriber of a protocol, so it is formatted once per message and
        protocol and the subscriber's URL spliced in."""
        heads = pub._envelope_head
        if heads is None:
            heads = pub._envelope_head = {}
        parts = heads.get(protocol)
        if parts is None:
            parts = heads[protocol] = self._notification_parts(pub, protocol)
        head, tail = parts
        return (
            f'{head}"{self.endpoint}?Action=Unsubscribe&SubscriptionArn={subscription_arn}"{tail}'
        )

    def _sign_notification(self, pub: Published, text: str) -> str:
        signed = f"Message\n{text}\nMessageId\n{pub.message_id}\n"
        if pub.subject is not None:
            signed += f"Subject\n{pub.subject}\n"
        signed += f"Timestamp\n{pub.timestamp}\nTopicArn\n{pub.topic_arn}\nType\nNotification\n"
        return signature(signed, self.secret)

    def lambda_notification(self, pub: Published, subscription_arn: str) -> dict[str, Any]:
        """The ``Sns`` object of the event Lambda receives: the notification's fields in AWS's
        order, spelt SigningCertUrl and UnsubscribeUrl, with a null Subject and an empty
        MessageAttributes when the message had none."""
        text = pub.text_for("lambda")
        return {
            "Type": "Notification",
            "MessageId": pub.message_id,
            "TopicArn": pub.topic_arn,
            "Subject": pub.subject,
            "Message": text,
            "Timestamp": pub.timestamp,
            "SignatureVersion": "1",
            "Signature": self._sign_notification(pub, text),
            "SigningCertUrl": self.cert_url,
            "UnsubscribeUrl": (
                f"{self.endpoint}?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
            ),
            "MessageAttributes": {
                name: {"Type": data_type, "Value": value}
                for name, data_type, value in _attribute_pairs(pub.attributes or {})
            },
        }

    def _notification_parts(self, pub: Published, protocol: str) -> tuple[str, str]:
        text = pub.text_for(protocol)
        q = _dumps
        subject = pub.subject
        sig = self._sign_notification(pub, text)
        # Ids, ARNs, timestamps and URLs are ASCII without quotes or backslashes: no escaping.
        head = f'{{\n  "Type" : "Notification",\n  "MessageId" : "{pub.message_id}"'
        if pub.sequence_number is not None:
            head += f',\n  "SequenceNumber" : "{pub.sequence_number}"'
        head += f',\n  "TopicArn" : "{pub.topic_arn}"'
        if subject is not None:
            head += ',\n  "Subject" : ' + q(subject)
        head += (
            f',\n  "Message" : {q(text)},\n  "Timestamp" : "{pub.timestamp}"'
            f',\n  "SignatureVersion" : "1",\n  "Signature" : "{sig}"'
            f',\n  "SigningCertURL" : "{self.cert_url}",\n  "UnsubscribeURL" : '
        )
        tail = "\n}"
        if pub.attributes:
            tail = ',\n  "MessageAttributes" : ' + _attributes_json(pub.attributes) + tail
        return head, tail

    # ------------------------------------------------------------------ confirmations
    def confirmation(
        self, kind: str, message_id: str, topic_arn: str, token: str, timestamp: str
    ) -> str:
        """A SubscriptionConfirmation or UnsubscribeConfirmation document."""
        if kind == "SubscriptionConfirmation":
            message = (
                f"You have chosen to subscribe to the topic {topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            )
        else:
            message = (
                f"You have chosen to deactivate subscription to the topic {topic_arn}.\n"
                "To cancel this operation and restore the subscription, visit the SubscribeURL "
                "included in this message."
            )
        doc = {
            "Type": kind,
            "MessageId": message_id,
            "Token": token,
            "TopicArn": topic_arn,
            "Message": message,
            "SubscribeURL": self.subscribe_url(topic_arn, token),
            "Timestamp": timestamp,
            "SignatureVersion": "1",
        }
        signed = "".join(
            f"{name}\n{doc[name]}\n"
            for name in (
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            )
        )
        doc["Signature"] = signature(signed, self.secret)
        doc["SigningCertURL"] = self.cert_url
        return json.dumps(doc, indent=2, separators=_SEP, ensure_ascii=False)
