"""The Lambda control plane through the boto3-shaped client, on the virtual clock: functions,
reserved concurrency, asynchronous invoke configuration, and the validation errors AWS answers.

Each test states the AWS behaviour it checks (AWS Lambda API reference). Every test names
``autojump_clock`` itself (see tests/sqs/test_batch.py).
"""

from __future__ import annotations

import pytest
import trio
from lambda_helpers import function_arn, make_queue, ok_handler

from msgsim.broker import BrokerError


@pytest.fixture
def lam(aws):
    return aws.client("lambda")


async def error_code(call, **params) -> str:
    with pytest.raises(BrokerError) as e:
        await call(**params)
    return e.value.code


# --- CreateFunction / GetFunction / GetFunctionConfiguration ---------------------------------


async def test_create_function_returns_configuration_with_aws_defaults(autojump_clock, lam):
    """AWS: CreateFunction answers the FunctionConfiguration; Timeout defaults to 3 s, MemorySize
    to 128 MB, the version is $LATEST and the function is Active."""
    cfg = await lam.create_function(FunctionName="f", Handler=ok_handler)
    assert cfg["FunctionName"] == "f"
    assert cfg["FunctionArn"] == function_arn("f")
    assert cfg["Timeout"] == 3
    assert cfg["MemorySize"] == 128
    assert cfg["Version"] == "$LATEST"
    assert cfg["State"] == "Active"
    assert cfg["LastUpdateStatus"] == "Successful"
    assert cfg["PackageType"] == "Zip"
    assert cfg["Handler"].endswith("ok_handler")
    assert cfg["Runtime"].startswith("python3.")
    assert isinstance(cfg["RevisionId"], str) and cfg["RevisionId"]
    assert cfg["LastModified"] == "2025-01-01T00:00:00.000+0000"


async def test_create_function_keeps_given_settings(autojump_clock, lam):
    """AWS: Timeout, MemorySize, Description and Environment given at creation are kept."""
    cfg = await lam.create_function(
        FunctionName="g",
        Handler=ok_handler,
        Timeout=900,
        MemorySize=10240,
        Description="d",
        Environment={"Variables": {"AB": "1"}},
    )
    got = await lam.get_function_configuration(FunctionName="g")
    for c in (cfg, got):
        assert (c["Timeout"], c["MemorySize"], c["Description"]) == (900, 10240, "d")
        assert c["Environment"] == {"Variables": {"AB": "1"}}


async def test_get_function_by_name_arn_and_partial_arn(autojump_clock, lam):
    """AWS: FunctionName may be the name, the full ARN or the partial ARN (account:function:name);
    GetFunction's Configuration is what GetFunctionConfiguration answers."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    cfg = await lam.get_function_configuration(FunctionName="f")
    for ref in ("f", function_arn("f"), "000000000000:function:f", function_arn("f") + ":$LATEST"):
        got = await lam.get_function(FunctionName=ref)
        assert got["Configuration"] == cfg
        assert "Location" in got["Code"]


async def test_get_unknown_function_is_resource_not_found(autojump_clock, lam):
    """AWS: GetFunction, GetFunctionConfiguration and DeleteFunction of an unknown function fail
    with ResourceNotFoundException; so does an unknown version qualifier."""
    assert await error_code(lam.get_function, FunctionName="nope") == "ResourceNotFoundException"
    assert (
        await error_code(lam.get_function_configuration, FunctionName="nope")
        == "ResourceNotFoundException"
    )
    assert await error_code(lam.delete_function, FunctionName="nope") == "ResourceNotFoundException"
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    assert (
        await error_code(lam.get_function, FunctionName="f", Qualifier="7")
        == "ResourceNotFoundException"
    )


async def test_function_in_another_account_is_not_found(autojump_clock, lam):
    """AWS: an ARN of another account names a function this caller does not have."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    other = "arn:aws:lambda:us-east-1:111111111111:function:f"
    assert await error_code(lam.get_function, FunctionName=other) == "ResourceNotFoundException"


async def test_duplicate_function_name_is_resource_conflict(autojump_clock, lam):
    """AWS: CreateFunction with an existing name fails with ResourceConflictException and leaves
    the existing function as it was."""
    await lam.create_function(FunctionName="f", Handler=ok_handler, Timeout=7)
    before = await lam.get_function_configuration(FunctionName="f")
    code = await error_code(lam.create_function, FunctionName="f", Handler=ok_handler, Timeout=9)
    assert code == "ResourceConflictException"
    assert await lam.get_function_configuration(FunctionName="f") == before


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"Timeout": 0},
        {"Timeout": 901},
        {"MemorySize": 127},
        {"MemorySize": 10241},
        {"Timeout": "3"},
        {"Description": "x" * 257},
    ],
    ids=["timeout0", "timeout901", "memory127", "memory10241", "timeout-str", "desc257"],
)
async def test_out_of_range_settings_are_validation_exception(autojump_clock, lam, params):
    """AWS: Timeout must be 1..900, MemorySize 128..10240 (integers), Description at most 256
    characters; a value outside fails with ValidationException and nothing is created."""
    code = await error_code(lam.create_function, FunctionName="f", Handler=ok_handler, **params)
    assert code == "ValidationException"
    assert (await lam.list_functions())["Functions"] == []


@pytest.mark.parametrize("name", ["bad name", "a" * 65, "", "fn.x", "f/g"])
async def test_bad_function_name_is_validation_exception(autojump_clock, lam, name):
    """AWS: a FunctionName must match [a-zA-Z0-9-_]+ with 1 to 64 characters, else
    ValidationException."""
    assert (
        await error_code(lam.create_function, FunctionName=name, Handler=ok_handler)
        == "ValidationException"
    )
    assert (await lam.list_functions())["Functions"] == []


async def test_bad_function_reference_is_validation_exception(autojump_clock, lam):
    """AWS: a FunctionName argument that matches no name/ARN pattern is a ValidationException
    (not ResourceNotFoundException)."""
    assert await error_code(lam.get_function, FunctionName="no such!") == "ValidationException"


@pytest.mark.parametrize(
    "params",
    [
        {"Runtime": "nodejs20.x"},
        {"Environment": {"Variables": {"AB": "x" * 4100}}},
        {"DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:missing"}},
    ],
    ids=["runtime", "env-4kb", "dlq-missing"],
)
async def test_semantic_errors_are_invalid_parameter_value(autojump_clock, lam, params):
    """AWS: an unsupported runtime, environment variables that exceed 4 KB, and a dead-letter
    target that does not exist fail with InvalidParameterValueException."""
    code = await error_code(lam.create_function, FunctionName="f", Handler=ok_handler, **params)
    assert code == "InvalidParameterValueException"
    assert (await lam.list_functions())["Functions"] == []


async def test_an_environment_variable_that_is_not_a_string_is_refused_as_boto3_refuses_it(
    autojump_clock, lam
):
    """boto3 refuses a non-string environment variable before sending (botocore's parameter
    validation); msgsim answers ValidationException with botocore's words, creating nothing."""
    with pytest.raises(BrokerError) as e:
        await lam.create_function(
            FunctionName="f", Handler=ok_handler, Environment={"Variables": {"AB": 1}}
        )
    assert e.value.code == "ValidationException"
    assert e.value.message == (
        "Invalid type for parameter Environment.Variables.AB, value: 1, type: <class 'int'>, "
        "valid types: <class 'str'>"
    )
    assert (await lam.list_functions())["Functions"] == []


async def test_unknown_parameter_is_validation_exception(autojump_clock, lam):
    """AWS (botocore): a parameter the operation does not take is rejected."""
    code = await error_code(lam.create_function, FunctionName="f", Handler=ok_handler, Bogus=1)
    assert code == "ValidationException"


# --- ListFunctions --------------------------------------------------------------------------------


async def test_list_functions_paginates_with_marker(autojump_clock, lam):
    """AWS: ListFunctions returns at most MaxItems functions and a NextMarker while more remain;
    following the markers lists every function exactly once."""
    names = [f"fn{i}" for i in range(7)]
    for n in reversed(names):
        await lam.create_function(FunctionName=n, Handler=ok_handler)
    seen, pages, marker = [], [], None
    while True:
        kwargs = {"MaxItems": 3} if marker is None else {"MaxItems": 3, "Marker": marker}
        page = await lam.list_functions(**kwargs)
        pages.append(len(page["Functions"]))
        seen.extend(f["FunctionName"] for f in page["Functions"])
        marker = page.get("NextMarker")
        if marker is None:
            break
    assert pages == [3, 3, 1]
    assert sorted(seen) == names and len(seen) == len(set(seen))
    everything = await lam.list_functions()
    assert "NextMarker" not in everything
    assert sorted(f["FunctionName"] for f in everything["Functions"]) == names


async def test_list_functions_bad_marker_and_max_items(autojump_clock, lam):
    """AWS: MaxItems must be 1..10000 (ValidationException); a marker ListFunctions did not
    issue is InvalidParameterValueException."""
    assert await error_code(lam.list_functions, MaxItems=0) == "ValidationException"
    assert await error_code(lam.list_functions, Marker="!!!") == "InvalidParameterValueException"


# --- UpdateFunctionConfiguration ------------------------------------------------------------------


async def test_update_function_configuration_changes_settings_and_revision(autojump_clock, lam):
    """AWS: UpdateFunctionConfiguration changes the given settings only, updates LastModified and
    issues a new RevisionId."""
    before = await lam.create_function(FunctionName="f", Handler=ok_handler, Description="old")
    await trio.sleep(5)
    after = await lam.update_function_configuration(FunctionName="f", Timeout=30, MemorySize=256)
    assert (after["Timeout"], after["MemorySize"]) == (30, 256)
    assert after["Description"] == "old"
    assert after["RevisionId"] != before["RevisionId"]
    assert after["LastModified"] == "2025-01-01T00:00:05.000+0000"
    assert await lam.get_function_configuration(FunctionName="f") == after


async def test_update_with_stale_revision_id_is_precondition_failed(autojump_clock, lam):
    """AWS: an update whose RevisionId is not the function's current one fails with
    PreconditionFailedException and changes nothing; the current RevisionId is accepted."""
    first = await lam.create_function(FunctionName="f", Handler=ok_handler)
    second = await lam.update_function_configuration(FunctionName="f", Timeout=10)
    with pytest.raises(BrokerError) as e:
        await lam.update_function_configuration(
            FunctionName="f", Timeout=20, RevisionId=first["RevisionId"]
        )
    assert e.value.code == "PreconditionFailedException"
    assert await lam.get_function_configuration(FunctionName="f") == second
    third = await lam.update_function_configuration(
        FunctionName="f", Timeout=20, RevisionId=second["RevisionId"]
    )
    assert third["Timeout"] == 20


async def test_invalid_update_changes_nothing(autojump_clock, lam):
    """AWS: an update with one invalid field is rejected as a whole: the valid fields given with
    it are not applied and the RevisionId stays."""
    await lam.create_function(FunctionName="f", Handler=ok_handler, Description="old")
    before = await lam.get_function_configuration(FunctionName="f")
    code = await error_code(
        lam.update_function_configuration, FunctionName="f", Description="new", MemorySize=127
    )
    assert code == "ValidationException"
    code = await error_code(
        lam.update_function_configuration, FunctionName="f", Description="new", Runtime="go1.x"
    )
    assert code == "InvalidParameterValueException"
    assert await lam.get_function_configuration(FunctionName="f") == before


async def test_update_unknown_function_is_resource_not_found(autojump_clock, lam):
    """AWS: UpdateFunctionConfiguration of a function that does not exist."""
    code = await error_code(lam.update_function_configuration, FunctionName="nope", Timeout=5)
    assert code == "ResourceNotFoundException"


# --- DeleteFunction -------------------------------------------------------------------------------


async def test_delete_function_removes_it(autojump_clock, lam):
    """AWS: after DeleteFunction the function is not found nor listed, and the name is free."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    await lam.create_function(FunctionName="g", Handler=ok_handler)
    assert await lam.delete_function(FunctionName="f") == {}
    assert await error_code(lam.get_function, FunctionName="f") == "ResourceNotFoundException"
    listed = [f["FunctionName"] for f in (await lam.list_functions())["Functions"]]
    assert listed == ["g"]
    assert await error_code(lam.delete_function, FunctionName="f") == "ResourceNotFoundException"
    await lam.create_function(FunctionName="f", Handler=ok_handler)


# --- reserved concurrency ------------------------------------------------------------------------


async def test_put_get_delete_function_concurrency(autojump_clock, lam):
    """AWS: PutFunctionConcurrency sets ReservedConcurrentExecutions (GetFunctionConcurrency and
    GetFunction's Concurrency show it, the account's unreserved pool shrinks by it);
    DeleteFunctionConcurrency removes it."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    assert await lam.get_function_concurrency(FunctionName="f") == {}
    assert "Concurrency" not in await lam.get_function(FunctionName="f")
    assert await lam.put_function_concurrency(
        FunctionName="f", ReservedConcurrentExecutions=10
    ) == {"ReservedConcurrentExecutions": 10}
    assert await lam.get_function_concurrency(FunctionName="f") == {
        "ReservedConcurrentExecutions": 10
    }
    got = await lam.get_function(FunctionName="f")
    assert got["Concurrency"] == {"ReservedConcurrentExecutions": 10}
    limits = (await lam.get_account_settings())["AccountLimit"]
    assert limits == {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 990}
    assert await lam.delete_function_concurrency(FunctionName="f") == {}
    assert await lam.get_function_concurrency(FunctionName="f") == {}
    limits = (await lam.get_account_settings())["AccountLimit"]
    assert limits["UnreservedConcurrentExecutions"] == 1000


async def test_reserved_concurrency_must_leave_100_unreserved(autojump_clock, lam):
    """AWS: reservations may not bring the account's unreserved concurrency below 100
    (InvalidParameterValueException); a refused reservation changes nothing; re-putting a
    function's reservation counts only its new value."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    await lam.create_function(FunctionName="g", Handler=ok_handler)
    code = await error_code(
        lam.put_function_concurrency, FunctionName="f", ReservedConcurrentExecutions=901
    )
    assert code == "InvalidParameterValueException"
    assert await lam.get_function_concurrency(FunctionName="f") == {}
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=900)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=500)
    code = await error_code(
        lam.put_function_concurrency, FunctionName="g", ReservedConcurrentExecutions=401
    )
    assert code == "InvalidParameterValueException"
    await lam.put_function_concurrency(FunctionName="g", ReservedConcurrentExecutions=400)
    limits = (await lam.get_account_settings())["AccountLimit"]
    assert limits["UnreservedConcurrentExecutions"] == 100


async def test_reserved_concurrency_validation(autojump_clock, lam):
    """AWS: ReservedConcurrentExecutions is a required integer >= 0 (ValidationException);
    concurrency of an unknown function is ResourceNotFoundException."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    assert (
        await error_code(
            lam.put_function_concurrency, FunctionName="f", ReservedConcurrentExecutions=-1
        )
        == "ValidationException"
    )
    assert await error_code(lam.put_function_concurrency, FunctionName="f") == "ValidationException"
    assert (
        await error_code(
            lam.put_function_concurrency, FunctionName="nope", ReservedConcurrentExecutions=1
        )
        == "ResourceNotFoundException"
    )
    assert await lam.get_function_concurrency(FunctionName="f") == {}


async def test_deleting_a_function_frees_its_reservation(autojump_clock, lam):
    """AWS: a deleted function's reserved concurrency returns to the unreserved pool."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=900)
    await lam.delete_function(FunctionName="f")
    limits = (await lam.get_account_settings())["AccountLimit"]
    assert limits["UnreservedConcurrentExecutions"] == 1000


# --- asynchronous invoke configuration -----------------------------------------------------------


async def test_event_invoke_config_put_get_update_delete(autojump_clock, lam, sqs):
    """AWS: PutFunctionEventInvokeConfig replaces the whole configuration;
    UpdateFunctionEventInvokeConfig changes only the given fields; Get answers it with the
    function's $LATEST ARN; Delete removes it (Get is then ResourceNotFoundException)."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    code = await error_code(lam.get_function_event_invoke_config, FunctionName="f")
    assert code == "ResourceNotFoundException"
    _, qarn = await make_queue(sqs, "dest")
    put = await lam.put_function_event_invoke_config(
        FunctionName="f",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": qarn}},
    )
    assert put["MaximumRetryAttempts"] == 1
    assert put["FunctionArn"] == function_arn("f") + ":$LATEST"
    assert put["DestinationConfig"]["OnFailure"] == {"Destination": qarn}
    got = await lam.get_function_event_invoke_config(FunctionName="f")
    assert got == put
    updated = await lam.update_function_event_invoke_config(
        FunctionName="f", MaximumEventAgeInSeconds=120
    )
    assert updated["MaximumRetryAttempts"] == 1
    assert updated["MaximumEventAgeInSeconds"] == 120
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": qarn}
    replaced = await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=0)
    assert replaced["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in replaced
    assert not replaced["DestinationConfig"].get("OnFailure")
    assert await lam.delete_function_event_invoke_config(FunctionName="f") == {}
    code = await error_code(lam.get_function_event_invoke_config, FunctionName="f")
    assert code == "ResourceNotFoundException"
    code = await error_code(lam.delete_function_event_invoke_config, FunctionName="f")
    assert code == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"MaximumRetryAttempts": 3}, "ValidationException"),
        ({"MaximumRetryAttempts": -1}, "ValidationException"),
        ({"MaximumEventAgeInSeconds": 59}, "ValidationException"),
        ({"MaximumEventAgeInSeconds": 21601}, "ValidationException"),
        (
            {
                "DestinationConfig": {
                    "OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:missing"}
                }
            },
            "InvalidParameterValueException",
        ),
        (
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::bucket"}}},
            "InvalidParameterValueException",
        ),
    ],
    ids=["retries3", "retries-1", "age59", "age21601", "dest-missing", "dest-s3"],
)
async def test_event_invoke_config_validation_changes_nothing(
    autojump_clock, lam, params, expected
):
    """AWS: MaximumRetryAttempts is 0..2 and MaximumEventAgeInSeconds 60..21600
    (ValidationException); a destination must be an existing queue, topic or function
    (InvalidParameterValueException). A refused Put leaves the previous configuration."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1)
    before = await lam.get_function_event_invoke_config(FunctionName="f")
    assert await error_code(lam.put_function_event_invoke_config, FunctionName="f", **params) == (
        expected
    )
    assert (
        await error_code(lam.update_function_event_invoke_config, FunctionName="f", **params)
        == expected
    )
    assert await lam.get_function_event_invoke_config(FunctionName="f") == before


async def test_event_invoke_config_does_not_change_function_configuration(autojump_clock, lam):
    """AWS: the asynchronous invoke configuration is a separate resource: putting it leaves the
    FunctionConfiguration that GetFunctionConfiguration answers unchanged."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    before = await lam.get_function_configuration(FunctionName="f")
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1)
    assert await lam.get_function_configuration(FunctionName="f") == before


async def test_event_invoke_config_accepts_function_and_topic_destinations(
    autojump_clock, lam, sns
):
    """AWS: an async destination may be an SNS topic or another Lambda function."""
    await lam.create_function(FunctionName="f", Handler=ok_handler)
    await lam.create_function(FunctionName="g", Handler=ok_handler)
    topic = (await sns.create_topic(Name="t"))["TopicArn"]
    r = await lam.put_function_event_invoke_config(
        FunctionName="f",
        DestinationConfig={
            "OnSuccess": {"Destination": function_arn("g")},
            "OnFailure": {"Destination": topic},
        },
    )
    assert r["DestinationConfig"] == {
        "OnSuccess": {"Destination": function_arn("g")},
        "OnFailure": {"Destination": topic},
    }
