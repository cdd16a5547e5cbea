"""Topic tags: TagResource, UntagResource and ListTagsForResource (and the tags CreateTopic takes).

Tags are a list of {Key, Value} on the wire; keys are 1 to 128 characters and may not start with
``aws:``, values at most 256, and a topic holds at most 50 (TagLimitExceeded beyond).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import ResourceNotFound, TagLimitExceeded
from .model import Topic
from .params import check_known, invalid, str_param
from .state import SnsState


def tag_list(raw: Any, required: bool = True) -> dict[str, str]:
    if raw is None:
        if required:
            raise invalid("Tags Reason: the request must contain the parameter Tags")
        return {}
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, list | tuple):
        raise invalid("Tags Reason: must be a list of {Key, Value} maps")
    out: dict[str, str] = {}
    for tag in raw:
        if not isinstance(tag, Mapping) or set(tag) - {"Key", "Value"}:
            raise invalid("Tags Reason: each tag must be a map with Key and Value")
        key, value = tag.get("Key"), tag.get("Value")
        if type(key) is not str or not 1 <= len(key) <= limits.TAG_KEY_MAX_LENGTH:
            raise invalid("Tag Reason: Tag keys must be between 1 and 128 characters")
        if type(value) is not str or len(value) > limits.TAG_VALUE_MAX_LENGTH:
            raise invalid("Tag Reason: Tag values must be at most 256 characters")
        if key.lower().startswith("aws:"):
            raise invalid("Tag Reason: Keys may not start with the reserved prefix aws:")
        out[key] = value
    if len(out) > limits.SNS_TAGS_MAX:
        raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
    return out


def _tagged(sns: SnsState, p: Mapping[str, Any]) -> Topic:
    arn = str_param(p, "ResourceArn")
    topic = sns.topics.get(arn)  # type: ignore[arg-type]
    if topic is None:
        raise ResourceNotFound("Resource does not exist")
    return topic


def tag_resource(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"ResourceArn", "Tags"}), "TagResource")
    topic = _tagged(sns, p)
    tags = tag_list(p.get("Tags"))
    merged = {**topic.tags, **tags}
    if len(merged) > limits.SNS_TAGS_MAX:
        raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
    topic.tags = merged
    return {}


def untag_resource(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"ResourceArn", "TagKeys"}), "UntagResource")
    topic = _tagged(sns, p)
    keys = p.get("TagKeys")
    if not isinstance(keys, list | tuple) or not all(type(k) is str for k in keys):
        raise invalid("TagKeys Reason: must be a list of strings")
    for key in keys:
        topic.tags.pop(key, None)
    return {}


def list_tags_for_resource(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"ResourceArn"}), "ListTagsForResource")
    topic = _tagged(sns, p)
    return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}
