"""The event-filter language: SNS subscription filter policies.

A filter policy is a JSON object. Each key names a message attribute (scope ``MessageAttributes``,
the default) or a property of the JSON message body (scope ``MessageBody``) and maps to an array
of conditions. A message matches when, for every key, at least one condition of its array holds
(AND across keys, OR within an array); ``"$or": [{...}, {...}]`` ORs whole sub-policies. The
module is self-contained (stdlib, :mod:`msgsim.broker.errors`, :mod:`msgsim.broker.limits`) so Lambda
event-source-mapping filter criteria can reuse it.

Semantics, as the Amazon SNS developer guide documents them ("Amazon SNS message filtering",
"String value matching", "Numeric value matching", "Key matching", "AND/OR logic", "Filter
policy constraints"), with the validation wording AWS answers with:

Values
    Message values are typed. A String attribute (or any ``String.*`` custom type) is a string;
    a Number attribute (``Number.*``) is a number; each element of a String.Array attribute keeps
    its JSON type; a Binary attribute has no value that any condition can match, but the key is
    present (``exists``). In the body every leaf keeps its JSON type. A policy string matches only
    strings and a policy number only numbers, so ``300`` matches the Number ``"300.0"`` and not
    the String ``"300"``. ``true``, ``false`` and ``null`` match the same JSON literal; ``null``
    never matches a missing key.
Numbers
    Compared with five digits after the decimal point (values are scaled by 10^5 and rounded), so
    ``301.5`` equals ``3.015e2``. AWS documents the range -1e9..1e9 but accepts larger values in a
    policy; so does msgsim.
Arrays and paths
    A key matches an array (String.Array attribute, JSON array in the body) when any element
    matches; this holds for ``anything-but`` too (the guide's examples: ``["rugby", "baseball"]``
    matches ``anything-but ["rugby", "tennis"]``). Body keys are paths: nested policy objects and
    dotted names are the same thing, and the body is flattened the same way, so the policy key
    ``"a.b"`` matches ``{"a": {"b": 1}}`` and ``{"a.b": 1}``. Arrays of objects flatten into the
    values of each path.
Operators
    exact string/number/literal; ``prefix``; ``suffix``; ``equals-ignore-case``; ``wildcard``
    (``*`` is any run of characters, ``\\*`` and ``\\\\`` escape); ``cidr`` (IPv4 and IPv6);
    ``numeric`` (``["=", x]``, ``[op, x]``, ``[">"|">=", lo, "<"|"<=", hi]``); ``exists``;
    ``anything-but`` with a string, a number, a list of strings or of numbers, or one of
    ``prefix``/``suffix``/``wildcard``/``equals-ignore-case``. ``anything-but`` needs the key to be
    present: a missing key never matches it.
exists
    Works on leaves only. ``true`` needs the key present (in the body: with a non-null value);
    ``false`` needs it absent and, as the guide notes, only matches a message that has at least
    one attribute (an empty attribute set, or the empty body object, never matches it).
``$or``
    Recognised only when its value is an array of at least two objects none of which uses an
    operator name as a key; otherwise ``"$or"`` is an ordinary key. It may appear at any nesting
    level and inside other ``$or`` objects.
Limits
    At most 5 keys (attribute scope: every key; body scope: top-level keys only), counted per OR
    branch; at most 150 combinations, where a branch's combinations are the product over its keys
    of (number of conditions x nesting depth) and the branches of ``$or`` add up (the guide's
    worked examples give 7 and 32); the policy text at most 256 KB. Attribute scope rejects nested
    objects.

Matching many policies against one message is the job of :class:`PolicyIndex`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

from . import limits
from .errors import InvalidParameter

__all__ = [
    "SCOPES",
    "SCOPE_ATTRIBUTES",
    "SCOPE_BODY",
    "FilterPolicy",
    "PolicyIndex",
    "validate_scope",
]

SCOPE_ATTRIBUTES = "MessageAttributes"
SCOPE_BODY = "MessageBody"
SCOPES = (SCOPE_ATTRIBUTES, SCOPE_BODY)

_OR = "$or"
#: Names that make an object a match expression; an ``$or`` object using one is not an ``$or``.
_OPERATORS = frozenset(
    {
        "anything-but",
        "cidr",
        "equals-ignore-case",
        "exact",
        "exists",
        "numeric",
        "prefix",
        "suffix",
        "wildcard",
    }
)
_SCALE = 10**limits.SNS_FILTER_POLICY_NUMERIC_DECIMAL_DIGITS

# A message value ("leaf") as a hashable tagged tuple, so exact conditions are set lookups and
# "300" (a string) never equals 300 (a number):
#   ("s", text)  ("n", round(number * 10^5))  ("t",)  ("f",)  ("z",) for true, false, null.
_Leaf = tuple
_TRUE: _Leaf = ("t",)
_FALSE: _Leaf = ("f",)
_NULL: _Leaf = ("z",)


def validate_scope(scope: str, *, via_subscribe: bool = False) -> str:
    """Return ``scope`` if it is a FilterPolicyScope AWS accepts, else raise InvalidParameter."""
    if scope not in SCOPES:
        raise InvalidParameter(
            f"{_prefix(via_subscribe)}FilterPolicyScope: Invalid value [{scope}]. "
            "Please use either MessageBody or MessageAttributes"
        )
    return scope


def _prefix(via_subscribe: bool) -> str:
    # Subscribe reports attribute errors as "Attributes Reason: ...", SetSubscriptionAttributes not.
    return "Invalid parameter: Attributes Reason: " if via_subscribe else "Invalid parameter: "


def _number_leaf(value: float) -> _Leaf | None:
    try:
        return ("n", round(float(value) * _SCALE))
    except (OverflowError, ValueError):  # inf, nan, or an int too large for a float
        return None


def _json_leaf(value: Any) -> _Leaf | None:
    """The leaf for a JSON scalar; None for containers and numbers that cannot be compared."""
    if isinstance(value, str):
        return ("s", value)
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    if value is None:
        return _NULL
    if isinstance(value, int | float):
        return _number_leaf(value)
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _strict_loads(text: str | bytes) -> Any:
    """json.loads without NaN/Infinity, which JSON (and AWS's parser) does not have."""
    return json.loads(text, parse_constant=_reject_constant)


# --- message views -------------------------------------------------------------------------------


def _attribute_leaves(attribute: Mapping[str, Any]) -> tuple[_Leaf, ...]:
    data_type = attribute.get("DataType") or attribute.get("Type") or "String"
    text = attribute.get("StringValue")
    if text is None:
        text = attribute.get("Value")
    if not isinstance(text, str):
        return ()
    if data_type == "String.Array" or data_type.startswith("String.Array."):
        try:
            items = _strict_loads(text)
        except ValueError:
            return ()
        if not isinstance(items, list):
            return ()
        return tuple(leaf for item in items if (leaf := _json_leaf(item)) is not None)
    if data_type == "Number" or data_type.startswith("Number."):
        try:
            leaf = _number_leaf(float(text))
        except ValueError:
            return ()
        return () if leaf is None else (leaf,)
    if data_type == "String" or data_type.startswith("String."):
        return (("s", text),)
    return ()  # Binary: present, but no value a condition can match


class _AttributeView:
    """A message's attributes as seen by conditions: leaves per name, presence per name."""

    __slots__ = ("_attributes", "_leaves", "empty")

    def __init__(self, attributes: Mapping[str, Mapping[str, Any]] | None) -> None:
        self._attributes = attributes or {}
        self._leaves: dict[str, tuple[_Leaf, ...]] = {}
        self.empty = not self._attributes

    def leaves(self, name: str) -> tuple[_Leaf, ...]:
        found = self._leaves.get(name)
        if found is None:
            attribute = self._attributes.get(name)
            found = () if attribute is None else _attribute_leaves(attribute)
            self._leaves[name] = found
        return found

    def present(self, name: str) -> bool:
        return name in self._attributes

    def pairs(self) -> Iterator[tuple[str, tuple[_Leaf, ...]]]:
        for name in self._attributes:
            yield name, self.leaves(name)


def _flatten(value: Any, path: str, out: dict[str, list[_Leaf]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(child, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for child in value:
            _flatten(child, path, out)
    else:
        leaf = _json_leaf(value)
        if leaf is not None:
            out.setdefault(path, []).append(leaf)


class _BodyView:
    """A JSON object body flattened to dotted paths; a path is present with a non-null leaf."""

    __slots__ = ("_flat", "empty")

    def __init__(self, body: Mapping[str, Any]) -> None:
        flat: dict[str, list[_Leaf]] = {}
        _flatten(body, "", flat)
        self._flat = flat
        self.empty = not body

    def leaves(self, path: str) -> list[_Leaf] | tuple[()]:
        return self._flat.get(path, ())

    def present(self, path: str) -> bool:
        return any(leaf != _NULL for leaf in self._flat.get(path, ()))

    def pairs(self) -> Iterable[tuple[str, list[_Leaf]]]:
        return self._flat.items()


def _body_view(body: Any) -> _BodyView | None:
    """The view of a decoded body; None unless it is a JSON object (too deep counts as not)."""
    if not isinstance(body, dict):
        return None
    try:
        return _BodyView(body)
    except RecursionError:
        return None


def _parse_body(body_text: str | bytes) -> _BodyView | None:
    try:
        body = _strict_loads(body_text)
    except (ValueError, TypeError, RecursionError):
        return None
    return _body_view(body)


# --- compiled conditions -------------------------------------------------------------------------

_Predicate = Callable[[_Leaf], bool]


class _KeyTest:
    """One key of one OR branch: its path and its array of conditions, compiled.

    ``exact`` holds the leaves that match outright (exact values, ``numeric =``); ``predicates``
    the other value conditions; ``exists_true``/``exists_false`` the key-matching conditions.
    ``probes`` lists, for :class:`PolicyIndex`, how each condition can be looked up from a message
    value: ``("=", leaf)``, ``("^", prefix)``, ``("$", suffix)``, ``("~", lower-cased text)``;
    ``open`` is set by a condition that cannot be looked up (ranges, anything-but, cidr, exists).
    """

    __slots__ = (
        "count",
        "depth",
        "exact",
        "exists_false",
        "exists_true",
        "open",
        "path",
        "predicates",
        "probes",
        "top",
    )

    def __init__(self, path: str, depth: int, top: str, count: int) -> None:
        self.path = path
        self.depth = depth  # nesting level in the policy, 1 = top level
        self.top = top  # the top-level key it sits under (body scope counts these)
        self.count = count  # conditions in the array
        self.exact: set[_Leaf] = set()
        self.predicates: list[_Predicate] = []
        self.exists_true = False
        self.exists_false = False
        self.probes: list[tuple[str, Any]] = []
        self.open = False

    def add_exact(self, leaf: _Leaf) -> None:
        self.exact.add(leaf)
        self.probes.append(("=", leaf))

    @property
    def anchorable(self) -> bool:
        """True if the key can only match a value that one of its ``probes`` finds."""
        return bool(self.probes) and not self.open

    def check(self, view: _AttributeView | _BodyView) -> bool:
        leaves = view.leaves(self.path)
        if leaves:
            exact = self.exact
            if exact:
                for leaf in leaves:
                    if leaf in exact:
                        return True
            for predicate in self.predicates:
                for leaf in leaves:
                    if predicate(leaf):
                        return True
        if self.exists_true and view.present(self.path):
            return True
        return self.exists_false and not view.empty and not view.present(self.path)


_Branch = tuple[_KeyTest, ...]


def _branch_matches(branch: _Branch, view: _AttributeView | _BodyView) -> bool:
    for test in branch:
        if not test.check(view):
            return False
    return True


def _prefix_predicate(prefix: str) -> _Predicate:
    return lambda leaf: leaf[0] == "s" and leaf[1].startswith(prefix)


def _suffix_predicate(suffix: str) -> _Predicate:
    return lambda leaf: leaf[0] == "s" and leaf[1].endswith(suffix)


def _ignore_case_predicate(texts: Iterable[str]) -> _Predicate:
    folded = frozenset(text.lower() for text in texts)
    return lambda leaf: leaf[0] == "s" and leaf[1].lower() in folded


def _wildcard_predicate(pattern: re.Pattern[str]) -> _Predicate:
    return lambda leaf: leaf[0] == "s" and pattern.fullmatch(leaf[1]) is not None


def _range_predicate(
    low: int | None, low_open: bool, high: int | None, high_open: bool
) -> _Predicate:
    def test(leaf: _Leaf) -> bool:
        if leaf[0] != "n":
            return False
        value = leaf[1]
        if low is not None and (value <= low if low_open else value < low):
            return False
        return high is None or (value < high if high_open else value <= high)

    return test


def _cidr_predicate(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> _Predicate:
    def test(leaf: _Leaf) -> bool:
        if leaf[0] != "s":
            return False
        try:
            return ipaddress.ip_address(leaf[1]) in network
        except ValueError:
            return False

    return test


def _not(predicate: _Predicate) -> _Predicate:
    return lambda leaf: not predicate(leaf)


def _not_in(excluded: frozenset[_Leaf]) -> _Predicate:
    return lambda leaf: leaf not in excluded


# --- the compiler --------------------------------------------------------------------------------


def _token_text(value: Any) -> str:
    """How AWS's JSON parser names a token in its messages."""
    if isinstance(value, dict):
        return "{"
    if isinstance(value, list):
        return "["
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Node:
    """One policy object: its keys (compiled) and its ``$or`` groups (alternatives each)."""

    __slots__ = ("ors", "tests")

    def __init__(self) -> None:
        self.tests: list[_KeyTest] = []
        self.ors: list[list[_Node]] = []


class _Compiler:
    def __init__(self, scope: str, via_subscribe: bool) -> None:
        self.scope = scope
        self.prefix = _prefix(via_subscribe)
        self.nested = False

    def error(self, reason: str) -> InvalidParameter:
        return InvalidParameter(f"{self.prefix}FilterPolicy: {reason}")

    def compile(self, text: str) -> list[_Branch]:
        if len(text.encode("utf-8", "surrogatepass")) > limits.SNS_FILTER_POLICY_MAX_SIZE:
            raise self.error(
                f"Filter policy is too large: at most {limits.SNS_FILTER_POLICY_MAX_SIZE} bytes"
            )
        try:
            document = _strict_loads(text)
        except (ValueError, RecursionError) as exc:
            raise self.error(f"failed to parse JSON. {exc}") from None
        if not isinstance(document, dict):
            raise self.error("Filter is not an object")
        root = self._object(document, "", 1, None, 1)
        # AWS reports a malformed policy before it looks at nesting, and nesting before limits.
        if self.nested and self.scope == SCOPE_ATTRIBUTES:
            raise InvalidParameter(
                f"{self.prefix}Filter policy scope MessageAttributes does not support nested "
                "filter policy"
            )
        branches = self._expand(root)
        self._check_limits(branches)
        return [tuple(branch) for branch in branches]

    # structure

    def _object(
        self, obj: dict[str, Any], path: str, depth: int, top: str | None, level: int
    ) -> _Node:
        if not obj:
            raise self.error("Empty objects are not allowed")
        if level > limits.SNS_FILTER_POLICY_MAX_COMBINATIONS:
            # Each nested object or $or adds at least one combination: stop before recursing deeper.
            raise self.error("Filter policy is too complex")
        node = _Node()
        for key, value in obj.items():
            if key == _OR and self._is_or(value):
                node.ors.append([self._object(alt, path, depth, top, level + 1) for alt in value])
                continue
            child_path = f"{path}.{key}" if path else key
            child_top = key if top is None else top
            if isinstance(value, dict):
                self.nested = True
                child = self._object(value, child_path, depth + 1, child_top, level + 1)
                node.tests.extend(child.tests)
                node.ors.extend(child.ors)
            elif isinstance(value, list):
                node.tests.append(self._key(child_path, depth, child_top, value))
            else:
                raise self.error(f'"{key}" must be an object or an array')
        return node

    @staticmethod
    def _is_or(value: Any) -> bool:
        # The guide: "$or" is an OR only when followed by an array of at least two objects, none
        # of which uses a reserved keyword as a field name; otherwise it is an ordinary key.
        return (
            isinstance(value, list)
            and len(value) >= 2
            and all(isinstance(alt, dict) and _OPERATORS.isdisjoint(alt) for alt in value)
        )

    def _expand(self, node: _Node) -> list[list[_KeyTest]]:
        """The node as OR-of-ANDs. Every branch adds at least one combination, so more than the
        combination limit of branches is "too complex" before anything explodes."""
        branches: list[list[_KeyTest]] = [list(node.tests)]
        for group in node.ors:
            alternatives = [branch for alt in group for branch in self._expand(alt)]
            branches = [b + alt for b in branches for alt in alternatives]
            if len(branches) > limits.SNS_FILTER_POLICY_MAX_COMBINATIONS:
                raise self.error("Filter policy is too complex")
        return branches

    def _check_limits(self, branches: list[list[_KeyTest]]) -> None:
        for branch in branches:
            if self.scope == SCOPE_ATTRIBUTES:
                keys = {test.path for test in branch}
            else:
                keys = {test.top for test in branch}
            if len(keys) > limits.SNS_FILTER_POLICY_MAX_KEYS:
                raise self.error(
                    f"Filter policy can not have more than {limits.SNS_FILTER_POLICY_MAX_KEYS} keys"
                )
        total = 0
        for branch in branches:
            combinations = 1
            for test in branch:
                combinations *= test.count * test.depth
            total += combinations
            if total > limits.SNS_FILTER_POLICY_MAX_COMBINATIONS:
                raise self.error("Filter policy is too complex")

    # conditions

    def _key(self, path: str, depth: int, top: str, conditions: list[Any]) -> _KeyTest:
        if not conditions:
            raise self.error("Empty arrays are not allowed")
        test = _KeyTest(path, depth, top, len(conditions))
        for condition in conditions:
            if isinstance(condition, dict):
                self._expression(test, condition)
            elif isinstance(condition, list):
                raise self.error("Match value must be String, number, true, false, or null")
            else:
                test.add_exact(self._literal(condition))
        return test

    def _literal(self, value: Any) -> _Leaf:
        leaf = _json_leaf(value)
        if leaf is None:
            raise self.error(f"Number out of range: {value}")
        return leaf

    def _expression(self, test: _KeyTest, expression: dict[str, Any]) -> None:
        if not expression:
            raise self.error("Match expression name not found")
        operator, argument = next(iter(expression.items()))
        if operator == "numeric":
            self._numeric(test, argument)
            if len(expression) > 1:
                raise self.error("Too many elements in numeric expression")
            return
        if operator == "anything-but":
            test.predicates.append(self._anything_but(argument))
            test.open = True
            if len(expression) > 1:
                raise self.error("Too many elements in numeric expression")  # sic, as AWS says
            return
        if operator == "exists":
            if not isinstance(argument, bool):
                raise self.error("exists match pattern must be either true or false.")
            if argument:
                test.exists_true = True
            else:
                test.exists_false = True
            test.open = True
        elif operator in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            if not isinstance(argument, str):
                raise self.error(f"{operator} match pattern must be a string")
            predicate, probe = self._string_condition(operator, argument)
            test.predicates.append(predicate)
            if probe is None:
                test.open = True
            else:
                test.probes.append(probe)
        elif operator == "cidr":
            if not isinstance(argument, str):
                raise self.error("prefix match pattern must be a string")  # sic, as AWS says
            test.predicates.append(_cidr_predicate(self._cidr(argument)))
            test.open = True
        else:
            raise self.error(f"Unrecognized match type {operator}")
        if len(expression) > 1:
            raise self.error("Only one key allowed in match expression")

    def _string_condition(
        self, operator: str, argument: str
    ) -> tuple[_Predicate, tuple[str, Any] | None]:
        """A string operator's predicate and its index probe (None: it cannot be probed)."""
        if operator == "prefix":
            return _prefix_predicate(argument), ("^", argument)
        if operator == "suffix":
            return _suffix_predicate(argument), ("$", argument)
        if operator == "equals-ignore-case":
            return _ignore_case_predicate((argument,)), ("~", argument.lower())
        pattern, literals = self._wildcard(argument)
        probe: tuple[str, Any] | None = None
        if len(literals) == 1:
            probe = ("=", ("s", literals[0]))  # no star: an exact match
        elif literals[0]:
            probe = ("^", literals[0])
        elif literals[-1]:
            probe = ("$", literals[-1])
        return _wildcard_predicate(pattern), probe

    def _wildcard(self, pattern: str) -> tuple[re.Pattern[str], list[str]]:
        """The regex for a wildcard pattern, and its literal runs between the stars."""
        # Positions in AWS's messages count UTF-8 bytes.
        parts: list[str] = []
        literals: list[str] = []
        literal: list[str] = []
        position = 0
        i = 0
        while i < len(pattern):
            char = pattern[i]
            if char == "*":
                if pattern.startswith("*", i + 1):
                    raise self.error(f"Consecutive wildcard characters at pos {position}")
                literals.append("".join(literal))
                parts.append(re.escape(literals[-1]))
                parts.append(".*")
                literal = []
            elif char == "\\":
                if i + 1 < len(pattern) and pattern[i + 1] in "*\\":
                    literal.append(pattern[i + 1])
                    i += 1
                    position += 1
                else:
                    raise self.error(f"Invalid escape character at pos {position}")
            else:
                literal.append(char)
            position += len(char.encode("utf-8", "surrogatepass"))
            i += 1
        literals.append("".join(literal))
        parts.append(re.escape(literals[-1]))
        return re.compile("".join(parts), re.DOTALL), literals

    def _cidr(self, text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        pieces = text.split("/")
        while pieces and not pieces[-1]:  # Java's split drops trailing empty strings
            pieces.pop()
        if len(pieces) != 2:
            raise self.error("Malformed CIDR, one '/' required")
        address, bits_text = pieces
        if re.fullmatch(r"[+-]?[0-9]+", bits_text) is None:
            raise self.error("Malformed CIDR, mask bits must be an integer")
        bits = int(bits_text)
        if bits < 0:
            raise self.error("Malformed CIDR, mask bits must not be negative")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise self.error(f"Nonstandard IP address: {address}") from None
        if ip.version == 4 and bits > 31:
            raise self.error("IPv4 mask bits must be < 32")
        if ip.version == 6 and bits > 127:
            raise self.error("IPv6 mask bits must be < 128")
        return ipaddress.ip_network(f"{ip}/{bits}", strict=False)

    def _numeric(self, test: _KeyTest, spec: Any) -> None:
        if not isinstance(spec, list):
            raise self.error("Value of numeric must be an array.")
        if not spec:
            raise self.error("Invalid member in numeric match: ]")
        operator = spec[0]
        if not isinstance(operator, str):
            raise self.error(f"Invalid member in numeric match: {_token_text(operator)}")

        def number(index: int, name: str) -> int:
            if index >= len(spec) or not _is_number(spec[index]):
                raise self.error(f"Value of {name} must be numeric")
            leaf = self._literal(spec[index])
            return leaf[1]

        if operator == "=":
            value = number(1, "equals")
            if len(spec) > 2:
                raise self.error("Too many elements in numeric expression")
            test.add_exact(("n", value))
        elif operator in ("<", "<="):
            high = number(1, operator)
            if len(spec) > 2:
                raise self.error("Too many elements in numeric expression")
            test.predicates.append(_range_predicate(None, False, high, operator == "<"))
            test.open = True
        elif operator in (">", ">="):
            low = number(1, operator)
            high: int | None = None
            high_open = False
            if len(spec) > 2:
                second = spec[2]
                if not isinstance(second, str):
                    raise self.error(f"Bad value in numeric range: {_token_text(second)}")
                if second not in ("<", "<="):
                    raise self.error(f"Bad numeric range operator: {second}")
                high = number(3, second)
                high_open = second == "<"
                if len(spec) > 4:
                    raise self.error("Too many terms in numeric range expression")
                if low >= high:
                    raise self.error("Bottom must be less than top")
            test.predicates.append(_range_predicate(low, operator == ">", high, high_open))
            test.open = True
        else:
            raise self.error(f"Unrecognized numeric range operator: {operator}")

    def _anything_but(self, argument: Any) -> _Predicate:
        if isinstance(argument, dict):
            if not argument:
                raise self.error("Anything-But expression name not found")
            operator, inner = next(iter(argument.items()))
            if operator in ("prefix", "suffix", "wildcard"):
                if not isinstance(inner, str):
                    raise self.error(f"{operator} match pattern must be a string")
                if operator != "wildcard" and not inner:
                    raise self.error("Null prefix/suffix not allowed")
                predicate = self._string_condition(operator, inner)[0]
            elif operator == "equals-ignore-case":
                if isinstance(inner, str):
                    texts = [inner]
                elif isinstance(inner, list):
                    if not all(isinstance(text, str) for text in inner):
                        raise self.error(
                            "Inside anything-but/equals-ignore-case list, "
                            "number|start|null|boolean is not supported."
                        )
                    texts = inner
                elif _is_number(inner):
                    raise self.error(
                        "Inside anything-but/equals-ignore-case list, "
                        "number|start|null|boolean is not supported."
                    )
                else:
                    raise self.error(
                        "Value of anything-but must be an array or single string/number value."
                    )
                predicate = _ignore_case_predicate(texts)
            else:
                raise self.error(f"Unsupported anything-but pattern: {operator}")
            if len(argument) > 1:
                raise self.error("Only one key allowed in match expression")
            return _not(predicate)
        if isinstance(argument, list):
            if not all(isinstance(v, str) or _is_number(v) for v in argument):
                raise self.error("Inside anything but list, start|null|boolean is not supported.")
            strings = sum(isinstance(v, str) for v in argument)
            if not argument or 0 < strings < len(argument):
                raise self.error(
                    "Inside anything but list, either all values are number or string, "
                    "mixed type is not supported"
                )
            return _not_in(frozenset(self._literal(v) for v in argument))
        if isinstance(argument, str) or _is_number(argument):
            return _not_in(frozenset((self._literal(argument),)))
        raise self.error("Value of anything-but must be an array or single string/number value.")


# --- public API ----------------------------------------------------------------------------------


class FilterPolicy:
    """A parsed, validated subscription filter policy.

    Immutable once parsed. ``text`` is the JSON exactly as given (GetSubscriptionAttributes
    returns it); ``scope`` says what it filters on.
    """

    __slots__ = ("_branches", "scope", "text")

    scope: str
    text: str
    _branches: tuple[_Branch, ...]

    def __init__(self, text: str, scope: str, branches: Iterable[_Branch]) -> None:
        self.text = text
        self.scope = scope
        self._branches = tuple(branches)

    @classmethod
    def parse(
        cls, text: str, scope: str = SCOPE_ATTRIBUTES, *, via_subscribe: bool = False
    ) -> FilterPolicy:
        """Parse and validate ``text`` for ``scope``; raise InvalidParameter as AWS does.

        Messages read ``Invalid parameter: FilterPolicy: <reason>`` (SetSubscriptionAttributes);
        with ``via_subscribe`` they read ``Invalid parameter: Attributes Reason: FilterPolicy:
        <reason>``, as Subscribe's Attributes are reported.
        """
        validate_scope(scope, via_subscribe=via_subscribe)
        if not isinstance(text, str):
            raise InvalidParameter(f"{_prefix(via_subscribe)}FilterPolicy: must be a string")
        return cls(text, scope, _Compiler(scope, via_subscribe).compile(text))

    @property
    def branch_count(self) -> int:
        """How many AND-branches the policy has once every ``$or`` is expanded."""
        return len(self._branches)

    def matches_attributes(self, attributes: Mapping[str, Mapping[str, Any]] | None) -> bool:
        """Whether SNS message attributes (``{name: {"DataType", "StringValue"}}``) match."""
        return self._matches(_AttributeView(attributes))

    def matches_body(self, body: Any) -> bool:
        """Whether a JSON-decoded message body matches; a non-object body never does."""
        view = _body_view(body)
        return view is not None and self._matches(view)

    def matches(
        self, attributes: Mapping[str, Mapping[str, Any]] | None, body_text: str | bytes
    ) -> bool:
        """Match a published message by this policy's scope.

        MessageBody scope parses ``body_text``; a body that is not a JSON object never matches.
        """
        if self.scope == SCOPE_BODY:
            view = _parse_body(body_text)
            return view is not None and self._matches(view)
        return self._matches(_AttributeView(attributes))

    def _matches(self, view: _AttributeView | _BodyView) -> bool:
        return any(_branch_matches(branch, view) for branch in self._branches)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FilterPolicy):
            return NotImplemented
        return (self.scope, self.text) == (other.scope, other.text)

    def __hash__(self) -> int:
        return hash((self.scope, self.text))

    def __repr__(self) -> str:
        return f"FilterPolicy(scope={self.scope!r}, text={self.text!r})"


class _Entry:
    __slots__ = ("key", "policy", "registrations", "seq")

    def __init__(self, key: Hashable, seq: int) -> None:
        self.key = key
        self.seq = seq
        self.policy: FilterPolicy | None = None
        #: where each branch is filed: (branch id, [(table, key), ...])
        self.registrations: list[tuple[int, list[tuple[dict[Any, Any], Any]]]] = []


class _IndexedBranch:
    __slots__ = ("entry", "id", "tests")

    def __init__(self, entry: _Entry, branch_id: int, tests: _Branch) -> None:
        self.entry = entry
        self.id = branch_id
        self.tests = tests


# Where a filed branch sits: (table, key in the table, (kind, path) of a per-path table or None).
_Place = tuple[dict[Any, Any], Any, tuple[str, str] | None]


class _ScopeIndex:
    """The branches of one scope, filed so a message finds only those that might match.

    A branch is filed under one *anchor* key whose every condition can be looked up from a
    message value: an exact value under (path, leaf), ``equals-ignore-case`` under (path, lower
    case), ``prefix``/``suffix`` (and wildcards with a literal head or tail) in per-path tables a
    value probes with its own prefixes/suffixes up to the longest one filed. Of several such keys
    the least crowded one wins. A branch with no such key is filed under a path it needs present
    (numeric ranges, anything-but, cidr, exists: true); one whose every key accepts absence
    (``exists: false``) goes to the scan list. A message looks up its own (path, value) pairs and
    paths, and each candidate is then verified in full.
    """

    __slots__ = (
        "_longest",
        "_scan_table",
        "by_path",
        "count",
        "exact",
        "folded",
        "prefixes",
        "scan",
        "suffixes",
    )

    def __init__(self) -> None:
        self.exact: dict[tuple[str, _Leaf], dict[int, _IndexedBranch]] = {}
        self.folded: dict[tuple[str, str], dict[int, _IndexedBranch]] = {}
        self.prefixes: dict[str, dict[str, dict[int, _IndexedBranch]]] = {}
        self.suffixes: dict[str, dict[str, dict[int, _IndexedBranch]]] = {}
        self._longest: dict[tuple[str, str], int] = {}  # ("^"|"$", path) -> longest affix filed
        self.by_path: dict[str, dict[int, _IndexedBranch]] = {}
        self.scan: dict[int, _IndexedBranch] = {}
        self._scan_table = {None: self.scan}  # lets the scan list be filed like a bucket
        self.count = 0

    def _where(self, path: str, kind: str, value: Any) -> _Place:
        if kind == "=":
            return self.exact, (path, value), None
        if kind == "~":
            return self.folded, (path, value), None
        tables = self.prefixes if kind == "^" else self.suffixes
        return tables.setdefault(path, {}), value, (kind, path)

    def _crowding(self, test: _KeyTest) -> int:
        total = 0
        for kind, value in test.probes:
            if kind == "=":
                total += len(self.exact.get((test.path, value), ()))
            elif kind == "~":
                total += len(self.folded.get((test.path, value), ()))
            else:
                tables = self.prefixes if kind == "^" else self.suffixes
                total += len(tables.get(test.path, {}).get(value, ()))
        return total

    def file(self, branch: _IndexedBranch) -> list[_Place]:
        """File ``branch``; returns where it went, for :meth:`unfile`."""
        self.count += 1
        anchors = [test for test in branch.tests if test.anchorable]
        places: list[_Place]
        if anchors:
            best = min(anchors, key=self._crowding)  # keeps buckets of common values small
            places = [self._where(best.path, *probe) for probe in dict.fromkeys(best.probes)]
            for _, value, owner in places:
                if owner is not None:
                    self._longest[owner] = max(self._longest.get(owner, 0), len(value))
        else:
            paths = [test.path for test in branch.tests if not test.exists_false]
            if paths:
                path = min(paths, key=lambda p: len(self.by_path.get(p, ())))
                places = [(self.by_path, path, None)]
            else:
                places = [(self._scan_table, None, None)]
        for table, key, _ in places:
            table.setdefault(key, {})[branch.id] = branch
        return places

    def unfile(self, branch_id: int, places: list[_Place]) -> None:
        self.count -= 1
        for table, key, owner in places:
            bucket = table[key]
            del bucket[branch_id]
            if bucket or table is self._scan_table:
                continue
            del table[key]
            if owner is not None and not table:
                kind, path = owner
                del (self.prefixes if kind == "^" else self.suffixes)[path]
                del self._longest[owner]

    def candidates(self, pairs: Iterable[tuple[str, Iterable[_Leaf]]]) -> Iterator[_IndexedBranch]:
        exact = self.exact
        folded = self.folded
        by_path = self.by_path
        prefixes = self.prefixes
        suffixes = self.suffixes
        for path, leaves in pairs:
            bucket = by_path.get(path)
            if bucket:
                yield from bucket.values()
            by_prefix = prefixes.get(path) if prefixes else None
            by_suffix = suffixes.get(path) if suffixes else None
            for leaf in leaves:
                bucket = exact.get((path, leaf))
                if bucket:
                    yield from bucket.values()
                if leaf[0] != "s" or not (folded or by_prefix or by_suffix):
                    continue
                text: str = leaf[1]
                if folded:
                    bucket = folded.get((path, text.lower()))
                    if bucket:
                        yield from bucket.values()
                if by_prefix:
                    for n in range(min(len(text), self._longest["^", path]) + 1):
                        bucket = by_prefix.get(text[:n])
                        if bucket:
                            yield from bucket.values()
                if by_suffix:
                    end = len(text)
                    for n in range(min(end, self._longest["$", path]) + 1):
                        bucket = by_suffix.get(text[end - n :])
                        if bucket:
                            yield from bucket.values()
        yield from self.scan.values()


class PolicyIndex:
    """Many policies (keyed by any hashable, e.g. a subscription ARN) matched against one message
    sub-linearly: cost grows with the policies that could match, not with all of them.

    Each policy's ``$or`` branches are filed under an anchor (see :class:`_ScopeIndex`); a
    message visits the buckets of its own attribute/property values (exact, case-folded, and
    its prefixes/suffixes), so a policy whose exact values, prefixes or suffixes the message does
    not carry costs nothing. Policies on a key with only numeric ranges, anything-but, cidr or
    exists are verified whenever the message carries that key. :meth:`match` returns keys in insertion
    order; replacing a key's policy keeps its place. A ``None`` policy matches every message.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._seq = 0
        self._branch_ids = 0
        self._scopes = {SCOPE_ATTRIBUTES: _ScopeIndex(), SCOPE_BODY: _ScopeIndex()}
        self._match_all: dict[int, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def add(self, key: Hashable, policy: FilterPolicy | None) -> None:
        """Index ``policy`` under ``key``, replacing (in place) any policy the key had."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(key, self._seq)
            self._seq += 1
        else:
            self._unfile(entry)
        entry.policy = policy
        if policy is None:
            self._match_all[entry.seq] = entry
            return
        scope = self._scopes[policy.scope]
        for tests in policy._branches:
            self._branch_ids += 1
            branch = _IndexedBranch(entry, self._branch_ids, tests)
            entry.registrations.append((branch.id, scope.file(branch)))

    def remove(self, key: Hashable) -> None:
        """Forget ``key``; a key that is not indexed is ignored."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._unfile(entry)

    def _unfile(self, entry: _Entry) -> None:
        self._match_all.pop(entry.seq, None)
        if entry.policy is not None:
            scope = self._scopes[entry.policy.scope]
            for branch_id, places in entry.registrations:
                scope.unfile(branch_id, places)
        entry.registrations = []
        entry.policy = None

    def match(
        self, attributes: Mapping[str, Mapping[str, Any]] | None, body_text: str | bytes
    ) -> list[Hashable]:
        """The keys whose policy matches the message, in insertion order."""
        matched: dict[int, Hashable] = {seq: entry.key for seq, entry in self._match_all.items()}
        attribute_index = self._scopes[SCOPE_ATTRIBUTES]
        if attribute_index.count:
            view = _AttributeView(attributes)
            self._verify(attribute_index.candidates(view.pairs()), view, matched)
        body_index = self._scopes[SCOPE_BODY]
        if body_index.count:
            body_view = _parse_body(body_text)
            if body_view is not None:
                self._verify(body_index.candidates(body_view.pairs()), body_view, matched)
        return [matched[seq] for seq in sorted(matched)]

    @staticmethod
    def _verify(
        candidates: Iterable[_IndexedBranch],
        view: _AttributeView | _BodyView,
        matched: dict[int, Hashable],
    ) -> None:
        seen: set[int] = set()
        for branch in candidates:
            entry = branch.entry
            if entry.seq in matched or branch.id in seen:
                continue
            seen.add(branch.id)
            if _branch_matches(branch.tests, view):
                matched[entry.seq] = entry.key
