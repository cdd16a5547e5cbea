"""SNS delivery policies: the retry schedule, throttle and content type of a delivery.

A delivery policy says how often and how fast SNS retries a notification that an endpoint failed
to take, how many deliveries per second a subscription may receive, and which ``Content-Type`` an
HTTP/S POST carries. This module is sans-IO: it parses and validates the ``DeliveryPolicy``
attribute of topics and subscriptions, merges the two into the policy that applies, renders the
``EffectiveDeliveryPolicy`` attribute, and computes retry delays. The runtime does the waiting.

Retries (AWS developer guide, "Amazon SNS message delivery retries"):

* A *retry* is an attempt after the first, failed one; ``numRetries`` counts them, so a policy
  makes at most ``1 + numRetries`` attempts.
* The retries run through four phases, in order: the *immediate* phase (``numNoDelayRetries``
  retries, no wait), the *pre-backoff* phase (``numMinDelayRetries`` retries, ``minDelayTarget``
  seconds apart), the *backoff* phase (``numRetries`` minus the three other counts, with waits
  that grow from ``minDelayTarget`` to ``maxDelayTarget`` by the ``backoffFunction``) and the
  *post-backoff* phase (``numMaxDelayRetries`` retries, ``maxDelayTarget`` seconds apart).
* Only HTTP/S subscriptions take a custom policy. SQS and Lambda endpoints follow
  :data:`AWS_MANAGED`; SMTP, SMS and mobile push follow :data:`CUSTOMER_MANAGED`; an HTTP/S
  subscription without a policy follows :data:`HTTP_DEFAULT` (3 retries, 20 seconds apart).
* AWS adds jitter to its retries. msgsim does not: the simulator replays a run from its seed, so
  a schedule is a pure function of the policy.

A topic's policy (``{"http": {"defaultHealthyRetryPolicy": ..., ...}}``) is the default of its
HTTP/S subscriptions; a subscription's own policy (``{"healthyRetryPolicy": ..., ...}``) takes
precedence unless the topic sets ``disableSubscriptionOverrides``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

import attrs

from .. import limits
from ..errors import InvalidParameter

__all__ = [
    "AWS_MANAGED",
    "BACKOFF_FUNCTIONS",
    "CUSTOMER_MANAGED",
    "EMPTY",
    "HEADER_CONTENT_TYPES_ENVELOPE",
    "HEADER_CONTENT_TYPES_RAW",
    "HTTP_DEFAULT",
    "DeliveryPolicy",
    "RetryPolicy",
    "effective_delivery_policy",
    "effective_policy_json",
    "header_content_type_allowed",
    "parse_subscription_delivery_policy",
    "parse_topic_delivery_policy",
]

#: The four backoff functions AWS offers, in the order its documentation lists them.
BACKOFF_FUNCTIONS: Final = ("arithmetic", "exponential", "geometric", "linear")

#: Media types a ``headerContentType`` may name when SNS posts its JSON envelope: on a topic's
#: policy, and on a subscription without raw message delivery.
HEADER_CONTENT_TYPES_ENVELOPE: Final = ("application/json", "text/plain")
#: Media types a subscription with raw message delivery may name.
HEADER_CONTENT_TYPES_RAW: Final = (
    "text/css",
    "text/csv",
    "text/html",
    "text/plain",
    "text/xml",
    "application/atom+xml",
    "application/json",
    "application/octet-stream",
    "application/soap+xml",
    "application/x-www-form-urlencoded",
    "application/xhtml+xml",
    "application/xml",
)

# Section names, as a subscription policy spells them; DeliveryPolicy.given holds these.
HEALTHY: Final = "healthyRetryPolicy"
SICKLY: Final = "sicklyRetryPolicy"
THROTTLE: Final = "throttlePolicy"
REQUEST: Final = "requestPolicy"

# Each backoff function's step ratio (see RetryPolicy): every step of the delay is this fraction
# of the step before.
_STEP_RATIO = {"geometric": 2.0 / 3.0, "exponential": 0.5}


def _non_negative(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """A retry schedule: AWS's ``healthyRetryPolicy``, with snake_case names for its members.

    The constructor checks only that the schedule makes sense (counts not negative, phases that
    fit in ``num_retries``, ``min_delay_target <= max_delay_target``); the limits AWS sets on
    HTTP/S policies (at most 100 retries, delays of 1 to 3,600 seconds) are checked by the
    parsers, because SNS's own policies for other protocols go far beyond them.

    **The backoff curve.** AWS pins the ends of the backoff phase -- its first retry waits
    ``minDelayTarget``, its last ``maxDelayTarget`` -- and shows the four functions only as a
    graph (10 retries from 5 to 260 seconds): linear rises steadily, arithmetic and geometric
    rise faster than linear, and exponential rises fastest, reaching the maximum delay soonest.
    msgsim draws these shapes from the *steps* between consecutive backoff delays: with ``n``
    backoff retries, backoff retry ``k`` (0-based) waits ``min + (max - min) * f(k)`` with

    * linear: equal steps, ``f(k) = k / (n - 1)``;
    * arithmetic: steps that shrink by a constant amount, ``f(k) = 1 - (1 - k / (n - 1))**2``;
    * geometric: each step 2/3 of the step before, ``f(k) = (1 - q**k) / (1 - q**(n - 1))``
      with ``q = 2/3``;
    * exponential: each step half the step before, the same formula with ``q = 1/2``.

    So every curve starts at ``min`` and ends at ``max``, never decreases, and for AWS's graph
    the four come out in AWS's order. A backoff phase of a single retry waits ``min``. AWS's own
    example of the default policy with ``maxDelayTarget`` 40 (three linear retries after 20, 30
    and 40 seconds) comes out exactly.
    """

    min_delay_target: int = attrs.field(validator=_non_negative)
    max_delay_target: int = attrs.field(validator=_non_negative)
    num_retries: int = attrs.field(validator=_non_negative)
    num_no_delay_retries: int = attrs.field(default=0, validator=_non_negative)
    num_min_delay_retries: int = attrs.field(default=0, validator=_non_negative)
    num_max_delay_retries: int = attrs.field(default=0, validator=_non_negative)
    backoff_function: str = attrs.field(
        default="linear", validator=attrs.validators.in_(BACKOFF_FUNCTIONS)
    )

    def __attrs_post_init__(self) -> None:
        if self.min_delay_target > self.max_delay_target:
            raise ValueError("min_delay_target must not exceed max_delay_target")
        phases = self.num_no_delay_retries + self.num_min_delay_retries + self.num_max_delay_retries
        if phases > self.num_retries:
            raise ValueError("the phase retries must fit in num_retries")

    @property
    def total_attempts(self) -> int:
        """Attempts in all: the first one plus every retry."""
        return 1 + self.num_retries

    @property
    def num_backoff_retries(self) -> int:
        """Retries in the backoff phase: what the other three phases leave of ``num_retries``."""
        return (
            self.num_retries
            - self.num_no_delay_retries
            - self.num_min_delay_retries
            - self.num_max_delay_retries
        )

    def delay(self, retry: int) -> float:
        """Seconds to wait, after the previous attempt failed, before retry number ``retry``.

        ``retry`` counts from 1 (the attempt after the first) to :attr:`num_retries`; anything
        else is a programming error and raises :class:`ValueError`.
        """
        if isinstance(retry, bool) or not isinstance(retry, int):
            raise TypeError(f"retry must be an int, got {retry!r}")
        if not 1 <= retry <= self.num_retries:
            raise ValueError(f"retry must be from 1 to {self.num_retries}, got {retry}")
        k = retry - 1
        if k < self.num_no_delay_retries:
            return 0.0
        k -= self.num_no_delay_retries
        if k < self.num_min_delay_retries:
            return float(self.min_delay_target)
        k -= self.num_min_delay_retries
        if k < self.num_backoff_retries:
            return self._backoff(k)
        return float(self.max_delay_target)

    def delays(self) -> Iterator[float]:
        """Every retry's delay, in order (:attr:`num_retries` of them)."""
        for retry in range(1, self.num_retries + 1):
            yield self.delay(retry)

    @property
    def total_delay(self) -> float:
        """Seconds from the first attempt to the last retry, not counting the attempts' own
        durations (a timed-out HTTP attempt adds its timeout before the next delay starts)."""
        backoff = math.fsum(self._backoff(k) for k in range(self.num_backoff_retries))
        return (
            self.num_min_delay_retries * float(self.min_delay_target)
            + backoff
            + self.num_max_delay_retries * float(self.max_delay_target)
        )

    def _backoff(self, k: int) -> float:
        low, high = float(self.min_delay_target), float(self.max_delay_target)
        last = self.num_backoff_retries - 1
        if k <= 0 or last <= 0:
            return low
        if k >= last:
            return high
        x = k / last
        fn = self.backoff_function
        if fn == "linear":
            fraction = x
        elif fn == "arithmetic":
            fraction = 1.0 - (1.0 - x) ** 2
        else:
            q = _STEP_RATIO[fn]
            fraction = (1.0 - q**k) / (1.0 - q**last)
        return min(high, max(low, low + (high - low) * fraction))


#: SQS, Lambda and Firehose endpoints: 3 immediate retries, 2 one second apart, 10 backing off
#: from 1 to 20 seconds, then 100,000 20 seconds apart -- 100,015 retries over about 23 days.
AWS_MANAGED: Final = RetryPolicy(
    min_delay_target=1,
    max_delay_target=20,
    num_retries=100_015,
    num_no_delay_retries=3,
    num_min_delay_retries=2,
    num_max_delay_retries=100_000,
    backoff_function="exponential",
)

#: SMTP, SMS and mobile push endpoints: 2 retries 10 seconds apart, 10 backing off from 10 to
#: 600 seconds, then 38 600 seconds apart -- 50 retries over more than 6 hours.
CUSTOMER_MANAGED: Final = RetryPolicy(
    min_delay_target=10,
    max_delay_target=600,
    num_retries=50,
    num_no_delay_retries=0,
    num_min_delay_retries=2,
    num_max_delay_retries=38,
    backoff_function="exponential",
)

#: HTTP/S endpoints without a policy of their own: 3 retries, 20 seconds apart. These are the
#: values GetTopicAttributes shows in the default ``EffectiveDeliveryPolicy``.
HTTP_DEFAULT: Final = RetryPolicy(
    min_delay_target=limits.SNS_DELIVERY_POLICY_MIN_DELAY_TARGET_DEFAULT,
    max_delay_target=limits.SNS_DELIVERY_POLICY_MAX_DELAY_TARGET_DEFAULT,
    num_retries=limits.SNS_DELIVERY_POLICY_NUM_RETRIES_DEFAULT,
    num_no_delay_retries=0,
    num_min_delay_retries=0,
    num_max_delay_retries=0,
    backoff_function="linear",
)


@attrs.frozen
class DeliveryPolicy:
    """A parsed ``DeliveryPolicy`` of a topic or a subscription, or the effective one.

    ``given`` names the sections the policy text set (``healthyRetryPolicy``,
    ``sicklyRetryPolicy``, ``throttlePolicy``, ``requestPolicy``, spelled as in a subscription's
    policy); the others hold defaults. :func:`effective_delivery_policy` merges section by
    section, so a subscription that sets only its content type keeps the topic's retries.

    * ``healthy`` -- the retry schedule.
    * ``max_receives_per_second`` -- the throttle: at most this many deliveries per second to
      the subscription, on average; ``None`` for no throttling.
    * ``header_content_type`` -- the ``Content-Type`` of HTTP/S notifications; ``None`` for
      SNS's default, ``text/plain; charset=UTF-8``.
    * ``sickly_retry_policy`` -- AWS accepts a ``sicklyRetryPolicy`` section and shows it back
      but documents no effect; msgsim keeps it as compact JSON text and does not use it.
    * ``disable_subscription_overrides`` -- set on a topic: its policy applies to every HTTP/S
      subscription, whatever their own policy says.
    * ``guaranteed`` -- accepted and shown back as AWS does (``false`` unless set); unused.
    """

    healthy: RetryPolicy = HTTP_DEFAULT
    max_receives_per_second: int | None = None
    header_content_type: str | None = None
    sickly_retry_policy: str | None = None
    disable_subscription_overrides: bool = False
    guaranteed: bool = False
    given: frozenset[str] = frozenset()


#: No policy at all: every section at its default.
EMPTY: Final = DeliveryPolicy()


# ------------------------------------------------------------------------------------ parsing
def _invalid(reason: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter: DeliveryPolicy: {reason}")


def _load(text: str) -> Any:
    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON value")

    if not isinstance(text, str):
        raise _invalid("failed to parse JSON. The policy must be a string.")
    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"failed to parse JSON. {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise _invalid(f"failed to parse JSON. {exc}") from None


def _object(value: Any, path: str) -> dict[str, Any] | None:
    """A section's JSON object, or None when the section is absent or null."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(f"{path} must be a JSON object")
    return value


def _check_members(obj: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in obj:
        if name not in allowed:
            raise _invalid(f"Unexpected JSON member: {name}")


def _optional_int(obj: Mapping[str, Any], name: str, path: str) -> int | None:
    """The integer member ``name`` of ``obj``; None when absent or null. A JSON number with an
    integral value (``20.0``) counts as an integer."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{path}.{name} must be an integer")
    return value


def _int(obj: Mapping[str, Any], name: str, path: str, default: int) -> int:
    value = _optional_int(obj, name, path)
    return default if value is None else value


def _at_least(value: int, low: int, name: str) -> None:
    if value < low:
        raise _invalid(f"{name} must be greater than or equal to {low}")


def _at_most(value: int, high: int, name: str) -> None:
    if value > high:
        raise _invalid(f"{name} must be less than or equal to {high}")


def _boolean(obj: Mapping[str, Any], name: str, path: str) -> bool:
    value = obj.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"{path}{name} must be a boolean")
    return value


_RETRY_MEMBERS = frozenset(
    {
        "minDelayTarget",
        "maxDelayTarget",
        "numRetries",
        "numNoDelayRetries",
        "numMinDelayRetries",
        "numMaxDelayRetries",
        "backoffFunction",
    }
)


def _retry_policy(obj: Mapping[str, Any], path: str) -> RetryPolicy:
    _check_members(obj, _RETRY_MEMBERS)
    low = _int(obj, "minDelayTarget", path, limits.SNS_DELIVERY_POLICY_MIN_DELAY_TARGET_DEFAULT)
    high = _int(obj, "maxDelayTarget", path, limits.SNS_DELIVERY_POLICY_MAX_DELAY_TARGET_DEFAULT)
    retries = _int(obj, "numRetries", path, limits.SNS_DELIVERY_POLICY_NUM_RETRIES_DEFAULT)
    no_delay = _int(obj, "numNoDelayRetries", path, 0)
    min_delay = _int(obj, "numMinDelayRetries", path, 0)
    max_delay = _int(obj, "numMaxDelayRetries", path, 0)
    _at_least(low, limits.SNS_DELIVERY_POLICY_MIN_DELAY_TARGET_MIN, f"{path}.minDelayTarget")
    _at_most(low, limits.SNS_DELIVERY_POLICY_MAX_DELAY_TARGET_MAX, f"{path}.minDelayTarget")
    _at_least(high, limits.SNS_DELIVERY_POLICY_MIN_DELAY_TARGET_MIN, f"{path}.maxDelayTarget")
    _at_most(high, limits.SNS_DELIVERY_POLICY_MAX_DELAY_TARGET_MAX, f"{path}.maxDelayTarget")
    _at_least(retries, limits.SNS_DELIVERY_POLICY_NUM_RETRIES_MIN, f"{path}.numRetries")
    _at_most(retries, limits.SNS_DELIVERY_POLICY_NUM_RETRIES_MAX, f"{path}.numRetries")
    _at_least(no_delay, 0, f"{path}.numNoDelayRetries")
    _at_least(min_delay, 0, f"{path}.numMinDelayRetries")
    _at_least(max_delay, 0, f"{path}.numMaxDelayRetries")
    if low > high:
        raise _invalid(f"{path}.maxDelayTarget must be greater than or equal to minDelayTarget")
    if no_delay + min_delay + max_delay > retries:
        raise _invalid(
            f"{path}.numRetries must be greater than or equal to total of numMinDelayRetries, "
            "numNoDelayRetries and numMaxDelayRetries"
        )
    function = obj.get("backoffFunction")
    if function is None:
        function = "linear"
    if not isinstance(function, str) or function.lower() not in BACKOFF_FUNCTIONS:
        raise _invalid(f"{path}.backoffFunction must be one of: {', '.join(BACKOFF_FUNCTIONS)}")
    policy = RetryPolicy(
        min_delay_target=low,
        max_delay_target=high,
        num_retries=retries,
        num_no_delay_retries=no_delay,
        num_min_delay_retries=min_delay,
        num_max_delay_retries=max_delay,
        backoff_function=function.lower(),
    )
    # AWS: "The total policy retry time for an HTTP/S endpoint cannot be greater than 3,600
    # seconds." The total here follows msgsim's backoff curves (see RetryPolicy).
    total = policy.total_delay
    if total > limits.SNS_DELIVERY_POLICY_TOTAL_RETRY_TIME_MAX:
        raise _invalid(
            f"{path}: the total retry time of the policy ({total:g} seconds) must be less than "
            f"or equal to {limits.SNS_DELIVERY_POLICY_TOTAL_RETRY_TIME_MAX} seconds"
        )
    return policy


def _throttle(obj: Mapping[str, Any], path: str) -> int | None:
    _check_members(obj, frozenset({"maxReceivesPerSecond"}))
    rate = _optional_int(obj, "maxReceivesPerSecond", path)
    if rate is not None:
        _at_least(
            rate,
            limits.SNS_DELIVERY_POLICY_MAX_RECEIVES_PER_SECOND_MIN,
            f"{path}.maxReceivesPerSecond",
        )
    return rate


def header_content_type_allowed(content_type: str, *, raw_message_delivery: bool) -> bool:
    """Whether SNS accepts ``content_type`` as a ``headerContentType``.

    The media type (what precedes any ``;`` parameter such as ``charset=UTF-8``) must be one of
    :data:`HEADER_CONTENT_TYPES_RAW` for a subscription with raw message delivery, and one of
    :data:`HEADER_CONTENT_TYPES_ENVELOPE` otherwise and for a topic's policy.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    allowed = HEADER_CONTENT_TYPES_RAW if raw_message_delivery else HEADER_CONTENT_TYPES_ENVELOPE
    return media_type in allowed


def _request(obj: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> str | None:
    _check_members(obj, frozenset({"headerContentType"}))
    value = obj.get("headerContentType")
    if value is None:
        return None
    raw = allowed is HEADER_CONTENT_TYPES_RAW
    if not isinstance(value, str) or not header_content_type_allowed(
        value, raw_message_delivery=raw
    ):
        raise _invalid(f"{path}.headerContentType must be one of: {', '.join(allowed)}")
    return value


def _sickly(value: Any, path: str) -> str | None:
    obj = _object(value, path)
    return None if obj is None else json.dumps(obj, separators=(",", ":"))


_TOPIC_HTTP_MEMBERS = frozenset(
    {
        "defaultHealthyRetryPolicy",
        "defaultSicklyRetryPolicy",
        "disableSubscriptionOverrides",
        "defaultThrottlePolicy",
        "defaultRequestPolicy",
    }
)
_SUBSCRIPTION_MEMBERS = frozenset({HEALTHY, SICKLY, THROTTLE, REQUEST, "guaranteed"})


def parse_topic_delivery_policy(text: str) -> DeliveryPolicy:
    """Parse and validate a topic's ``DeliveryPolicy`` attribute.

    The shape is ``{"http": {"defaultHealthyRetryPolicy": {...}, "disableSubscriptionOverrides":
    bool, "defaultThrottlePolicy": {...}, "defaultRequestPolicy": {...}}}``. Members left out
    (or null) take AWS's defaults: ``minDelayTarget`` and ``maxDelayTarget`` 20,
    ``numRetries`` 3, the three phase counts 0, ``backoffFunction`` linear, no throttling, the
    default content type. A topic's content type must be ``text/plain`` or
    ``application/json``. An empty text is no policy (AWS unsets the attribute).

    Raises :class:`~msgsim.broker.errors.InvalidParameter` (``Invalid parameter: DeliveryPolicy: ...``)
    for text that is not a JSON object, an unexpected member, or a value outside AWS's limits.
    """
    if isinstance(text, str) and not text.strip():
        return EMPTY
    root = _object(_load(text), "the policy")
    if root is None:
        raise _invalid("the policy must be a JSON object")
    _check_members(root, frozenset({"http"}))
    http = _object(root.get("http"), "http")
    if http is None:
        return EMPTY
    _check_members(http, _TOPIC_HTTP_MEMBERS)
    given: set[str] = set()
    healthy = HTTP_DEFAULT
    section = _object(http.get("defaultHealthyRetryPolicy"), "http.defaultHealthyRetryPolicy")
    if section is not None:
        healthy = _retry_policy(section, "http.defaultHealthyRetryPolicy")
        given.add(HEALTHY)
    sickly = _sickly(http.get("defaultSicklyRetryPolicy"), "http.defaultSicklyRetryPolicy")
    if sickly is not None:
        given.add(SICKLY)
    rate = None
    section = _object(http.get("defaultThrottlePolicy"), "http.defaultThrottlePolicy")
    if section is not None:
        rate = _throttle(section, "http.defaultThrottlePolicy")
        given.add(THROTTLE)
    content_type = None
    section = _object(http.get("defaultRequestPolicy"), "http.defaultRequestPolicy")
    if section is not None:
        content_type = _request(section, "http.defaultRequestPolicy", HEADER_CONTENT_TYPES_ENVELOPE)
        given.add(REQUEST)
    return DeliveryPolicy(
        healthy=healthy,
        max_receives_per_second=rate,
        header_content_type=content_type,
        sickly_retry_policy=sickly,
        disable_subscription_overrides=_boolean(http, "disableSubscriptionOverrides", "http."),
        given=frozenset(given),
    )


def parse_subscription_delivery_policy(text: str) -> DeliveryPolicy:
    """Parse and validate a subscription's ``DeliveryPolicy`` attribute.

    The shape is ``{"healthyRetryPolicy": {...}, "sicklyRetryPolicy": {...} | null,
    "throttlePolicy": {...}, "requestPolicy": {...}, "guaranteed": bool}``, with the defaults
    and errors of :func:`parse_topic_delivery_policy`. The content type may be any of
    :data:`HEADER_CONTENT_TYPES_RAW` here; whether it suits the subscription depends on its
    ``RawMessageDelivery`` (see :func:`header_content_type_allowed`), which the caller checks.
    """
    if isinstance(text, str) and not text.strip():
        return EMPTY
    root = _object(_load(text), "the policy")
    if root is None:
        raise _invalid("the policy must be a JSON object")
    _check_members(root, _SUBSCRIPTION_MEMBERS)
    given: set[str] = set()
    healthy = HTTP_DEFAULT
    section = _object(root.get(HEALTHY), HEALTHY)
    if section is not None:
        healthy = _retry_policy(section, HEALTHY)
        given.add(HEALTHY)
    sickly = _sickly(root.get(SICKLY), SICKLY)
    if sickly is not None:
        given.add(SICKLY)
    rate = None
    section = _object(root.get(THROTTLE), THROTTLE)
    if section is not None:
        rate = _throttle(section, THROTTLE)
        given.add(THROTTLE)
    content_type = None
    section = _object(root.get(REQUEST), REQUEST)
    if section is not None:
        content_type = _request(section, REQUEST, HEADER_CONTENT_TYPES_RAW)
        given.add(REQUEST)
    return DeliveryPolicy(
        healthy=healthy,
        max_receives_per_second=rate,
        header_content_type=content_type,
        sickly_retry_policy=sickly,
        guaranteed=_boolean(root, "guaranteed", ""),
        given=frozenset(given),
    )


# ---------------------------------------------------------------------------- effective policy
def effective_delivery_policy(
    topic: DeliveryPolicy | None, subscription: DeliveryPolicy | None
) -> DeliveryPolicy:
    """The policy that applies to an HTTP/S subscription (or, with ``subscription`` None, the
    default a topic gives its subscriptions).

    Section by section, a section the subscription's policy sets wins, unless the topic sets
    ``disableSubscriptionOverrides``; then the topic's section; then AWS's default. The result
    has every default filled in (``header_content_type`` included) and ``given`` naming the
    sections that are not empty.
    """
    topic = topic or EMPTY
    own = subscription if subscription is not None else EMPTY
    if topic.disable_subscription_overrides:
        own = EMPTY

    def pick(section: str) -> DeliveryPolicy | None:
        if section in own.given:
            return own
        if section in topic.given:
            return topic
        return None

    source = pick(HEALTHY)
    healthy = source.healthy if source is not None else HTTP_DEFAULT
    source = pick(SICKLY)
    sickly = source.sickly_retry_policy if source is not None else None
    source = pick(THROTTLE)
    rate = source.max_receives_per_second if source is not None else None
    source = pick(REQUEST)
    content_type = source.header_content_type if source is not None else None
    given = {HEALTHY, REQUEST}
    if sickly is not None:
        given.add(SICKLY)
    if rate is not None:
        given.add(THROTTLE)
    return DeliveryPolicy(
        healthy=healthy,
        max_receives_per_second=rate,
        header_content_type=content_type or limits.SNS_DELIVERY_POLICY_HEADER_CONTENT_TYPE_DEFAULT,
        sickly_retry_policy=sickly,
        disable_subscription_overrides=topic.disable_subscription_overrides,
        guaranteed=own.guaranteed,
        given=frozenset(given),
    )


def _retry_json(policy: RetryPolicy) -> dict[str, Any]:
    # Key order as GetTopicAttributes shows it.
    return {
        "minDelayTarget": policy.min_delay_target,
        "maxDelayTarget": policy.max_delay_target,
        "numRetries": policy.num_retries,
        "numMaxDelayRetries": policy.num_max_delay_retries,
        "numNoDelayRetries": policy.num_no_delay_retries,
        "numMinDelayRetries": policy.num_min_delay_retries,
        "backoffFunction": policy.backoff_function,
    }


def effective_policy_json(
    policy: DeliveryPolicy, *, level: Literal["subscription", "topic"] = "subscription"
) -> str:
    """The ``EffectiveDeliveryPolicy`` attribute for ``policy`` (normally the result of
    :func:`effective_delivery_policy`), as compact JSON.

    ``level="topic"`` gives GetTopicAttributes' shape::

        {"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,
        "numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,
        "backoffFunction":"linear"},"disableSubscriptionOverrides":false,
        "defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}

    (``defaultThrottlePolicy`` appears before ``defaultRequestPolicy`` only when set).
    ``level="subscription"`` gives GetSubscriptionAttributes' shape for HTTP/S subscriptions:
    ``{"healthyRetryPolicy":{...},"sicklyRetryPolicy":null,"throttlePolicy":null,
    "requestPolicy":{"headerContentType":...},"guaranteed":false}``.
    """
    content_type = (
        policy.header_content_type or limits.SNS_DELIVERY_POLICY_HEADER_CONTENT_TYPE_DEFAULT
    )
    sickly = json.loads(policy.sickly_retry_policy) if policy.sickly_retry_policy else None
    throttle = (
        {"maxReceivesPerSecond": policy.max_receives_per_second}
        if policy.max_receives_per_second is not None
        else None
    )
    if level == "topic":
        http: dict[str, Any] = {"defaultHealthyRetryPolicy": _retry_json(policy.healthy)}
        if sickly is not None:
            http["defaultSicklyRetryPolicy"] = sickly
        http["disableSubscriptionOverrides"] = policy.disable_subscription_overrides
        if throttle is not None:
            http["defaultThrottlePolicy"] = throttle
        http["defaultRequestPolicy"] = {"headerContentType": content_type}
        document: dict[str, Any] = {"http": http}
    elif level == "subscription":
        document = {
            HEALTHY: _retry_json(policy.healthy),
            SICKLY: sickly,
            THROTTLE: throttle,
            REQUEST: {"headerContentType": content_type},
            "guaranteed": policy.guaranteed,
        }
    else:
        raise ValueError(f"level must be 'subscription' or 'topic', got {level!r}")
    return json.dumps(document, separators=(",", ":"))
