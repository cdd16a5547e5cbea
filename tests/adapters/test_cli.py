"""The ``msgsim`` command line as a new user meets it: argument errors in argparse's usual form
(exit status 2), help that shows the defaults, a start-up line that says which clock runs and
how fast, and a worker started from a project folder that imports the project's handler (as
README shows)."""

from __future__ import annotations

import json
import textwrap

import pytest
import trio.testing
from daemon import MSGSIM_SCRIPT, daemon, start_worker, stop

from msgsim.adapters import TcpClient
from msgsim.adapters.cli import describe_clock, main


def fails(capsys, *argv: str) -> str:
    """``msgsim ARGV`` exits with argparse's status 2 before doing anything; its stderr."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


# ---------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_serve_refuses_a_port_outside_0_to_65535_with_argparse_s_error(capsys, port):
    err = fails(capsys, "serve", "--port", port)
    assert err.startswith("usage: msgsim serve ")
    assert err.endswith(
        f"msgsim serve: error: argument --port: {port!r} is not a port: use 0 to 65535 "
        "(0 picks a free port)\n"
    )


@pytest.mark.parametrize("port", ["0", "65536"])
def test_worker_refuses_a_port_no_daemon_can_listen_on(capsys, port):
    err = fails(capsys, "worker", "--function", "f", "--port", port, "mod:fn")
    assert err.endswith(
        f"msgsim worker: error: argument --port: {port!r} is not a port: use 1 to 65535\n"
    )


@pytest.mark.parametrize("clock", [[], ["--clock", "real"]], ids=["default", "real"])
def test_rate_with_the_real_clock_is_refused_with_a_clear_error(capsys, clock):
    err = fails(capsys, "serve", *clock, "--rate", "10")
    assert err.endswith(
        "msgsim serve: error: --rate sets the speed of the virtual clock; the real clock runs at "
        "real speed (add --clock virtual, or leave out --rate)\n"
    )


@pytest.mark.parametrize("rate", ["0", "-1", "nan", "inf"])
def test_rate_must_be_a_positive_number(capsys, rate):
    err = fails(capsys, "serve", "--clock", "virtual", "--rate", rate)
    assert err.endswith("msgsim serve: error: --rate must be a positive number\n")


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        (
            ["serve"],
            [
                "(default: 127.0.0.1)",
                "(default: 4650)",
                "(default: 0)",
                "(default: real)",
                "(default: 1.0, real speed: a 20 s long poll takes 20 s)",
                "(default: the directory serve starts in)",
                "(default: $MSGSIM_TOKEN, else a new random token",
                "(default: 16777216)",
                "(default: 256)",
                "(default: 268435456)",
                "(default: the open-file limit less 32, at most 1024)",
                "(default: 600.0)",
                "(default: 5.0)",
                "(default: WARNING)",
            ],
        ),
        (
            ["worker"],
            [
                "(default: 127.0.0.1)",
                "(default: 4650)",
                "(default: $MSGSIM_TOKEN, else the token file of a daemon on this machine)",
                "(default: 1)",
                "(default: WARNING)",
            ],
        ),
        (["demo"], ["(default: 7)"]),
    ],
    ids=["serve", "worker", "demo"],
)
def test_help_shows_the_defaults(capsys, command, defaults):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines to the terminal
    for default in defaults:
        assert default in text
    assert text.count("(default:") == len(defaults)


def test_the_start_up_line_states_the_clock_and_its_rate():
    assert describe_clock(None) == "clock: real"
    assert describe_clock(trio.testing.MockClock(rate=1.0)) == (
        "clock: virtual, rate 1.0x, real speed: a 20 s long poll takes 20 s; --rate R runs it R "
        "times as fast and AdvanceClock jumps it"
    )
    assert describe_clock(trio.testing.MockClock(rate=60.0)) == (
        "clock: virtual, rate 60.0x; AdvanceClock jumps it"
    )
    assert describe_clock(trio.testing.MockClock(rate=0.5)) == (
        "clock: virtual, rate 0.5x; AdvanceClock jumps it"
    )


# ---------------------------------------------------------------------------- the worker
@pytest.mark.real_clock
async def test_a_worker_started_in_a_project_folder_imports_the_handler_as_readme_shows(
    tmp_path,
):
    """README: from a project folder, ``msgsim worker --function resize mypkg.images:resize``
    serves the function that a client created with create_function. The worker puts the
    current directory first on the import path, as ``python -m`` does (the console script
    alone would not: its own folder is what Python puts there)."""
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "images.py").write_text(
        textwrap.dedent(
            """
            def resize(event, context):
                return {"resized": event["image"], "to": event["width"]}
            """
        )
    )
    assert MSGSIM_SCRIPT.exists(), MSGSIM_SCRIPT
    with daemon() as d:
        worker = start_worker(d, "resize", "mypkg.images:resize", cwd=tmp_path, script=True)
        try:
            async with TcpClient.connect(d.host, d.port) as aws:
                lam = aws.client("lambda")
                await lam.create_function(FunctionName="resize", Handler="mypkg.images:resize")
                out = await lam.invoke(
                    FunctionName="resize", Payload=json.dumps({"image": "cat.png", "width": 64})
                )
                assert "FunctionError" not in out, out["Payload"].read()
                assert json.loads(out["Payload"].read()) == {"resized": "cat.png", "to": 64}
        finally:
            stop(worker)
