"""README.md is the front door: its quick-start example must run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "adapters"))

from daemon import daemon  # noqa: E402  (tests/adapters/daemon.py)


def test_readme_examples_run_as_written(tmp_path):
    """Every python block runs as written. A block marked ``<!-- daemon: ARGS -->`` talks to
    ``msgsim serve ARGS``: the test starts one on a free port and puts that port in place of
    the README's 4650. A block marked ``<!-- pytest -->`` is a test file: pytest runs it."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"(?:<!-- (daemon:[^>]*|pytest) -->\n)?```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2, "README.md lost its python examples"
    assert any(m.startswith("daemon:") for m, _ in blocks), "README.md lost its daemon example"
    assert any(m == "pytest" for m, _ in blocks), "README.md lost its pytest example"
    for i, (mark, block) in enumerate(blocks):
        script = tmp_path / f"example{i}.py"
        if mark.startswith("daemon:"):
            with daemon(*mark.removeprefix("daemon:").split(), default_token=True) as d:
                assert '"127.0.0.1", 4650' in block
                script.write_text(block.replace('"127.0.0.1", 4650', f'"{d.host}", {d.port}'))
                _run(script, i)
        elif mark == "pytest":
            _run_pytest(tmp_path / f"project{i}", block, i)
        else:
            script.write_text(block)
            _run(script, i)


def _run_pytest(project: Path, block: str, i: int) -> None:
    """Run a README test file with pytest in an empty project of its own (no conftest, no
    configuration: what the README shows is all a user needs besides the plugin)."""
    project.mkdir()
    (project / "test_readme_example.py").write_text(block)
    (project / "pytest.ini").write_text("[pytest]\n")  # this folder is the rootdir
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    assert done.returncode == 0, f"example {i}:\n{done.stdout}\n{done.stderr}"
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout


def _run(script: Path, i: int) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, f"example {i}:\n{done.stderr}"


def test_readme_setup_commands_are_marked_for_ci():
    text = (ROOT / "README.md").read_text()
    for marker in ("setup-main", "setup-test"):
        assert f"<!-- {marker} -->" in text


def test_msgsim_demo_narrates_the_story(capsys):
    """`msgsim demo` runs on the virtual clock and prints what happened to the messages."""
    from msgsim.adapters.cli import main

    assert main(["demo", "--seed", "7"]) == 0
    story = capsys.readouterr().out
    assert "dead-letter queue holds 'order-2: POISON'" in story
    assert "['alice pays 10', 'alice pays 20', 'bob pays 5', 'bob pays 7']" in story
    assert "14 days later the dead-letter queue holds 0 messages" in story
