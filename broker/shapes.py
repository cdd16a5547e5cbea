"""The Python types of request values, checked as botocore checks them before it sends a request.

boto3 refuses ``MaxNumberOfMessages="5"`` before anything leaves the machine ("Invalid type for
parameter MaxNumberOfMessages, value: 5, type: <class 'str'>, valid types: <class 'int'>"), so
the broker refuses it too, at the operation boundary, with botocore's words and the service's
usual code for a bad value. botocore's own service models (the data files it ships) are the
source of truth: a service's model is read once per process, when the service is first used, and
each operation's request is compiled on its first use into a check that costs a dictionary
lookup and an ``isinstance`` or so per value it looks at.

What counts as the right type is what ``botocore.validate.ParamValidator`` accepts:

========================  ==============================================================
model type                Python values accepted
========================  ==============================================================
string                    str
integer, long             int (so also bool, as in botocore)
boolean                   bool
float, double             float, int, decimal.Decimal
blob                      bytes, bytearray, str, or anything with ``read`` (a file)
timestamp                 datetime, or what botocore parses as one (epoch seconds, ISO 8601)
list                      list, tuple
structure, map            dict
========================  ==============================================================

The message is botocore's report of every value of the wrong type, one line each, in its order
(each value shown as botocore shows it, cut at 200 characters). Only types: missing required
members, lengths and ranges, unknown parameters and enum values stay with the operations, which answer them with AWS's codes and messages. Operations and
parameters that botocore's models do not know (msgsim's own, such as SNS ``ListOutbox``) pass
untouched, and so does a callable ``Handler`` on CreateFunction and UpdateFunctionConfiguration
(msgsim runs it in-process; boto3 would only take the import string).
"""

from __future__ import annotations

import decimal
import gzip
import importlib.util
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import (
    BrokerError,
    InvalidParameter,
    InvalidParameterValue,
    ValidationException,
)

#: The error each service answers a value of the wrong type with (what its operations already
#: raise for a bad value: SQS and SNS as their query APIs do, Kinesis and Lambda a shape
#: violation).
TYPE_ERRORS: dict[str, type[BrokerError]] = {
    "sqs": InvalidParameterValue,
    "sns": InvalidParameter,
    "kinesis": ValidationException,
    "lambda": ValidationException,
}

#: msgsim's extensions of a modelled parameter: a value these accept is let through whatever the
#: model says.
EXTENSIONS: dict[tuple[str, str], dict[str, Callable[[Any], bool]]] = {
    ("lambda", "CreateFunction"): {"Handler": callable},
    ("lambda", "UpdateFunctionConfiguration"): {"Handler": callable},
}

_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "float": (float, decimal.Decimal, int),
    "double": (float, decimal.Decimal, int),
}
_EXACT: dict[str, type] = {
    "string": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "float": float,
    "double": float,
    "blob": bytes,
    "timestamp": datetime,
}
_LIST_TYPES = (list, tuple)
_BLOB_TYPES = (bytes, bytearray, str)


class _Node:
    """One model shape, compiled: ``ok(value)`` is the fast yes/no; :func:`_report` walks the
    same nodes to word what is wrong, in botocore's order and words."""

    __slots__ = ("accepts", "exact", "key", "kind", "member", "members", "ok", "types")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.types: tuple[type, ...] = _SCALARS.get(kind, ())  # a scalar's
        #: The type whose values pass at once (the usual one: str for a string)
        self.exact: type | None = _EXACT.get(kind)
        self.members: dict[str, _Node] = {}  # a structure's
        self.member: _Node | None = None  # a list's item, a map's value, what is extended
        self.key: _Node | None = None  # a map's key
        self.accepts: Callable[[Any], bool] | None = None  # an extension's
        self.ok: Callable[[Any], bool] = _unlinked


def _anything(value: Any) -> bool:
    return True


def _unlinked(value: Any) -> bool:
    raise AssertionError("a node's check is made by _link before use")


class RequestTypes:
    """One service's requests, compiled from botocore's model as operations are first used."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._model: Any = None
        self._nodes: dict[str, _Node] = {}
        #: operation -> its request's node (None when botocore does not model the operation)
        self._requests: dict[str, _Node | None] = {}

    def request(self, operation: str) -> _Node | None:
        try:
            return self._requests[operation]
        except KeyError:
            node = self._requests[operation] = self._compile_operation(operation)
            return node

    # ------------------------------------------------------------------ compiling
    def _compile_operation(self, operation: str) -> _Node | None:
        model = self._service_model()
        if model is None:
            return None
        shape = model["operations"].get(operation, {}).get("input", {}).get("shape")
        if shape is None:
            return None
        node = self._compile(model["shapes"], shape)
        extensions = EXTENSIONS.get((self.service, operation))
        if extensions:
            node = _with_extensions(node, extensions)
        _link(node)
        return node

    def _service_model(self) -> dict[str, Any] | None:
        if self._model is None:
            self._model = _load_model(self.service)  # msgsim's service names are botocore's
        return self._model

    def _compile(self, shapes: Mapping[str, Any], name: str) -> _Node:
        node = self._nodes.get(name)
        if node is not None:
            return node  # also a shape that contains itself: its node is being filled
        shape = shapes[name]
        kind = shape["type"]
        if kind == "structure" and shape.get("document"):
            kind = "document"  # no such shape in these services' requests: taken as it is
        node = self._nodes[name] = _Node(kind)
        if kind == "structure":
            node.members = {
                member: (
                    _Node("document")  # a JSON header value: botocore checks only its JSON
                    if ref.get("jsonvalue") and ref.get("location") == "header"
                    else self._compile(shapes, ref["shape"])
                )
                for member, ref in shape.get("members", {}).items()
            }
        elif kind == "list":
            node.member = self._compile(shapes, shape["member"]["shape"])
        elif kind == "map":
            node.key = self._compile(shapes, shape["key"]["shape"])
            node.member = self._compile(shapes, shape["value"]["shape"])
        return node


def _load_model(service: str) -> dict[str, Any] | None:
    """botocore's model of ``service`` as its data files hold it, the newest API version (as
    botocore's loader picks it); None if this botocore has none.

    The file is read directly: importing botocore's loader and model classes costs half a
    second (its HTTP machinery comes along), which a first request -- say inside a timed
    hypothesis example -- must not pay; reading and parsing one model takes milliseconds."""
    spec = importlib.util.find_spec("botocore")  # finds it without importing it
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "data" / service
    if not folder.is_dir():
        return None
    for version in sorted(folder.iterdir(), reverse=True):
        plain, packed = version / "service-2.json", version / "service-2.json.gz"
        if plain.is_file():
            return json.loads(plain.read_bytes())
        if packed.is_file():
            return json.loads(gzip.decompress(packed.read_bytes()))
    return None


# ---------------------------------------------------------------------- fast checks
# These run on every request, the TCP daemon's SendMessageBatch included, so they are written
# for CPython's speed: a value of the member's usual exact type (a str for a string) passes on
# one ``type(x) is T``; a list of structures checks its entries inline, without a call each.


def _is_blob(value: Any) -> bool:
    return isinstance(value, _BLOB_TYPES) or hasattr(value, "read")


def _is_timestamp(value: Any) -> bool:
    if isinstance(value, datetime):
        return True
    from botocore.utils import parse_to_aware_datetime

    try:
        parse_to_aware_datetime(value)
    except Exception:  # botocore refuses what it cannot parse (and fails on what overflows)
        return False
    return True


def _link(node: _Node) -> Callable[[Any], bool]:
    """``node.ok``, made on first use. A shape that contains itself is reached again while it is
    being made: the inner reference goes through the node (``node.ok`` at the call)."""
    if node.ok is not _unlinked:
        return node.ok
    node.ok = lambda value: node.ok(value)  # replaced below; only a self-reference keeps it
    kind = node.kind
    if kind in _SCALARS:
        types = node.types
        node.ok = lambda value: isinstance(value, types)
    elif kind == "blob":
        node.ok = _is_blob
    elif kind == "timestamp":
        node.ok = _is_timestamp
    elif kind == "structure":
        node.ok = _structure_check(node.members)
    elif kind == "list":
        assert node.member is not None
        node.ok = _list_check(node.member)
    elif kind == "map":
        assert node.key is not None and node.member is not None
        node.ok = _map_check(node.key, node.member)
    elif kind == "extended":
        assert node.member is not None and node.accepts is not None
        accepts, model = node.accepts, _link(node.member)
        node.ok = lambda value: accepts(value) or model(value)
    else:
        node.ok = _anything
    return node.ok


class _Members:
    """A structure's member checks, and the one loop that applies them to a run of structures.

    ``exact(name)`` is the type whose values pass at once, ``full(name)`` the member's full
    check (None for a name the model does not know: the operation's to answer). Batch entries
    and message attributes go through :meth:`all_ok` a whole list or map at a time, without a
    call per entry."""

    __slots__ = ("exact", "full")

    def __init__(self, members: Mapping[str, _Node]) -> None:
        self.exact = {name: n.exact for name, n in members.items() if n.exact is not None}.get
        self.full = {name: _link(n) for name, n in members.items()}.get

    def all_ok(self, structures: Iterable[Any]) -> bool:
        exact, full = self.exact, self.full
        for value in structures:
            if type(value) is not dict and not isinstance(value, dict):
                return False
            for name, item in value.items():
                if type(item) is exact(name):
                    continue
                check = full(name)
                if check is not None and not check(item):
                    return False
        return True


def _all_of(node: _Node) -> Callable[[Iterable[Any]], bool]:
    """A check that each of a run of values (a list's items, a map's keys or values) is of
    ``node``'s type: a structure's with :class:`_Members`, a scalar's inline."""
    if node.kind == "structure":
        return _Members(node.members).all_ok
    if node.kind in _SCALARS:
        types, usual = node.types, node.exact

        def all_ok(values: Iterable[Any]) -> bool:
            for value in values:
                if type(value) is not usual and not isinstance(value, types):
                    return False
            return True

        return all_ok
    one_ok = _link(node)

    def all_ok(values: Iterable[Any]) -> bool:
        for value in values:
            if not one_ok(value):
                return False
        return True

    return all_ok


def _structure_check(members: Mapping[str, _Node]) -> Callable[[Any], bool]:
    all_ok = _Members(members).all_ok
    return lambda value: all_ok((value,))


def _list_check(member: _Node) -> Callable[[Any], bool]:
    items_ok = _all_of(member)

    def ok(value: Any) -> bool:
        if type(value) is not list and not isinstance(value, _LIST_TYPES):
            return False
        return items_ok(value)

    return ok


def _map_check(key: _Node, value: _Node) -> Callable[[Any], bool]:
    keys_ok, values_ok = _all_of(key), _all_of(value)

    def ok(mapping: Any) -> bool:
        if type(mapping) is not dict and not isinstance(mapping, dict):
            return False
        return keys_ok(mapping) and values_ok(mapping.values())

    return ok


def _with_extensions(node: _Node, extensions: Mapping[str, Callable[[Any], bool]]) -> _Node:
    """A copy of a request's node whose members also take what ``extensions`` accept."""
    out = _Node("structure")
    out.members = dict(node.members)
    for name, accepts in extensions.items():
        model = out.members.get(name)
        if model is not None:
            extended = out.members[name] = _Node("extended")
            extended.member, extended.accepts = model, accepts
    return out


# ---------------------------------------------------------------------- botocore's words
def _report(node: _Node, value: Any, name: str, *, top: bool = False) -> list[str]:
    """What botocore's ParamValidator says about the types in ``value``, in its order and its
    words (its other findings -- missing, unknown, too short -- are the operation's to make)."""
    out: list[str] = []
    _walk(node, value, name, out, top)
    return out


def _walk(node: _Node, value: Any, name: str, out: list[str], top: bool = False) -> None:
    kind = node.kind
    if kind == "extended":
        assert node.member is not None and node.accepts is not None
        if not node.accepts(value):
            _walk(node.member, value, name, out)
    elif kind in _SCALARS:
        if not isinstance(value, node.types):
            out.append(_invalid(name, value, [str(t) for t in node.types]))
    elif kind == "blob":
        if not _is_blob(value):
            out.append(_invalid(name, value, [str(bytes), str(bytearray), "file-like object"]))
    elif kind == "timestamp":
        if not _is_timestamp(value):
            out.append(_invalid(name, value, [str(datetime), "timestamp-string"]))
    elif kind == "structure":
        if not isinstance(value, dict) and not (top and isinstance(value, Mapping)):
            out.append(_invalid(name, value, [str(dict)]))
            return
        for member, item in value.items():
            child = node.members.get(member)
            if child is not None:
                _walk(child, item, f"{name}.{member}", out)
    elif kind == "list":
        if not isinstance(value, _LIST_TYPES):
            out.append(_invalid(name, value, [str(t) for t in _LIST_TYPES]))
            return
        assert node.member is not None
        for i, item in enumerate(value):
            _walk(node.member, item, f"{name}[{i}]", out)
    elif kind == "map":
        if not isinstance(value, dict):
            out.append(_invalid(name, value, [str(dict)]))
            return
        assert node.key is not None and node.member is not None
        for key, item in value.items():
            _walk(node.key, key, f"{name} (key: {key})", out)
            _walk(node.member, item, f"{name}.{key}", out)


def _invalid(name: str, value: Any, valid: list[str]) -> str:
    """botocore's line for a value of the wrong type (botocore.validate.ValidationErrors)."""
    shown = name[1:] if name.startswith(".") else name or "input"
    return (
        f"Invalid type for parameter {shown}, value: {_shown(value)}, type: {type(value)}, "
        f"valid types: {', '.join(valid)}"
    )


def _shown(value: Any) -> str:
    """``str(value)`` as botocore formats it, bounded: a megabyte string or an unprintable
    object must not make a megabyte message or a crash."""
    try:
        text = str(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


#: The process's one RequestTypes per service: models are loaded and compiled once, whatever
#: the number of brokers.
_services: dict[str, RequestTypes] = {}
#: (service, operation) -> its request's check (None: botocore does not model the operation).
_checks: dict[tuple[str, str], Callable[[Any], bool] | None] = {}


def check_types(service: str, operation: str, params: Mapping[str, Any]) -> None:
    """Refuse ``params`` with the service's error and botocore's words if botocore would refuse
    the type of a value in them (see the module docstring); what botocore does not model
    passes. The broker calls this for every request, after it found the operation."""
    try:
        ok = _checks[service, operation]
    except KeyError:
        if service not in TYPE_ERRORS:
            return
        ok = _checks[service, operation] = _compile(service, operation)
    if ok is not None and not ok(params):
        _refuse(service, operation, params)


def preload() -> None:
    """Load and compile every service's model now rather than on each operation's first use
    (about a tenth of a second in all; a first request alone costs a few milliseconds). A
    caller that times its first requests, such as a hypothesis test with a deadline, calls this
    first."""
    for service in TYPE_ERRORS:
        if service not in _services:
            _services[service] = RequestTypes(service)
        model = _services[service]._service_model()
        for operation in model["operations"] if model is not None else ():
            if (service, operation) not in _checks:
                _checks[service, operation] = _compile(service, operation)


def _compile(service: str, operation: str) -> Callable[[Any], bool] | None:
    types = _services.get(service)
    if types is None:
        types = _services[service] = RequestTypes(service)
    node = types.request(operation)
    return None if node is None else node.ok


def _refuse(service: str, operation: str, params: Mapping[str, Any]) -> None:
    node = _services[service].request(operation)
    assert node is not None
    problems = _report(node, params, "", top=True)
    if problems:  # botocore is the judge: nothing it would name, no refusal
        raise TYPE_ERRORS[service]("\n".join(problems))
