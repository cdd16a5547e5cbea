"""SNS subscription filter policies: the language, its validation, and the many-policy index.

Examples come from the Amazon SNS developer guide ("String value matching", "Numeric value
matching", "Key matching", "AND/OR logic", "Filter policy constraints"); error messages are the
ones AWS answers with. The property tests check :class:`FilterPolicy` against a deliberately
naive reference evaluator written here, and :class:`PolicyIndex` against brute force.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from msgsim.broker import limits
from msgsim.broker.errors import InvalidParameter
from msgsim.broker.filters import FilterPolicy, PolicyIndex, validate_scope

ATTRS = "MessageAttributes"
BODY = "MessageBody"


def S(value: str) -> dict[str, Any]:
    return {"DataType": "String", "StringValue": value}


def N(value: str | float) -> dict[str, Any]:
    return {"DataType": "Number", "StringValue": str(value)}


def A(values: list[Any]) -> dict[str, Any]:
    return {"DataType": "String.Array", "StringValue": json.dumps(values)}


def B(value: bytes = b"\x00") -> dict[str, Any]:
    return {"DataType": "Binary", "BinaryValue": value}


def policy(document: dict[str, Any], scope: str = ATTRS) -> FilterPolicy:
    return FilterPolicy.parse(json.dumps(document), scope)


def attr_match(document: dict[str, Any], attributes: dict[str, Any]) -> bool:
    return policy(document).matches(attributes, "ignored")


def body_match(document: dict[str, Any], body: Any) -> bool:
    return policy(document, BODY).matches(None, json.dumps(body))


# --- string matching ------------------------------------------------------------------------------


def test_exact_string_matching():
    p = {"customer_interests": ["rugby", "tennis"]}
    assert attr_match(p, {"customer_interests": S("rugby")})
    assert attr_match(p, {"customer_interests": S("tennis")})
    assert attr_match(p, {"customer_interests": A(["rugby", "tennis"])})
    assert body_match(p, {"customer_interests": "rugby"})
    assert not attr_match(p, {"customer_interests": S("baseball")})
    assert not attr_match(p, {"customer_interests": A(["baseball"])})
    assert not body_match(p, {"customer_interests": "baseball"})
    assert not attr_match(p, {"customer_interests": S("Rugby")})  # case-sensitive


def test_anything_but_strings():
    p = {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}
    assert attr_match(p, {"customer_interests": S("baseball")})
    assert attr_match(p, {"customer_interests": S("football")})
    # any element that is not excluded is enough (the guide's example)
    assert attr_match(p, {"customer_interests": A(["rugby", "baseball"])})
    assert body_match(p, {"customer_interests": ["rugby", "baseball"]})
    assert not attr_match(p, {"customer_interests": S("rugby")})
    assert not attr_match(p, {"customer_interests": A(["rugby"])})
    assert not body_match(p, {"customer_interests": ["rugby"]})


def test_anything_but_needs_the_key():
    assert not attr_match({"a": [{"anything-but": "x"}]}, {"b": S("y")})
    assert not body_match({"a": [{"anything-but": "x"}]}, {"b": "y"})
    # AWS-validated: [null, anything-but] does not match a message without the attribute
    assert not attr_match({"attr1": [None, {"anything-but": "whatever"}]}, {})
    # ... unless combined with exists: false, as the guide suggests
    assert attr_match({"a": [{"anything-but": "x"}, {"exists": False}]}, {"b": S("y")})


def test_anything_but_prefix_suffix_wildcard_ignore_case():
    p = {"event": [{"anything-but": {"prefix": "order-"}}]}
    assert attr_match(p, {"event": S("data-entry")})
    assert attr_match(p, {"event": S("order_number")})
    assert body_match(p, {"event": "order_number"})
    assert not attr_match(p, {"event": S("order-cancelled")})
    assert not body_match(p, {"event": "order-cancelled"})

    for op, arg in (("suffix", "ball"), ("wildcard", "*ball")):
        p = {"customer_interests": [{"anything-but": {op: arg}}]}
        assert body_match(p, {"customer_interests": ["hockey", "rugby", "soccer"]})
        assert not body_match(p, {"customer_interests": ["baseball", "basketball"]})

    p = {"a": [{"anything-but": {"equals-ignore-case": ["Rugby", "TENNIS"]}}]}
    assert attr_match(p, {"a": S("golf")})
    assert not attr_match(p, {"a": S("rugby")})
    assert not attr_match(p, {"a": S("Tennis")})


def test_equals_ignore_case():
    p = {"customer_interests": [{"equals-ignore-case": "tennis"}]}
    assert attr_match(p, {"customer_interests": S("TENNIS")})
    assert attr_match(p, {"customer_interests": S("Tennis")})
    assert body_match(p, {"customer_interests": "teNnis"})
    assert not attr_match(p, {"customer_interests": S("tennis!")})


def test_prefix_and_suffix():
    p = {"customer_interests": [{"prefix": "bas"}]}
    assert attr_match(p, {"customer_interests": S("baseball")})
    assert body_match(p, {"customer_interests": "basketball"})
    assert not attr_match(p, {"customer_interests": S("rugby")})
    p = {"customer_interests": [{"suffix": "ball"}]}
    assert attr_match(p, {"customer_interests": S("baseball")})
    assert body_match(p, {"customer_interests": "basketball"})
    assert not body_match(p, {"customer_interests": "rugby"})
    # case-sensitive, strings only
    assert not attr_match({"a": [{"prefix": "bas"}]}, {"a": S("Baseball")})
    assert not attr_match({"a": [{"suffix": "BALL"}]}, {"a": S("baseball")})
    assert not attr_match({"a": [{"prefix": "1"}]}, {"a": N(12)})


def test_wildcard():
    p = {"customer_interests": [{"wildcard": "*ball"}]}
    assert body_match(p, {"customer_interests": ["baseball", "basketball"]})
    assert attr_match(p, {"customer_interests": S("ball")})
    assert not attr_match(p, {"customer_interests": S("balls")})
    p = {"a": [{"wildcard": "a*b*c"}]}
    assert attr_match(p, {"a": S("abc")})
    assert attr_match(p, {"a": S("a-b-\nc")})
    assert not attr_match(p, {"a": S("acb")})
    p = {"a": [{"wildcard": "lit\\*eral\\\\"}]}  # escaped star and backslash are literal
    assert attr_match(p, {"a": S("lit*eral\\")})
    assert not attr_match(p, {"a": S("litXeral\\")})


def test_cidr():
    p = {"source_ip": [{"cidr": "10.0.0.0/24"}]}
    assert attr_match(p, {"source_ip": S("10.0.0.0")})
    assert attr_match(p, {"source_ip": S("10.0.0.255")})
    assert body_match(p, {"source_ip": "10.0.0.255"})
    assert not attr_match(p, {"source_ip": S("10.1.1.0")})
    assert not body_match(p, {"source_ip": "10.1.1.0"})
    assert not attr_match(p, {"source_ip": S("not an ip")})
    assert not attr_match(p, {"source_ip": S("::1")})
    p6 = {"ip": [{"cidr": "2001:db8::/32"}]}
    assert attr_match(p6, {"ip": S("2001:db8::1")})
    assert not attr_match(p6, {"ip": S("2001:db9::1")})


# --- numbers, literals, types ---------------------------------------------------------------------


def test_numeric_exact_matching():
    p = {"price_usd": [{"numeric": ["=", 301.5]}]}
    assert attr_match(p, {"price_usd": N("301.5")})
    assert attr_match(p, {"price_usd": N("3.015e2")})
    assert body_match(p, {"price_usd": 301.5})
    assert body_match(p, {"price_usd": 3.015e2})
    assert not attr_match(p, {"price_usd": S("301.5")})  # a String is not a number


def test_number_literals_match_numbers_not_strings():
    p = {"price": [300]}
    assert attr_match(p, {"price": N("300.0")})
    assert attr_match(p, {"price": N("3e2")})
    assert attr_match(p, {"price": A(["x", 300])})
    assert body_match(p, {"price": 300.0})
    assert not attr_match(p, {"price": S("300")})
    assert not body_match(p, {"price": "300"})
    assert attr_match({"price": ["300"]}, {"price": S("300")})
    assert not attr_match({"price": ["300"]}, {"price": N("300")})


def test_numeric_anything_but():
    p = {"price": [{"anything-but": [100, 500]}]}
    assert attr_match(p, {"price": N("101")})
    assert attr_match(p, {"price": N("100.1")})
    assert body_match(p, {"price": 100.1})
    assert attr_match(p, {"price": A([100, 50])})
    assert body_match(p, {"price": [100, 50]})
    assert not attr_match(p, {"price": N("100")})
    assert not body_match(p, {"price": 100})


def test_numeric_ranges():
    negative = {"price_usd": [{"numeric": ["<", 0]}]}
    assert attr_match(negative, {"price_usd": N("-0.5")})
    assert not attr_match(negative, {"price_usd": N("0")})
    between = {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}
    assert attr_match(between, {"price_usd": N("150")})
    assert attr_match(between, {"price_usd": N("0.00001")})
    assert not attr_match(between, {"price_usd": N("0")})
    assert not attr_match(between, {"price_usd": N("150.00001")})
    assert not attr_match(between, {"price_usd": S("100")})
    assert body_match({"n": [{"numeric": [">=", 1, "<", 2]}]}, {"n": [0, 1.5]})


def test_numbers_compare_to_five_decimal_places():
    p = {"n": [{"numeric": ["=", 1.00001]}]}
    assert attr_match(p, {"n": N("1.000011")})
    assert not attr_match(p, {"n": N("1.00002")})
    assert not attr_match({"n": [{"numeric": [">", 0]}]}, {"n": N("0.000001")})


def test_null_and_boolean_literals():
    assert body_match({"k": [None]}, {"k": None})
    assert not body_match({"k": [None]}, {})
    assert not body_match({"k": [None]}, {"k": "null"})
    assert body_match({"k": [True]}, {"k": True})
    assert not body_match({"k": [True]}, {"k": "true"})
    assert not body_match({"k": [True]}, {"k": 1})
    assert not body_match({"k": [1]}, {"k": True})
    assert not attr_match({"k": [None]}, {})
    assert attr_match({"k": [False]}, {"k": A([False])})


def test_attribute_types():
    # Binary attributes never match a value, but they are present.
    assert not attr_match({"b": [{"prefix": ""}]}, {"b": B()})
    assert attr_match({"b": [{"exists": True}]}, {"b": B()})
    assert not attr_match({"b": [{"exists": False}]}, {"b": B()})
    # Custom type suffixes keep the base type.
    assert attr_match({"s": ["v"]}, {"s": {"DataType": "String.custom", "StringValue": "v"}})
    assert attr_match({"n": [5]}, {"n": {"DataType": "Number.int", "StringValue": "5"}})
    assert not attr_match({"n": ["5"]}, {"n": {"DataType": "Number.int", "StringValue": "5"}})
    # A String.Array that is not valid JSON has no values.
    assert not attr_match({"a": ["x"]}, {"a": {"DataType": "String.Array", "StringValue": "[x"}})


# --- key matching ---------------------------------------------------------------------------------


def test_exists():
    p = {"store": [{"exists": True}]}
    interests = A(["baseball", "basketball"])
    assert attr_match(p, {"store": S("fans"), "customer_interests": interests})
    assert body_match(p, {"store": "fans", "customer_interests": ["baseball"]})
    assert not attr_match(p, {"customer_interests": interests})
    assert not body_match(p, {"customer_interests": ["baseball"]})

    p = {"store": [{"exists": False}]}
    assert not attr_match(p, {"store": S("fans"), "customer_interests": interests})
    assert not body_match(p, {"store": "fans"})
    assert attr_match(p, {"customer_interests": interests})
    assert body_match(p, {"customer_interests": ["baseball"]})


def test_exists_false_needs_at_least_one_attribute():
    assert not attr_match({"store": [{"exists": False}]}, {})
    assert not body_match({"store": [{"exists": False}]}, {})


def test_exists_works_on_leaves_only():
    # body exists: true needs a non-null value; an intermediate object is not a leaf
    assert not body_match({"a": [{"exists": True}]}, {"a": None})
    assert not body_match({"a": [{"exists": True}]}, {"a": {"b": 1}})
    assert body_match({"a": [{"exists": False}]}, {"a": {"b": 1}})
    assert body_match({"a": {"b": [{"exists": True}]}}, {"a": {"b": 1}})
    assert not body_match({"a": [{"exists": True}]}, {"a": []})


# --- AND / OR -------------------------------------------------------------------------------------


def test_and_or_logic():
    p = {"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}
    assert attr_match(p, {"customer_interests": S("rugby"), "price_usd": N(101)})
    assert not attr_match(p, {"customer_interests": S("rugby"), "price_usd": N(100)})
    assert not attr_match(p, {"customer_interests": S("rugby")})
    p = {"customer_interests": ["rugby", "football", "baseball"]}
    assert attr_match(p, {"customer_interests": S("football")})


def test_or_operator_standard():
    p = {
        "source": ["aws.cloudwatch"],
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
    }
    cw = S("aws.cloudwatch")
    assert attr_match(p, {"source": cw, "metricName": S("CPUUtilization")})
    assert attr_match(p, {"source": cw, "namespace": S("AWS/EC2")})
    assert not attr_match(p, {"source": cw})
    assert not attr_match(p, {"metricName": S("CPUUtilization")})
    assert body_match(p, {"source": "aws.cloudwatch", "namespace": "AWS/EC2"})


def test_or_operator_nested_in_body():
    p = {
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"namespace": ["AWS/EC2", "AWS/ES"]},
        ],
        "detail": {
            "scope": ["Service"],
            "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["CloudWatch Alarm State Change"]}],
        },
    }
    assert policy(p, BODY).branch_count == 4
    passing = [
        {
            "metricName": "CPUUtilization",
            "detail": {"scope": "Service", "source": "aws.cloudwatch"},
        },
        {"namespace": "AWS/ES", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
        {
            "metricName": "CPUUtilization",
            "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"},
        },
    ]
    failing = [
        {"metricName": "CPUUtilization", "detail": {"scope": "Service", "type": "CPUUtilization"}},
        {"metricName": "CPUUtilization", "detail": {"type": "CloudWatch Alarm State Change"}},
        {"metricName": "CPUUtilization", "detail": {"scope": "Service"}},
        {"metricName": "CPUUtilization", "scope": "Service"},
        {"metricName": "AWS/EC2", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
    ]
    assert all(body_match(p, body) for body in passing)
    assert not any(body_match(p, body) for body in failing)


def test_or_that_is_not_an_or_is_an_ordinary_key():
    # operators inside: "$or" is an attribute name with two conditions
    p = {"$or": [{"prefix": "abc"}, {"suffix": "xyz"}]}
    assert attr_match(p, {"$or": S("abcd")})
    assert not attr_match(p, {"other": S("abcd")})
    # a single object is not an OR either, so its key is read as an operator
    with pytest.raises(InvalidParameter, match="Unrecognized match type metricName"):
        policy({"$or": [{"metricName": ["x"]}]})


# --- message body ---------------------------------------------------------------------------------


def test_body_nested_and_dotted_paths():
    p = {"object.nested": ["string.value"]}
    assert body_match(p, {"object": {"nested": "string.value"}})
    assert body_match(p, {"object.nested": "string.value"})
    assert not body_match(p, {"object": {"nested": "test-auto"}})
    deep = {"object.nested.test": ["string.value"]}
    for body in (
        {"object": {"nested": {"test": "string.value"}}},
        {"object.nested.test": "string.value"},
        {"object.nested": {"test": "string.value"}},
        {"object": {"nested.test": "string.value"}},
    ):
        assert body_match(deep, body)
    assert body_match({"object": {"nested": ["string.value"]}}, {"object.nested": "string.value"})


def test_body_policy_with_prefix_and_exists_false():
    p = {
        "object": {
            "key": [{"prefix": "auto-"}, "hardcodedvalue"],
            "nested_key": [{"exists": False}],
        },
        "test": [{"exists": False}],
    }
    assert body_match(p, {"object": {"key": "auto-test"}})
    assert body_match(p, {"object": {"key": "hardcodedvalue"}})
    for body in (
        {"object": {"key": "test-auto"}},
        {"object": {"key": "auto-test"}, "test": "just-exists"},
        {"object": {"key": "auto-test", "nested_key": "just-exists"}},
        {"object": {"test": "auto-test"}},
        {"test": "auto-test"},
    ):
        assert not body_match(p, body)
    compiled = policy(p, BODY)
    assert not compiled.matches(None, "Regular string message")
    assert not compiled.matches(None, json.dumps("Regular string message"))
    assert not compiled.matches_body(None)


def test_body_arrays_of_objects():
    p = {
        "Records": {
            "s3": {"object": {"key": [{"prefix": "auto-"}]}},
            "eventName": [{"prefix": "ObjectCreated:"}],
        }
    }
    created = {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "auto-insurance.xml"}}}
        ]
    }
    assert body_match(p, created)
    removed = {
        "Records": [
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "auto-insurance.xml"}}}
        ]
    }
    assert not body_match(p, removed)
    lists_of_lists = {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": [[{"key": "auto-2314.xml"}]]}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "home-2314.xml"}}},
        ]
    }
    assert body_match(p, lists_of_lists)
    route = {"headers": {"route-to": ["queue1"]}}
    assert body_match(route, {"headers": {"route-to": ["queue1", "queue2"]}})
    assert not body_match(route, {"headers": {"route-to": ["queue3"]}})


def test_matches_dispatches_on_scope():
    doc = {"k": ["v"]}
    assert policy(doc, ATTRS).matches({"k": S("v")}, '{"k": "other"}')
    assert not policy(doc, ATTRS).matches({"k": S("other")}, '{"k": "v"}')
    assert policy(doc, BODY).matches({"k": S("other")}, '{"k": "v"}')
    assert policy(doc, BODY).matches_body({"k": "v"})
    assert policy(doc, ATTRS).matches_attributes({"k": S("v")})


def test_policy_keeps_text_and_scope():
    text = '{ "k" : ["v"] }'
    p = FilterPolicy.parse(text, BODY)
    assert (p.text, p.scope) == (text, BODY)
    assert p == FilterPolicy.parse(text, BODY)
    assert FilterPolicy.parse(text).scope == ATTRS


# --- validation -----------------------------------------------------------------------------------

INVALID = [
    ('{"key":[["value"]]}', "Match value must be String, number, true, false, or null"),
    ('{"key":[{"wrong-operator":true}]}', "Unrecognized match type wrong-operator"),
    ('{"key":[{"suffix":"value","prefix":"value2"}]}', "Only one key allowed in match expression"),
    ('{"key":[{}]}', "Match expression name not found"),
    ('{"key":[{"suffix":100}]}', "suffix match pattern must be a string"),
    ('{"key":[{"suffix":null}]}', "suffix match pattern must be a string"),
    ('{"key":[{"suffix":[]}]}', "suffix match pattern must be a string"),
    ('{"key":[{"prefix":1}]}', "prefix match pattern must be a string"),
    ('{"key":[{"equals-ignore-case":1}]}', "equals-ignore-case match pattern must be a string"),
    ('{"key":[{"wildcard":1}]}', "wildcard match pattern must be a string"),
    ('{"key":[{"wildcard":"a**"}]}', "Consecutive wildcard characters at pos 1"),
    ('{"key":[{"wildcard":"a\\\\x"}]}', "Invalid escape character at pos 1"),
    ('{"key":{"suffix":"value"}}', '"suffix" must be an object or an array'),
    ('{"key_a":"value_one"}', '"key_a" must be an object or an array'),
    ('{"key":[]}', "Empty arrays are not allowed"),
    ("{}", "Empty objects are not allowed"),
    ("[]", "Filter is not an object"),
    ("not json", "failed to parse JSON"),
    ('{"k":[NaN]}', "failed to parse JSON"),
    ('{"key":[{"numeric":[]}]}', "Invalid member in numeric match: ]"),
    ('{"key":[{"numeric":["operator"]}]}', "Unrecognized numeric range operator: operator"),
    ('{"key":[{"numeric":[1,"<="]}]}', "Invalid member in numeric match: 1"),
    ('{"key":[{"numeric":["=","000"]}]}', "Value of equals must be numeric"),
    ('{"key":[{"numeric":[">="]}]}', "Value of >= must be numeric"),
    ('{"key":[{"numeric":["<",100,">",10]}]}', "Too many elements in numeric expression"),
    ('{"key":[{"numeric":[">=",1,">",2]}]}', "Bad numeric range operator: >"),
    ('{"key":[{"numeric":[">",3,"<",1]}]}', "Bottom must be less than top"),
    ('{"key":[{"numeric":[">",3,"<=",3]}]}', "Bottom must be less than top"),
    ('{"key":[{"numeric":[">",20,"<="]}]}', "Value of <= must be numeric"),
    ('{"key":[{"numeric":[">",20,30]}]}', "Bad value in numeric range: 30"),
    ('{"key":[{"numeric":[">",20,"test"]}]}', "Bad numeric range operator: test"),
    ('{"key":[{"numeric":[">","20","<","30"]}]}', "Value of > must be numeric"),
    ('{"key":[{"numeric":[">",20,"<","30"]}]}', "Value of < must be numeric"),
    ('{"key":[{"numeric":[">",20,"<",30,"<",50]}]}', "Too many terms in numeric range expression"),
    ('{"key":[{"numeric":[">",true]}]}', "Value of > must be numeric"),
    ('{"key":[{"numeric":">"}]}', "Value of numeric must be an array."),
    ('{"key":[{"exists":null}]}', "exists match pattern must be either true or false."),
    ('{"key":[{"exists":"no"}]}', "exists match pattern must be either true or false."),
    (
        '{"key":[{"anything-but":{"wrong-operator":null}}]}',
        "Unsupported anything-but pattern: wrong-operator",
    ),
    ('{"key":[{"anything-but":{"exists":false}}]}', "Unsupported anything-but pattern: exists"),
    ('{"key":[{"anything-but":{"prefix":false}}]}', "prefix match pattern must be a string"),
    ('{"key":[{"anything-but":{"prefix":""}}]}', "Null prefix/suffix not allowed"),
    ('{"key":[{"anything-but":{}}]}', "Anything-But expression name not found"),
    ('{"key":[{"anything-but":[1,"a"]}]}', "either all values are number or string"),
    ('{"key":[{"anything-but":[]}]}', "either all values are number or string"),
    ('{"key":[{"anything-but":[null]}]}', "start|null|boolean is not supported"),
    ('{"key":[{"anything-but":true}]}', "Value of anything-but must be an array or single"),
    ('{"key":[{"anything-but":{"equals-ignore-case":[1]}}]}', "number|start|null|boolean"),
    ('{"key":[{"cidr":1}]}', "prefix match pattern must be a string"),
    ('{"key":[{"cidr":"10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    ('{"key":[{"cidr":"10.0.0.0/x"}]}', "Malformed CIDR, mask bits must be an integer"),
    ('{"key":[{"cidr":"10.0.0.0/-1"}]}', "Malformed CIDR, mask bits must not be negative"),
    ('{"key":[{"cidr":"10.0.0.300/8"}]}', "Nonstandard IP address: 10.0.0.300"),
    ('{"key":[{"cidr":"10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
    ('{"key":[{"cidr":"::/128"}]}', "IPv6 mask bits must be < 128"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_policies(text, reason):
    for scope in (ATTRS, BODY):
        with pytest.raises(InvalidParameter) as info:
            FilterPolicy.parse(text, scope)
        assert info.value.code == "InvalidParameter"
        assert info.value.message.startswith("Invalid parameter: FilterPolicy: ")
        assert reason in info.value.message


def test_subscribe_phrases_errors_as_attributes_reason():
    with pytest.raises(InvalidParameter) as info:
        FilterPolicy.parse('{"key":[]}', via_subscribe=True)
    assert info.value.message == (
        "Invalid parameter: Attributes Reason: FilterPolicy: Empty arrays are not allowed"
    )


def test_attribute_scope_rejects_nesting():
    nested = '{"object": {"key": [{"prefix": "auto-"}]}}'
    with pytest.raises(InvalidParameter) as info:
        FilterPolicy.parse(nested, ATTRS)
    assert info.value.message == (
        "Invalid parameter: Filter policy scope MessageAttributes does not support nested "
        "filter policy"
    )
    assert FilterPolicy.parse(nested, BODY).matches(None, '{"object": {"key": "auto-x"}}')
    # a malformed policy is reported as such before its nesting
    with pytest.raises(InvalidParameter, match='"not-an-operator" must be an object or an array'):
        FilterPolicy.parse('{"key": {"not-an-operator": "value"}}', ATTRS)


def test_invalid_scope():
    with pytest.raises(InvalidParameter) as info:
        FilterPolicy.parse('{"a": ["b"]}', "RandomValue")
    assert info.value.message == (
        "Invalid parameter: FilterPolicyScope: Invalid value [RandomValue]. Please use either "
        "MessageBody or MessageAttributes"
    )
    with pytest.raises(InvalidParameter) as info:
        validate_scope("x", via_subscribe=True)
    assert info.value.message.startswith("Invalid parameter: Attributes Reason: FilterPolicyScope:")
    assert validate_scope(BODY) == BODY


# --- limits ---------------------------------------------------------------------------------------

TOO_COMPLEX = "Invalid parameter: FilterPolicy: Filter policy is too complex"
TOO_MANY_KEYS = "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"


def _error(document: dict[str, Any], scope: str = ATTRS) -> str:
    with pytest.raises(InvalidParameter) as info:
        policy(document, scope)
    return info.value.message


def test_combination_limit_flat():
    assert policy({"key": [f"v{i}" for i in range(150)]})
    assert _error({"key": [f"v{i}" for i in range(151)]}) == TOO_COMPLEX
    two = {"key1": [f"v{i}" for i in range(100)], "key2": [f"v{i}" for i in range(51)]}
    assert _error(two) == TOO_COMPLEX
    # the guide's 3 x 1 x 2 = 6
    assert policy({"key_a": ["1", "2", "3"], "key_b": ["1"], "key_c": ["1", "2"]})


def test_combination_limit_with_or_sums_branches():
    # the guide: (1 * 2) + (1 * 1 * 2) + (1 * 1 * 3) = 7
    doc = {
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {
                "metricType": ["MetricType"],
                "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1, 2, 3]}],
            },
        ],
    }
    assert policy(doc).branch_count == 3
    # AWS-validated: (4 * 6) + (4 * 4 * 4) + (4 * 4 * 4) = 152
    big = {
        "source": ["a", "b", "c", "d"],
        "$or": [
            {"metricName": ["1", "2", "3", "4", "5", "6"]},
            {
                "metricType": ["1", "2", "3", "4"],
                "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4]}],
            },
        ],
    }
    assert _error(big) == TOO_COMPLEX


def test_combination_limit_counts_nesting_depth():
    # AWS-validated: 3 x 4 x 2 x 3 x 1 x 3 = 216 (values times nesting level)
    doc = {
        "key_a": {"key_b": {"key_c": ["1", "2", "3", "4"]}},
        "key_d": {"key_e": ["1", "2", "3"]},
        "key_f": ["1", "2", "3"],
    }
    assert _error(doc, BODY) == TOO_COMPLEX
    # the guide's nested $or example: 4 branches of 2 x 2 x 2 = 32
    nested = {
        "$or": [{"metricName": ["CPU", "Read"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        "detail": {"scope": ["Service"], "$or": [{"source": ["cw"]}, {"type": ["alarm"]}]},
    }
    assert policy(nested, BODY).branch_count == 4
    # 150 is allowed, 152 is not: 75 values at depth 2 = 150
    assert policy({"a": {"b": [f"v{i}" for i in range(75)]}}, BODY)
    assert _error({"a": {"b": [f"v{i}" for i in range(76)]}}, BODY) == TOO_COMPLEX


def test_or_explosion_is_rejected_quickly():
    doc: dict[str, Any] = {}
    for i in range(12):  # 2**12 branches before any counting would be too many
        doc = {f"k{i}": ["x"], "$or": [{"p": ["1"]}, {"q": ["2"]}]} | ({"n": doc} if doc else {})
    assert _error(doc, BODY) == TOO_COMPLEX


def test_deep_nesting_is_too_complex_not_a_crash():
    deep = '{"a":' * 900 + '["x"]' + "}" * 900
    with pytest.raises(InvalidParameter) as info:
        FilterPolicy.parse(deep, BODY)
    assert info.value.message == TOO_COMPLEX
    deep_body = '{"a":' * 900 + '"x"' + "}" * 900
    assert not policy({"a": ["x"]}, BODY).matches(None, deep_body)


def test_key_limit():
    six = {f"key{i}": [f"value{i}"] for i in range(6)}
    assert _error(six, ATTRS) == TOO_MANY_KEYS
    assert _error(six, BODY) == TOO_MANY_KEYS
    five = {f"key{i}": [f"value{i}"] for i in range(5)}
    assert policy(five, ATTRS) and policy(five, BODY)
    # body scope counts top-level keys only
    assert policy({"parent": {f"k{i}": ["v"] for i in range(6)}}, BODY)
    # keys are counted per OR branch
    per_branch = {
        "a": ["1"],
        "b": ["1"],
        "c": ["1"],
        "$or": [{"d": ["1"], "e": ["1"]}, {"f": ["1"], "g": ["1"]}],
    }
    assert policy(per_branch, ATTRS)
    per_branch["$or"][0]["h"] = ["1"]
    assert _error(per_branch, ATTRS) == TOO_MANY_KEYS


def test_size_limit():
    value = "x" * (limits.SNS_FILTER_POLICY_MAX_SIZE - len('{"k":[""]}'))
    assert FilterPolicy.parse('{"k":["' + value + '"]}')
    with pytest.raises(InvalidParameter, match="too large"):
        FilterPolicy.parse('{"k":["' + value + 'x"]}')


# --- PolicyIndex ----------------------------------------------------------------------------------


def test_index_returns_matching_keys_in_insertion_order():
    index = PolicyIndex()
    index.add("c", policy({"kind": ["order"]}))
    index.add("a", policy({"kind": ["refund"]}))
    index.add("b", policy({"kind": [{"prefix": "ord"}]}))
    index.add("d", policy({"kind": ["order"]}, BODY))
    index.add("e", None)  # no policy: matches everything
    assert len(index) == 5 and "a" in index
    assert index.match({"kind": S("order")}, '{"kind": "order"}') == ["c", "b", "d", "e"]
    assert index.match({"kind": S("refund")}, "not json") == ["a", "e"]
    assert index.match({}, "") == ["e"]


def test_index_replace_keeps_place_and_remove_forgets():
    index = PolicyIndex()
    for key in "abc":
        index.add(key, policy({"k": ["v"]}))
    index.add("a", policy({"k": [{"prefix": "v"}]}))
    assert index.match({"k": S("v")}, "") == ["a", "b", "c"]
    index.remove("b")
    index.remove("never-added")
    assert index.match({"k": S("v")}, "") == ["a", "c"]
    index.add("b", policy({"k": ["v"]}))
    assert index.match({"k": S("v")}, "") == ["a", "c", "b"]
    for key in "abc":
        index.remove(key)
    assert len(index) == 0 and index.match({"k": S("v")}, "") == []


def test_index_reports_each_key_once():
    index = PolicyIndex()
    index.add("or", policy({"$or": [{"a": ["1"]}, {"b": ["2"]}]}))
    index.add("array", policy({"a": ["1", "2"]}))
    attributes = {"a": A(["1", "2"]), "b": S("2")}
    assert index.match(attributes, "") == ["or", "array"]


def test_index_scan_and_path_anchors():
    index = PolicyIndex()
    index.add("absent", policy({"x": [{"exists": False}]}))
    index.add("numeric", policy({"n": [{"numeric": [">", 5]}]}))
    index.add("body-absent", policy({"x": [{"exists": False}]}, BODY))
    assert index.match({"n": N(6)}, '{"n": 1}') == ["absent", "numeric", "body-absent"]
    assert index.match({"x": S("1")}, '{"x": 1}') == []
    assert index.match({"n": N(6)}, '"not an object"') == ["absent", "numeric"]


# --- property tests: FilterPolicy against a naive reference, PolicyIndex against brute force ---


def _ref_is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ref_same(value: Any, literal: Any) -> bool:
    if isinstance(literal, str):
        return isinstance(value, str) and value == literal
    if _ref_is_number(literal):
        return _ref_is_number(value) and value == literal
    return value is literal  # true, false, null


def _ref_string_op(op: str, arg: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if op == "prefix":
        return value.startswith(arg)
    if op == "suffix":
        return value.endswith(arg)
    if op == "equals-ignore-case":
        args = arg if isinstance(arg, list) else [arg]
        return any(value.lower() == a.lower() for a in args)
    if op == "wildcard":
        return (
            re.fullmatch(".*".join(re.escape(p) for p in arg.split("*")), value, re.S) is not None
        )
    if op == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    raise AssertionError(op)


def _ref_value_test(op: str, arg: Any, value: Any) -> bool:
    if op == "numeric":
        if not _ref_is_number(value):
            return False
        compare = {
            "=": lambda x: value == x,
            "<": lambda x: value < x,
            "<=": lambda x: value <= x,
            ">": lambda x: value > x,
            ">=": lambda x: value >= x,
        }
        return all(compare[arg[i]](arg[i + 1]) for i in range(0, len(arg), 2))
    if op == "anything-but":
        if isinstance(arg, dict):
            ((inner_op, inner_arg),) = arg.items()
            return not _ref_string_op(inner_op, inner_arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_ref_same(value, e) for e in excluded)
    return _ref_string_op(op, arg, value)


def _ref_is_or(value: Any) -> bool:
    operators = {
        "prefix",
        "suffix",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "equals-ignore-case",
        "wildcard",
        "exact",
    }
    return (
        isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(v, dict) and not (set(v) & operators) for v in value)
    )


def _ref_leaves(value: Any, path: str):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _ref_leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from _ref_leaves(v, path)
    else:
        yield path, value


def _ref_attribute_values(attribute: dict[str, Any]) -> list[Any]:
    data_type = attribute["DataType"]
    if data_type == "String.Array":
        return json.loads(attribute["StringValue"])
    if data_type == "Number":
        return [float(attribute["StringValue"])]
    if data_type == "String":
        return [attribute["StringValue"]]
    return []


def reference_matches(
    document: dict[str, Any], scope: str, attributes: dict[str, Any], body_text: str
) -> bool:
    """The filter language evaluated in the most direct way there is."""
    if scope == BODY:
        try:
            body = json.loads(body_text)
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        pairs = list(_ref_leaves(body, ""))

        def values(path):
            return [v for p, v in pairs if p == path]

        def present(path):
            return any(v is not None for v in values(path))

        empty = not body
    else:

        def values(path):
            return _ref_attribute_values(attributes[path]) if path in attributes else []

        def present(path):
            return path in attributes

        empty = not attributes

    def condition_holds(path, condition):
        if isinstance(condition, dict):
            ((op, arg),) = condition.items()
            if op == "exists":
                return present(path) if arg else (not present(path) and not empty)
            return any(_ref_value_test(op, arg, v) for v in values(path))
        return any(_ref_same(v, condition) for v in values(path))

    def object_holds(obj, prefix):
        for key, value in obj.items():
            if key == "$or" and _ref_is_or(value):
                if not any(object_holds(alt, prefix) for alt in value):
                    return False
                continue
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if not object_holds(value, path):
                    return False
            elif not any(condition_holds(path, c) for c in value):
                return False
        return True

    return object_holds(document, "")


# Small alphabets, so generated policies and messages overlap and a good share match.
KEYS = ["a", "b", "c"]
BODY_KEYS = ["a", "b", "a.b"]
STRINGS = ["x", "y", "xy", "Xy", "10.0.0.7", "::1"]
NUMBERS = [0, 1, 1.5, -1]
LITERALS = [True, False, None]

conditions = st.one_of(
    st.sampled_from(STRINGS),
    st.sampled_from(NUMBERS),
    st.sampled_from(LITERALS),
    st.sampled_from(["x", "X", "1", ""]).map(lambda s: {"prefix": s}),
    st.sampled_from(["y", "Y", "1", ""]).map(lambda s: {"suffix": s}),
    st.sampled_from(["XY", "x", "yX"]).map(lambda s: {"equals-ignore-case": s}),
    st.sampled_from(["x*", "*y", "*", "x*y", "1*1", "*.*"]).map(lambda s: {"wildcard": s}),
    st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "::/64"]).map(lambda s: {"cidr": s}),
    st.sampled_from(
        [
            ["=", 1],
            ["<", 1],
            ["<=", 1.5],
            [">", 0],
            [">=", 2],
            [">", 0, "<", 2],
            [">=", -1, "<=", 1.5],
        ]
    ).map(lambda spec: {"numeric": spec}),
    st.booleans().map(lambda b: {"exists": b}),
    st.sampled_from(
        [
            "x",
            1,
            ["x", "y"],
            [0, 1.5],
            {"prefix": "x"},
            {"suffix": "y"},
            {"wildcard": "*y"},
            {"equals-ignore-case": "XY"},
            {"equals-ignore-case": ["x", "Y"]},
        ]
    ).map(lambda arg: {"anything-but": arg}),
)
# Conditions PolicyIndex can look up from a message value (it files keys made only of these).
probeable_conditions = st.one_of(
    st.sampled_from(STRINGS),
    st.sampled_from(NUMBERS),
    st.sampled_from(["x", "X", "1", ""]).map(lambda s: {"prefix": s}),
    st.sampled_from(["y", "Y", "1", "xy", ""]).map(lambda s: {"suffix": s}),
    st.sampled_from(["XY", "x", "yX"]).map(lambda s: {"equals-ignore-case": s}),
    st.sampled_from(["x*", "*y", "Xy", "1*1", "*.*"]).map(lambda s: {"wildcard": s}),
)


@st.composite
def attribute_policies(draw, conditions=conditions):
    arrays = st.lists(conditions, min_size=1, max_size=3)
    small = st.lists(conditions, min_size=1, max_size=2)
    keys = draw(st.lists(st.sampled_from(KEYS[:2]), min_size=1, max_size=2, unique=True))
    doc: dict[str, Any] = {k: draw(arrays) for k in keys}
    if draw(st.booleans()):
        doc["$or"] = [
            {
                k: draw(small)
                for k in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True))
            }
            for _ in range(2)
        ]
    return doc


@st.composite
def body_policies(draw, conditions=conditions):
    arrays = st.lists(conditions, min_size=1, max_size=3)
    small = st.lists(conditions, min_size=1, max_size=2)
    values = st.one_of(
        arrays, st.dictionaries(st.sampled_from(BODY_KEYS), arrays, min_size=1, max_size=2)
    )
    doc = draw(st.dictionaries(st.sampled_from(BODY_KEYS), values, min_size=1, max_size=2))
    if draw(st.booleans()):
        doc["$or"] = [
            draw(st.dictionaries(st.sampled_from(BODY_KEYS), small, min_size=1, max_size=2))
            for _ in range(2)
        ]
    return doc


scalars = st.one_of(st.sampled_from(STRINGS), st.sampled_from(NUMBERS), st.sampled_from(LITERALS))

attributes = st.dictionaries(
    st.sampled_from(KEYS),
    st.one_of(
        st.sampled_from(STRINGS).map(S),
        st.sampled_from(NUMBERS).map(N),
        st.lists(scalars, max_size=3).map(A),
        st.just(B()),
    ),
    max_size=3,
)

json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(BODY_KEYS), inner, max_size=3),
    ),
    max_leaves=4,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(BODY_KEYS), json_values, min_size=1, max_size=3).map(
        json.dumps
    ),
    st.sampled_from(["plain text", "[1, 2]", '"a"', "{}"]),
)

policies = st.one_of(
    attribute_policies().map(lambda d: (d, ATTRS)),
    body_policies().map(lambda d: (d, BODY)),
)
_mostly_probeable = st.one_of(probeable_conditions, probeable_conditions, conditions)
index_policies = st.one_of(
    attribute_policies(_mostly_probeable).map(lambda d: (d, ATTRS)),
    body_policies(_mostly_probeable).map(lambda d: (d, BODY)),
)

# Values a message may carry: the alphabets plus near-misses of the policy arguments.
WITNESS_POOL = [
    *STRINGS,
    *NUMBERS,
    *LITERALS,
    "xz",
    "zy",
    "XY",
    "Y",
    "10.0.0.200",
    "::2",
    0.5,
    2,
    3,
]


def _witnesses(condition: Any) -> list[Any]:
    """The pool values that satisfy ``condition`` according to the reference."""
    if isinstance(condition, dict):
        ((op, arg),) = condition.items()
        if op == "exists":
            return []
        return [v for v in WITNESS_POOL if _ref_value_test(op, arg, v)]
    return [v for v in WITNESS_POOL if _ref_same(v, condition)]


def _near_misses(condition: Any) -> list[Any]:
    """Values at the edge of ``condition``: bounds, other types, other cases, nulls."""
    if not isinstance(condition, dict):
        if isinstance(condition, str):
            return [condition, condition.upper(), None]
        if _ref_is_number(condition):
            return [condition, str(condition), True]
        return [condition, json.dumps(condition), None]
    ((op, arg),) = condition.items()
    if op == "numeric":
        return [x for x in arg if _ref_is_number(x)]
    if op == "exists":
        return [None, "x", []]
    if op == "anything-but":
        if isinstance(arg, dict):
            ((_, inner),) = arg.items()
            return [*(inner if isinstance(inner, list) else [inner]), None, 1]
        return [*(arg if isinstance(arg, list) else [arg]), None]
    if op == "cidr":
        return ["10.0.0.255", "10.0.1.0", "::1", "::", "10.0.0.0"]
    if op == "wildcard":
        return [arg.replace("*", ""), arg.replace("*", "zz"), arg.upper()]
    return [arg, arg.upper(), arg + "z", "z" + arg, 1]


def _policy_keys(obj: dict[str, Any], prefix: str):
    """Every (path, conditions) of a policy, in every $or branch."""
    for key, value in obj.items():
        if key == "$or" and _ref_is_or(value):
            for alternative in value:
                yield from _policy_keys(alternative, prefix)
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _policy_keys(value, path)
        else:
            yield path, value


def _place(container: dict[str, Any], keys: list[str], value: Any) -> None:
    """Put ``value`` at ``keys``; on a clash keep both in an array (arrays flatten anyway)."""
    key, rest = keys[0], keys[1:]
    if not rest:
        container[key] = [container[key], value] if key in container else value
        return
    child = container.get(key)
    if isinstance(child, dict):
        _place(child, rest, value)
    elif key not in container:
        container[key] = {}
        _place(container[key], rest, value)
    else:
        fresh: dict[str, Any] = {}
        _place(fresh, rest, value)
        container[key] = [child, fresh]


def _as_attribute(value: Any, extra: Any, as_array: bool) -> dict[str, Any]:
    if isinstance(value, list | dict):
        return B()
    if as_array or not isinstance(value, str | int | float) or isinstance(value, bool):
        return A([value, extra])
    return S(value) if isinstance(value, str) else N(value)


@st.composite
def messages_for(draw, document: dict[str, Any], scope: str) -> tuple[dict[str, Any], str]:
    """A message that satisfies the policy's keys, except perhaps one *probed* key, which gets a
    near miss (a bound, another type, another case, a null) so that key decides the outcome."""
    keys = list(_policy_keys(document, ""))
    probed = draw(st.integers(-1, len(keys) - 1))
    chosen: list[tuple[str, Any]] = []
    for i, (path, conditions) in enumerate(keys):
        if i != probed and draw(st.integers(0, 7)) == 0:
            continue  # leave the key out
        condition = draw(st.sampled_from(conditions))
        if i == probed:
            candidates = _near_misses(condition) if draw(st.integers(0, 3)) else WITNESS_POOL
        else:
            candidates = _witnesses(condition) or WITNESS_POOL
        chosen.append((path, draw(st.sampled_from(candidates))))
    if scope == ATTRS:
        message = draw(attributes) if draw(st.booleans()) else {}
        for path, value in chosen:
            message[path] = _as_attribute(value, draw(scalars), draw(st.integers(0, 3)) == 0)
        body_text = draw(bodies)
        return message, body_text
    body: dict[str, Any] = {}
    for path, value in chosen:
        if draw(st.integers(0, 3)) == 0:
            value = [draw(scalars), value]
        keys = [path] if draw(st.booleans()) else path.split(".")
        _place(body, keys, value)
    if draw(st.booleans()):
        body["c"] = draw(json_values)  # noise no policy key looks at
    return draw(attributes), json.dumps(body)


def _parse_or_discard(document: dict[str, Any], scope: str) -> FilterPolicy:
    try:
        return FilterPolicy.parse(json.dumps(document), scope)
    except InvalidParameter as exc:  # only the limits may reject a generated policy
        assert "too complex" in exc.message or "more than 5 keys" in exc.message, exc.message
        assume(False)
        raise


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, st.data())
def test_policy_agrees_with_reference(scoped_policy, data):
    document, scope = scoped_policy
    compiled = _parse_or_discard(document, scope)
    if data.draw(st.integers(0, 4)):
        message_attributes, body_text = data.draw(messages_for(document, scope))
    else:
        message_attributes, body_text = data.draw(attributes), data.draw(bodies)
    expected = reference_matches(document, scope, message_attributes, body_text)
    assert compiled.matches(message_attributes, body_text) == expected


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 7), index_policies | st.none()),
        st.tuples(st.just("remove"), st.integers(0, 7), st.none()),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations, st.data())
def test_index_agrees_with_brute_force(ops, data):
    added = [scoped for op, _, scoped in ops if scoped is not None]
    messages = []
    for _ in range(data.draw(st.integers(1, 6))):
        if added and data.draw(st.integers(0, 3)):
            messages.append(data.draw(messages_for(*data.draw(st.sampled_from(added)))))
        else:
            messages.append((data.draw(attributes), data.draw(bodies)))

    index = PolicyIndex()
    model: dict[int, FilterPolicy | None] = {}  # a dict keeps insertion order, like the index

    def check() -> None:
        for message_attributes, body_text in messages:
            expected = [
                k for k, p in model.items() if p is None or p.matches(message_attributes, body_text)
            ]
            assert index.match(message_attributes, body_text) == expected
        assert len(index) == len(model)

    for op, key, scoped_policy in ops:
        if op == "remove":
            index.remove(key)
            model.pop(key, None)
        else:
            compiled = None if scoped_policy is None else _parse_or_discard(*scoped_policy)
            index.add(key, compiled)
            model[key] = compiled
        check()
