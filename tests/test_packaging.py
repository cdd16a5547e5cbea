"""The one front door: msgsim installs one top-level name and every module has one import path.

The wheel itself (built, installed in a fresh environment beside PyPI's ``adapters``, run from a
folder with ``adapters/`` and ``broker/`` folders) is checked by ``.ci/wheel-check`` on every CI
run; these tests check the same promises on the development install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import msgsim

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed_under_msgsim():
    config = _setuptools_config()
    folders = {name: ROOT / path for name, path in config["package-dir"].items()}
    assert set(folders) == {"msgsim", "msgsim.broker", "msgsim.adapters", "msgsim.scenarios"}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join([name, *relative]))
    assert sorted(config["packages"]) == sorted(found)
    assert all(name == "msgsim" or name.startswith("msgsim.") for name in config["packages"])


def test_the_public_api_is_curated():
    assert sorted(msgsim.__all__) == [
        "Broker",
        "BrokerError",
        "InProcessClient",
        "KinesisOptions",
        "LambdaOptions",
        "SnsOptions",
        "TcpClient",
    ]
    from msgsim.adapters.inprocess import InProcessClient
    from msgsim.broker.errors import BrokerError

    # one module, one class: the public name is the very class the broker raises
    assert msgsim.BrokerError is BrokerError and msgsim.InProcessClient is InProcessClient
    assert (Path(msgsim.__file__).parent / "py.typed").exists()


def test_folders_named_adapters_and_broker_on_the_users_path_shadow_nothing(tmp_path):
    for name in ("adapters", "broker", "scenarios"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"raise ImportError('the user folder {name}/ was imported')\n"
        )
    script = (
        "import msgsim, sys\n"
        "from msgsim import Broker, InProcessClient, TcpClient\n"
        "import msgsim.adapters.cli, msgsim.broker.sqs.queue\n"
        "assert not {'adapters', 'broker', 'scenarios'} & set(sys.modules), sorted(sys.modules)\n"
    )
    done = _python_in(tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    demo = _python_in(tmp_path, "-m", "msgsim", "demo")
    assert demo.returncode == 0, demo.stderr
    assert "dead-letter queue holds" in demo.stdout


def _python_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python in ``folder`` with ``folder`` first on the import path, as a user's project."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
    )
