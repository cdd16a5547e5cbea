"""Where the daemon's token comes from, and the private file clients find it in.

A token on the command line (``--token``) is visible to every local user in the process list
(``/proc/PID/cmdline``), so ``msgsim serve`` takes it, in this order, from: ``--no-token`` (no
token: any local process may connect), ``--token-file PATH`` (a file only its owner may read:
mode 0600 or stricter), ``--token`` (with a warning), the ``MSGSIM_TOKEN`` environment variable,
or else a fresh random token it writes to :func:`default_token_path` for its port, as notebook
servers do. ``TcpClient.connect`` and ``msgsim worker`` read that file when no token is given and
the daemon is on this machine (a loopback address), so a user's code needs no configuration;
the daemon removes the file when it stops.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

#: Environment variable holding the shared token when none is given.
TOKEN_ENV = "MSGSIM_TOKEN"

#: Hosts whose daemon runs on this machine: only for these is the default token file read.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "ip6-localhost"})


class TokenFileError(Exception):
    """A token file that cannot be trusted or read (its message says why and what to do)."""


def runtime_dir() -> Path:
    """The private folder default token files live in: ``$XDG_RUNTIME_DIR/msgsim``, else
    ``~/.msgsim``."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "msgsim" if base else Path.home() / ".msgsim"


def default_token_path(port: int) -> Path:
    """The file the daemon listening on ``port`` keeps its default token in."""
    return runtime_dir() / f"{port}.token"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_default_token(port: int, token: str) -> Path:
    """Write ``token`` to :func:`default_token_path` (folder 0700, file 0600, replaced
    atomically); returns the path."""
    folder = runtime_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise TokenFileError(f"{folder} belongs to another user: the token cannot be kept there")
    if stat.S_IMODE(info.st_mode) & 0o077:
        folder.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".token-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        path = default_token_path(port)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_default_token(path: Path, token: str) -> None:
    """Remove the daemon's token file, unless another daemon replaced it since."""
    try:
        if path.read_text().strip() == token:
            path.unlink()
    except OSError:
        pass


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path`` (``--token-file``): refused when the file is readable or writable
    by its group or others, or is not a regular file of this user's."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
    with os.fdopen(fd) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise TokenFileError(f"token file {path} is not a regular file")
        if info.st_uid != os.getuid():
            raise TokenFileError(f"token file {path} belongs to another user")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise TokenFileError(
                f"token file {path} has mode {mode:04o}: other users could read it; "
                f"make it private with: chmod 600 {path}"
            )
        token = f.read().strip()
    if not token:
        raise TokenFileError(f"token file {path} is empty")
    return token


def find_token(host: str, port: int) -> str | None:
    """A client's token when none is given: ``MSGSIM_TOKEN``, else the default token file of
    a daemon on this machine listening on ``port`` (None if there is neither)."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token
    if host not in LOOPBACK_HOSTS:
        return None
    try:
        return read_token_file(default_token_path(port))
    except TokenFileError:
        return None
