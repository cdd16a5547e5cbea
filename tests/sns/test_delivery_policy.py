"""SNS delivery policies (broker/sns/delivery_policy.py): AWS's figures, validation, merging.

The figures come from the AWS developer guide, "Amazon SNS message delivery retries": the
built-in policies per endpoint type, the HTTP/S defaults and limits, and the worked example of
the default policy with ``maxDelayTarget`` 40 (retries after 20, 30 and 40 seconds).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from msgsim.broker import limits
from msgsim.broker.errors import InvalidParameter
from msgsim.broker.sns import delivery_policy as dp
from msgsim.broker.sns.delivery_policy import (
    AWS_MANAGED,
    CUSTOMER_MANAGED,
    EMPTY,
    HTTP_DEFAULT,
    DeliveryPolicy,
    RetryPolicy,
    effective_delivery_policy,
    effective_policy_json,
    parse_subscription_delivery_policy,
    parse_topic_delivery_policy,
)

DAY = 86_400
HOUR = 3_600


def sub_policy(**healthy) -> str:
    return json.dumps({"healthyRetryPolicy": healthy})


def topic_policy(**healthy) -> str:
    return json.dumps({"http": {"defaultHealthyRetryPolicy": healthy}})


# ------------------------------------------------------------------------ built-in policies
def test_aws_managed_policy_matches_the_table():
    # SQS, Lambda: 3 immediate, 2 at 1 s, 10 backing off 1 -> 20 s, 100,000 at 20 s.
    p = AWS_MANAGED
    assert p.num_retries == 100_015
    assert p.total_attempts == 100_016
    assert p.num_backoff_retries == 10
    delays = list(p.delays())
    assert len(delays) == 100_015
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:5] == [1.0, 1.0]
    backoff = delays[5:15]
    assert backoff[0] == 1.0 and backoff[-1] == 20.0
    assert backoff == sorted(backoff)
    assert set(delays[15:]) == {20.0}
    assert math.isclose(p.total_delay, math.fsum(delays))
    assert 23 * DAY < p.total_delay < 24 * DAY  # "100,015 times, over 23 days"


def test_customer_managed_policy_matches_the_table():
    # SMTP, SMS, mobile push: 0 immediate, 2 at 10 s, 10 backing off 10 -> 600 s, 38 at 600 s.
    p = CUSTOMER_MANAGED
    assert p.num_retries == 50
    assert p.num_backoff_retries == 10
    delays = list(p.delays())
    assert delays[:2] == [10.0, 10.0]
    assert delays[2] == 10.0 and delays[11] == 600.0
    assert set(delays[12:]) == {600.0} and len(delays[12:]) == 38
    assert 6 * HOUR < p.total_delay < 8 * HOUR  # "50 attempts, over 6 hours"


def test_http_default_is_three_retries_twenty_seconds_apart():
    assert list(HTTP_DEFAULT.delays()) == [20.0, 20.0, 20.0]
    assert HTTP_DEFAULT.total_attempts == 4
    assert HTTP_DEFAULT.total_delay == 60.0
    assert parse_subscription_delivery_policy("{}").healthy == HTTP_DEFAULT
    assert parse_topic_delivery_policy('{"http": {}}').healthy == HTTP_DEFAULT


def test_linear_backoff_reproduces_the_guides_example():
    # The default policy with maxDelayTarget 40: retries after 20, 30 and 40 seconds.
    p = parse_subscription_delivery_policy(sub_policy(maxDelayTarget=40))
    assert list(p.healthy.delays()) == [20.0, 30.0, 40.0]


def test_backoff_functions_keep_the_order_of_the_guides_graph():
    # 10 retries from 5 to 260 seconds: linear lowest, exponential reaching the maximum soonest.
    curves = {
        fn: list(
            RetryPolicy(
                min_delay_target=5, max_delay_target=260, num_retries=10, backoff_function=fn
            ).delays()
        )
        for fn in dp.BACKOFF_FUNCTIONS
    }
    for fn, delays in curves.items():
        assert delays[0] == 5.0 and delays[-1] == 260.0, fn
        assert delays == sorted(delays), fn
    for k in range(1, 9):
        assert curves["linear"][k] < curves["arithmetic"][k] < curves["exponential"][k]
        assert curves["linear"][k] < curves["geometric"][k] < curves["exponential"][k]


def test_phases_follow_each_other():
    p = RetryPolicy(
        min_delay_target=2,
        max_delay_target=9,
        num_retries=9,
        num_no_delay_retries=2,
        num_min_delay_retries=2,
        num_max_delay_retries=2,
        backoff_function="linear",
    )
    assert list(p.delays()) == [0.0, 0.0, 2.0, 2.0, 2.0, 5.5, 9.0, 9.0, 9.0]


def test_a_single_backoff_retry_waits_the_minimum():
    p = RetryPolicy(min_delay_target=3, max_delay_target=30, num_retries=1)
    assert list(p.delays()) == [3.0]


@pytest.mark.parametrize("retry", [0, -1, 4])
def test_delay_outside_the_schedule_is_a_programming_error(retry):
    with pytest.raises(ValueError):
        HTTP_DEFAULT.delay(retry)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_delay_target": 30, "max_delay_target": 20, "num_retries": 3},
        {"min_delay_target": 1, "max_delay_target": 2, "num_retries": 1, "num_no_delay_retries": 2},
        {"min_delay_target": 1, "max_delay_target": 2, "num_retries": -1},
        {
            "min_delay_target": 1,
            "max_delay_target": 2,
            "num_retries": 1,
            "backoff_function": "cubic",
        },
    ],
)
def test_retry_policy_rejects_impossible_schedules(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# --------------------------------------------------------------------------------- parsing
def test_the_guides_full_example_parses():
    text = json.dumps(
        {
            "healthyRetryPolicy": {
                "minDelayTarget": 1,
                "maxDelayTarget": 60,
                "numRetries": 50,
                "numNoDelayRetries": 3,
                "numMinDelayRetries": 2,
                "numMaxDelayRetries": 35,
                "backoffFunction": "exponential",
            },
            "throttlePolicy": {"maxReceivesPerSecond": 10},
            "requestPolicy": {"headerContentType": "application/json"},
        }
    )
    p = parse_subscription_delivery_policy(text)
    assert p.healthy == RetryPolicy(
        min_delay_target=1,
        max_delay_target=60,
        num_retries=50,
        num_no_delay_retries=3,
        num_min_delay_retries=2,
        num_max_delay_retries=35,
        backoff_function="exponential",
    )
    assert p.max_receives_per_second == 10
    assert p.header_content_type == "application/json"
    assert p.given == {"healthyRetryPolicy", "throttlePolicy", "requestPolicy"}
    assert p.healthy.total_delay <= limits.SNS_DELIVERY_POLICY_TOTAL_RETRY_TIME_MAX


def test_topic_policy_parses_every_member():
    text = json.dumps(
        {
            "http": {
                "defaultHealthyRetryPolicy": {
                    "minDelayTarget": 5,
                    "maxDelayTarget": 50,
                    "numRetries": 10,
                    "backoffFunction": "geometric",
                },
                "disableSubscriptionOverrides": True,
                "defaultThrottlePolicy": {"maxReceivesPerSecond": 3},
                "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
            }
        }
    )
    p = parse_topic_delivery_policy(text)
    assert p.healthy.backoff_function == "geometric"
    assert p.healthy.num_retries == 10
    assert p.disable_subscription_overrides is True
    assert p.max_receives_per_second == 3
    assert p.header_content_type == "text/plain; charset=UTF-8"


def test_missing_and_null_members_take_aws_defaults():
    p = parse_subscription_delivery_policy(
        '{"healthyRetryPolicy": {"numRetries": 5, "backoffFunction": null},'
        ' "sicklyRetryPolicy": null, "throttlePolicy": null, "guaranteed": false}'
    )
    assert p.healthy == RetryPolicy(min_delay_target=20, max_delay_target=20, num_retries=5)
    assert p.max_receives_per_second is None
    assert p.header_content_type is None
    assert p.given == {"healthyRetryPolicy"}


def test_empty_text_is_no_policy():
    assert parse_subscription_delivery_policy("") == EMPTY
    assert parse_topic_delivery_policy("  ") == EMPTY
    assert parse_topic_delivery_policy('{"http": null}') == EMPTY


def test_sickly_policy_and_guaranteed_are_kept_as_given():
    p = parse_subscription_delivery_policy(
        '{"sicklyRetryPolicy": {"minDelayTarget": 2, "whatever": [1, 2]}, "guaranteed": true}'
    )
    assert json.loads(p.sickly_retry_policy) == {"minDelayTarget": 2, "whatever": [1, 2]}
    assert p.guaranteed is True
    shown = json.loads(effective_policy_json(effective_delivery_policy(None, p)))
    assert shown["sicklyRetryPolicy"] == {"minDelayTarget": 2, "whatever": [1, 2]}
    assert shown["guaranteed"] is True


def test_integral_floats_count_as_integers():
    p = parse_subscription_delivery_policy(sub_policy(minDelayTarget=5.0, numRetries=2.0))
    assert p.healthy.min_delay_target == 5 and p.healthy.num_retries == 2


def test_backoff_function_names_ignore_case():
    p = parse_subscription_delivery_policy(sub_policy(backoffFunction="EXPONENTIAL"))
    assert p.healthy.backoff_function == "exponential"


@pytest.mark.parametrize(
    ("healthy", "reason"),
    [
        (
            {"minDelayTarget": 0},
            "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1",
        ),
        (
            {"minDelayTarget": 3601, "maxDelayTarget": 3600},
            "healthyRetryPolicy.minDelayTarget must be less than or equal to 3600",
        ),
        (
            {"maxDelayTarget": 3601},
            "healthyRetryPolicy.maxDelayTarget must be less than or equal to 3600",
        ),
        (
            {"maxDelayTarget": 0},
            "healthyRetryPolicy.maxDelayTarget must be greater than or equal to 1",
        ),
        (
            {"minDelayTarget": 30, "maxDelayTarget": 20},
            "healthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget",
        ),
        ({"numRetries": 101}, "healthyRetryPolicy.numRetries must be less than or equal to 100"),
        ({"numRetries": -1}, "healthyRetryPolicy.numRetries must be greater than or equal to 0"),
        (
            {
                "numRetries": 3,
                "numNoDelayRetries": 2,
                "numMinDelayRetries": 1,
                "numMaxDelayRetries": 1,
            },
            "healthyRetryPolicy.numRetries must be greater than or equal to total of",
        ),
        (
            {"numNoDelayRetries": -1},
            "healthyRetryPolicy.numNoDelayRetries must be greater than or equal to 0",
        ),
        (
            {"numMinDelayRetries": -2},
            "healthyRetryPolicy.numMinDelayRetries must be greater than or equal to 0",
        ),
        (
            {"numMaxDelayRetries": -3},
            "healthyRetryPolicy.numMaxDelayRetries must be greater than or equal to 0",
        ),
        ({"backoffFunction": "cubic"}, "healthyRetryPolicy.backoffFunction must be one of"),
        ({"backoffFunction": 3}, "healthyRetryPolicy.backoffFunction must be one of"),
        ({"numRetries": "3"}, "healthyRetryPolicy.numRetries must be an integer"),
        ({"numRetries": 2.5}, "healthyRetryPolicy.numRetries must be an integer"),
        ({"minDelayTarget": True}, "healthyRetryPolicy.minDelayTarget must be an integer"),
        (
            {"minDelayTarget": 60, "maxDelayTarget": 60, "numRetries": 61},
            "the total retry time of the policy (3660 seconds) must be less than or equal to 3600",
        ),
        ({"minDelay": 20}, "Unexpected JSON member: minDelay"),
    ],
)
def test_invalid_retry_policies(healthy, reason):
    with pytest.raises(InvalidParameter) as info:
        parse_subscription_delivery_policy(json.dumps({"healthyRetryPolicy": healthy}))
    assert info.value.code == "InvalidParameter"
    assert info.value.message.startswith("Invalid parameter: DeliveryPolicy: ")
    assert reason in info.value.message
    # The same rule on a topic, with the topic's path.
    with pytest.raises(InvalidParameter) as info:
        parse_topic_delivery_policy(json.dumps({"http": {"defaultHealthyRetryPolicy": healthy}}))
    assert reason.replace("healthyRetryPolicy", "http.defaultHealthyRetryPolicy") in (
        info.value.message
    )


def test_numretries_over_100_reads_as_aws_says_it():
    with pytest.raises(InvalidParameter) as info:
        parse_topic_delivery_policy(topic_policy(numRetries=101))
    assert info.value.message == (
        "Invalid parameter: DeliveryPolicy: "
        "http.defaultHealthyRetryPolicy.numRetries must be less than or equal to 100"
    )
    with pytest.raises(InvalidParameter) as info:
        parse_subscription_delivery_policy(sub_policy(minDelayTarget=0))
    assert info.value.message == (
        "Invalid parameter: DeliveryPolicy: "
        "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "failed to parse JSON"),
        ('{"a": NaN}', "failed to parse JSON"),
        ("[" * 100_000, "failed to parse JSON"),
        ("[]", "the policy must be a JSON object"),
        ("null", "the policy must be a JSON object"),
        ('"text"', "the policy must be a JSON object"),
        ('{"healthyRetryPolicy": 5}', "healthyRetryPolicy must be a JSON object"),
        (
            '{"throttlePolicy": {"maxReceivesPerSecond": 0}}',
            "throttlePolicy.maxReceivesPerSecond must be greater than or equal to 1",
        ),
        (
            '{"throttlePolicy": {"maxReceivesPerSecond": "fast"}}',
            "throttlePolicy.maxReceivesPerSecond must be an integer",
        ),
        ('{"throttlePolicy": {"rate": 1}}', "Unexpected JSON member: rate"),
        (
            '{"requestPolicy": {"headerContentType": "text/bogus"}}',
            "requestPolicy.headerContentType must be one of",
        ),
        (
            '{"requestPolicy": {"headerContentType": 7}}',
            "requestPolicy.headerContentType must be one of",
        ),
        ('{"sicklyRetryPolicy": []}', "sicklyRetryPolicy must be a JSON object"),
        ('{"guaranteed": "yes"}', "guaranteed must be a boolean"),
        ('{"http": {}}', "Unexpected JSON member: http"),
        ('{"defaultHealthyRetryPolicy": {}}', "Unexpected JSON member: defaultHealthyRetryPolicy"),
    ],
)
def test_invalid_subscription_policies(text, reason):
    with pytest.raises(InvalidParameter) as info:
        parse_subscription_delivery_policy(text)
    assert info.value.message.startswith("Invalid parameter: DeliveryPolicy: ")
    assert reason in info.value.message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"healthyRetryPolicy": {}}', "Unexpected JSON member: healthyRetryPolicy"),
        ('{"http": {"throttlePolicy": {}}}', "Unexpected JSON member: throttlePolicy"),
        ('{"http": []}', "http must be a JSON object"),
        (
            '{"http": {"disableSubscriptionOverrides": "true"}}',
            "http.disableSubscriptionOverrides must be a boolean",
        ),
        (
            '{"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": -5}}}',
            "http.defaultThrottlePolicy.maxReceivesPerSecond must be greater than or equal to 1",
        ),
        # A topic's policy only takes the two envelope content types.
        (
            '{"http": {"defaultRequestPolicy": {"headerContentType": "text/csv"}}}',
            "http.defaultRequestPolicy.headerContentType must be one of: application/json, "
            "text/plain",
        ),
    ],
)
def test_invalid_topic_policies(text, reason):
    with pytest.raises(InvalidParameter) as info:
        parse_topic_delivery_policy(text)
    assert reason in info.value.message


def test_content_types_by_raw_delivery():
    # A subscription's policy may name a raw-delivery type; whether it suits the subscription
    # depends on RawMessageDelivery.
    p = parse_subscription_delivery_policy('{"requestPolicy": {"headerContentType": "text/csv"}}')
    assert p.header_content_type == "text/csv"
    assert dp.header_content_type_allowed("text/csv", raw_message_delivery=True)
    assert not dp.header_content_type_allowed("text/csv", raw_message_delivery=False)
    assert dp.header_content_type_allowed(
        "application/json; charset=UTF-8", raw_message_delivery=False
    )
    assert dp.header_content_type_allowed("Text/Plain", raw_message_delivery=False)
    assert not dp.header_content_type_allowed("text/bogus", raw_message_delivery=True)


# ------------------------------------------------------------------------ effective policies
DEFAULT_TOPIC_JSON = (
    '{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,'
    '"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,'
    '"backoffFunction":"linear"},"disableSubscriptionOverrides":false,'
    '"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}'
)
DEFAULT_SUBSCRIPTION_JSON = (
    '{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,'
    '"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,'
    '"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,'
    '"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"},"guaranteed":false}'
)


def test_default_effective_policies_read_as_aws_shows_them():
    effective = effective_delivery_policy(None, None)
    assert effective.healthy == HTTP_DEFAULT
    assert effective.header_content_type == "text/plain; charset=UTF-8"
    assert effective_policy_json(effective, level="topic") == DEFAULT_TOPIC_JSON
    assert effective_policy_json(effective) == DEFAULT_SUBSCRIPTION_JSON
    with pytest.raises(ValueError):
        effective_policy_json(effective, level="queue")  # type: ignore[arg-type]


def test_topic_throttle_shows_before_the_request_policy():
    topic = parse_topic_delivery_policy(
        '{"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": 4}}}'
    )
    shown = effective_policy_json(effective_delivery_policy(topic, None), level="topic")
    assert list(json.loads(shown)["http"]) == [
        "defaultHealthyRetryPolicy",
        "disableSubscriptionOverrides",
        "defaultThrottlePolicy",
        "defaultRequestPolicy",
    ]
    assert json.loads(effective_policy_json(effective_delivery_policy(topic, None)))[
        "throttlePolicy"
    ] == {"maxReceivesPerSecond": 4}


def test_subscription_policy_overrides_the_topic_section_by_section():
    topic = parse_topic_delivery_policy(
        json.dumps(
            {
                "http": {
                    "defaultHealthyRetryPolicy": {"numRetries": 7},
                    "defaultThrottlePolicy": {"maxReceivesPerSecond": 2},
                    "defaultRequestPolicy": {"headerContentType": "application/json"},
                }
            }
        )
    )
    sub = parse_subscription_delivery_policy(
        '{"healthyRetryPolicy": {"numRetries": 1}, "requestPolicy": {"headerContentType": "text/xml"}}'
    )
    effective = effective_delivery_policy(topic, sub)
    assert effective.healthy.num_retries == 1  # the subscription's
    assert effective.header_content_type == "text/xml"  # the subscription's
    assert effective.max_receives_per_second == 2  # the topic's: the subscription set none
    assert effective_delivery_policy(topic, None).healthy.num_retries == 7
    assert effective_delivery_policy(None, sub).max_receives_per_second is None


def test_disable_subscription_overrides_makes_the_topic_win():
    topic = parse_topic_delivery_policy(
        '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 7},'
        ' "disableSubscriptionOverrides": true}}'
    )
    sub = parse_subscription_delivery_policy(
        '{"healthyRetryPolicy": {"numRetries": 1}, "throttlePolicy": {"maxReceivesPerSecond": 9},'
        ' "guaranteed": true}'
    )
    effective = effective_delivery_policy(topic, sub)
    assert effective.healthy.num_retries == 7
    assert effective.max_receives_per_second is None
    assert effective.guaranteed is False
    assert effective.disable_subscription_overrides is True
    assert (
        json.loads(effective_policy_json(effective, level="topic"))["http"][
            "disableSubscriptionOverrides"
        ]
        is True
    )


def test_effective_policy_of_an_empty_subscription_policy_is_the_topics():
    topic = parse_topic_delivery_policy(topic_policy(numRetries=9, maxDelayTarget=30))
    assert effective_delivery_policy(topic, EMPTY) == effective_delivery_policy(topic, None)


# ---------------------------------------------------------------------- property-based tests
@st.composite
def retry_policies(draw, max_retries: int = 120, max_delay: int = 4_000) -> RetryPolicy:
    low = draw(st.integers(0, max_delay))
    high = draw(st.integers(low, max_delay))
    retries = draw(st.integers(0, max_retries))
    no_delay = draw(st.integers(0, retries))
    min_delay = draw(st.integers(0, retries - no_delay))
    max_delay_retries = draw(st.integers(0, retries - no_delay - min_delay))
    return RetryPolicy(
        min_delay_target=low,
        max_delay_target=high,
        num_retries=retries,
        num_no_delay_retries=no_delay,
        num_min_delay_retries=min_delay,
        num_max_delay_retries=max_delay_retries,
        backoff_function=draw(st.sampled_from(dp.BACKOFF_FUNCTIONS)),
    )


@given(retry_policies())
def test_schedule_properties(policy):
    delays = list(policy.delays())
    assert len(delays) == policy.num_retries
    no_delay = policy.num_no_delay_retries
    assert all(d == 0.0 for d in delays[:no_delay])
    low, high = policy.min_delay_target, policy.max_delay_target
    assert all(low <= d <= high for d in delays[no_delay:])
    # Immediate, then the minimum, then the backoff curve, then the maximum: never decreasing.
    assert delays == sorted(delays)
    start = no_delay + policy.num_min_delay_retries
    backoff = delays[start : start + policy.num_backoff_retries]
    if backoff:
        assert backoff[0] == low
    if len(backoff) > 1:
        assert backoff[-1] == high
    assert math.isclose(policy.total_delay, math.fsum(delays), rel_tol=1e-9, abs_tol=1e-9)
    assert policy.total_attempts == policy.num_retries + 1


def _policy_members(policy: RetryPolicy) -> dict[str, object]:
    return {
        "minDelayTarget": policy.min_delay_target,
        "maxDelayTarget": policy.max_delay_target,
        "numRetries": policy.num_retries,
        "numNoDelayRetries": policy.num_no_delay_retries,
        "numMinDelayRetries": policy.num_min_delay_retries,
        "numMaxDelayRetries": policy.num_max_delay_retries,
        "backoffFunction": policy.backoff_function,
    }


def _within_aws_limits(policy: RetryPolicy) -> bool:
    return (
        policy.min_delay_target >= 1
        and policy.max_delay_target <= 3_600
        and policy.num_retries <= 100
        and policy.total_delay <= 3_600
    )


@given(
    retry_policies(max_retries=100, max_delay=200),
    st.one_of(st.none(), st.integers(1, 10_000)),
    st.sampled_from(dp.HEADER_CONTENT_TYPES_RAW),
)
def test_valid_policies_parse_and_round_trip(policy, rate, content_type):
    assume(_within_aws_limits(policy))
    document = {
        "healthyRetryPolicy": _policy_members(policy),
        "throttlePolicy": None if rate is None else {"maxReceivesPerSecond": rate},
        "requestPolicy": {"headerContentType": content_type},
    }
    parsed = parse_subscription_delivery_policy(json.dumps(document))
    assert parsed.healthy == policy
    assert parsed.max_receives_per_second == rate
    assert parsed.header_content_type == content_type
    # What GetSubscriptionAttributes shows parses back to the same policy.
    effective = effective_delivery_policy(None, parsed)
    again = parse_subscription_delivery_policy(effective_policy_json(effective))
    assert effective_delivery_policy(None, again) == effective
    # The same retry policy on a topic, and GetTopicAttributes' view of it.
    topic = parse_topic_delivery_policy(
        json.dumps({"http": {"defaultHealthyRetryPolicy": _policy_members(policy)}})
    )
    assert topic.healthy == policy
    shown = effective_policy_json(effective_delivery_policy(topic, None), level="topic")
    assert parse_topic_delivery_policy(shown).healthy == policy


_MUTATIONS = st.sampled_from(
    [
        ("minDelayTarget", st.integers(max_value=0)),
        ("maxDelayTarget", st.integers(min_value=3_601)),
        ("numRetries", st.integers(min_value=101)),
        ("numRetries", st.integers(max_value=-1)),
        ("numNoDelayRetries", st.integers(max_value=-1)),
        ("numMinDelayRetries", st.integers(min_value=101)),
        ("numMaxDelayRetries", st.integers(min_value=101)),
        ("backoffFunction", st.text().filter(lambda s: s.lower() not in dp.BACKOFF_FUNCTIONS)),
        ("numRetries", st.one_of(st.text(), st.booleans(), st.lists(st.integers()))),
    ]
)


@given(retry_policies(max_retries=100, max_delay=200), st.data())
def test_invalid_policies_raise_invalid_parameter(policy, data):
    member, values = data.draw(_MUTATIONS)
    members = _policy_members(policy)
    members[member] = data.draw(values)
    with pytest.raises(InvalidParameter):
        parse_subscription_delivery_policy(json.dumps({"healthyRetryPolicy": members}))
    with pytest.raises(InvalidParameter):
        parse_topic_delivery_policy(json.dumps({"http": {"defaultHealthyRetryPolicy": members}}))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=20,
)
retry_members = st.dictionaries(st.sampled_from(sorted(_policy_members(HTTP_DEFAULT))), json_values)
subscription_documents = st.fixed_dictionaries(
    {},
    optional={
        "healthyRetryPolicy": retry_members | json_values,
        "sicklyRetryPolicy": json_values,
        "throttlePolicy": st.dictionaries(st.just("maxReceivesPerSecond"), json_values)
        | json_values,
        "requestPolicy": st.dictionaries(
            st.just("headerContentType"), st.sampled_from(dp.HEADER_CONTENT_TYPES_RAW) | json_values
        ),
        "guaranteed": json_values,
    },
)
topic_documents = st.fixed_dictionaries(
    {},
    optional={
        "http": st.fixed_dictionaries(
            {},
            optional={
                "defaultHealthyRetryPolicy": retry_members | json_values,
                "disableSubscriptionOverrides": json_values,
                "defaultThrottlePolicy": st.dictionaries(
                    st.just("maxReceivesPerSecond"), json_values
                ),
                "defaultRequestPolicy": st.dictionaries(st.just("headerContentType"), json_values),
            },
        )
        | json_values
    },
)


def _parses_or_is_invalid(parse, text: str) -> None:
    try:
        result = parse(text)
    except InvalidParameter as err:
        assert err.message.startswith("Invalid parameter: DeliveryPolicy: ")
    else:
        assert isinstance(result, DeliveryPolicy)
        # Whatever parses also renders.
        effective_policy_json(effective_delivery_policy(result, result))


@given(st.one_of(json_values, subscription_documents, topic_documents))
def test_fuzz_json_values_parse_or_raise_invalid_parameter(value):
    text = json.dumps(value)
    _parses_or_is_invalid(parse_subscription_delivery_policy, text)
    _parses_or_is_invalid(parse_topic_delivery_policy, text)


@given(st.text())
def test_fuzz_text_parses_or_raises_invalid_parameter(text):
    _parses_or_is_invalid(parse_subscription_delivery_policy, text)
    _parses_or_is_invalid(parse_topic_delivery_policy, text)
