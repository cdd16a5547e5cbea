"""msgsim's pytest plugin (msgsim.adapters.pytest_plugin), run as a user's project would run it:
pytest in a subprocess on a temporary project, with the plugin loaded from its entry point."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.real_clock  # the tests below run pytest, not trio


def _project(pytester: pytest.Pytester, **files: str) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(**files)


def test_fixtures_put_the_test_on_the_virtual_clock_without_asking(pytester):
    _project(
        pytester,
        test_clock="""
        import pytest
        import trio
        import trio.testing

        async def test_five_virtual_days(aws):
            assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
            start = trio.current_time()
            await trio.sleep(5 * 86400)
            assert await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20) == {}
            assert trio.current_time() - start >= 5 * 86400 + 20

        async def test_broker_alone(msgsim_broker):
            assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)

        @pytest.fixture
        def my_clock(autojump_clock):
            return autojump_clock

        async def test_clock_asked_for_by_a_fixture_is_the_tests_clock(my_clock):
            assert trio.lowlevel.current_clock() is my_clock

        async def test_a_test_without_msgsim_keeps_the_real_clock():
            assert not isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
        """,
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_fixtures_work_without_trio_mode_too(pytester):
    pytester.makepyfile(
        test_plain="""
        import trio
        import trio.testing

        async def test_uses_aws(aws):
            assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
            await trio.sleep(3600)
            url = (await aws.client("sqs").create_queue(QueueName="q"))["QueueUrl"]
            assert url.endswith("/q")

        async def test_uses_the_daemon_on_the_real_clock(msgsim_daemon):
            assert not isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
            async with msgsim_daemon.connect() as aws:
                assert (await aws.client("admin").health())["Status"] == "ok"
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_hypothesis_given_works_with_the_fixtures_and_each_example_gets_a_fresh_broker(pytester):
    _project(
        pytester,
        test_given="""
        import pytest
        import trio
        import trio.testing
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=20, deadline=None)  # the point is fixtures, not speed
        @given(bodies=st.lists(st.text(alphabet="xyz", min_size=1), max_size=4))
        async def test_queue_keeps_order(aws, bodies):
            assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
            sqs = aws.client("sqs")
            # a fresh broker per example: creating the queue finds no messages from before
            url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
            for body in bodies:
                await sqs.send_message(QueueUrl=url, MessageBody=body)
            await trio.sleep(3600)
            got = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            assert [m["Body"] for m in got.get("Messages", [])] == bodies

        BROKERS = []

        @settings(max_examples=10, deadline=None)
        @given(n=st.integers())
        async def test_dependent_fixtures_are_set_up_anew_for_each_example(
            aws, msgsim_broker, n
        ):
            # pytest-trio alone hands aws the previous example's (closed) broker
            assert aws.broker is msgsim_broker
            assert all(b is not msgsim_broker for b in BROKERS)
            BROKERS.append(msgsim_broker)

        @settings(max_examples=3)
        @given(n=st.integers())
        async def test_a_shared_sync_fixture_still_trips_the_health_check(aws, tmp_path, n):
            pass
        """,
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FailedHealthCheck*uses a function-scoped fixture*"])


def test_a_failing_test_names_its_seed_and_the_option_replays_it(pytester):
    _project(
        pytester,
        test_seed="""
        import pytest

        async def test_fails(aws, msgsim_seed):
            assert msgsim_seed < 0

        @pytest.mark.msgsim(seed=42)
        async def test_marker_seed(msgsim_seed):
            assert msgsim_seed == 42
        """,
    )
    first = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    first.assert_outcomes(passed=1, failed=1)
    text = first.stdout.str()
    found = re.search(r"seed (\d+); replay with: pytest '(\S+)' --msgsim-seed (\d+)", text)
    assert found, text
    seed, nodeid = found.group(1), found.group(2)
    assert found.group(3) == seed and nodeid.endswith("test_fails")

    again = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", nodeid)
    assert f"seed {seed};" in again.stdout.str()  # the derived seed is the same every run

    replay = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "--msgsim-seed", "7", "-k", "marker_seed"
    )
    replay.assert_outcomes(failed=1)  # the command line wins over the marker
    replay.stdout.fnmatch_lines(["*seed 7; replay with*"])


def test_marker_and_parameters_set_the_brokers_options(pytester):
    _project(
        pytester,
        test_options="""
        import pytest

        async def sent_timestamp(aws):
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
            await sqs.send_message(QueueUrl=url, MessageBody="b")
            got = await sqs.receive_message(
                QueueUrl=url, MessageSystemAttributeNames=["SentTimestamp"]
            )
            return int(got["Messages"][0]["Attributes"]["SentTimestamp"])

        @pytest.mark.msgsim(epoch=1_000_000)
        async def test_marker_epoch(aws):
            assert await sent_timestamp(aws) == 1_000_000_000

        @pytest.mark.parametrize("msgsim_broker", [{"epoch": 2_000_000}], indirect=True)
        async def test_parametrized_epoch(aws):
            assert await sent_timestamp(aws) == 2_000_000_000

        @pytest.mark.msgsim(colour="blue")
        async def test_unknown_option(aws):
            pass
        """,
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)  # an error of set-up, before the test runs
    result.stdout.fnmatch_lines(["*unknown msgsim option(s) colour; Broker.open takes*"])


def test_a_broker_on_the_real_clock_in_a_test_warns_once(pytester):
    _project(
        pytester,
        test_real="""
        import pytest
        from msgsim import Broker

        @pytest.mark.parametrize("n", [1, 2])
        async def test_real_clock_broker(n):
            async with Broker.open():
                pass
        """,
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-W", "always")
    result.assert_outcomes(passed=2)
    assert result.stdout.str().count("RealClockWarning: msgsim: this Broker runs on the real") == 1
    result.stdout.fnmatch_lines(["*Use the msgsim_broker or aws fixture*"])


def test_msgsim_daemon_is_a_real_daemon_and_its_log_is_shown_when_a_test_fails(pytester):
    _project(
        pytester,
        test_daemon="""
        import os
        import pytest

        @pytest.mark.msgsim(seed=3)
        async def test_talks_to_the_daemon(msgsim_daemon):
            assert msgsim_daemon.proc.pid != os.getpid()
            async with msgsim_daemon.connect() as aws:
                sqs = aws.client("sqs")
                url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
                await sqs.send_message(QueueUrl=url, MessageBody="over tcp")
                got = await sqs.receive_message(QueueUrl=url)
                assert got["Messages"][0]["Body"] == "over tcp"
                assert (await aws.client("admin").health())["Status"] == "ok"

        async def test_fails_with_the_daemon(msgsim_daemon):
            assert False, "boom"
        """,
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*msgsim daemon log*", "*listening on 127.0.0.1:*"])
