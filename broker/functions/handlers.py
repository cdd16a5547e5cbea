"""Handler import strings: what names a handler, and loading the callable it names.

A function's Handler is a callable (in process) or an import string naming one, in either form:

- ``package.module:function`` -- msgsim's: the module before the colon, and after it the
  callable, which may be a dotted attribute path (``module:Class.method``);
- ``module.function`` -- Lambda's: the callable after the last dot, the (possibly dotted)
  module before it (``package.module.function``).

:func:`parse_handler` is the one definition of that format: CreateFunction and
UpdateFunctionConfiguration refuse a string it refuses, and the loader uses it too. A string is
loaded at the first invocation and kept until the Handler changes; one that cannot be loaded is
a function error of the runtime's, as Lambda's Python runtime reports it:
``Runtime.MalformedHandlerName`` when it names no module or no function ("Bad handler ..."),
``Runtime.ImportModuleError`` when the module does not import, ``Runtime.HandlerNotFound`` when
the module has no such callable.

**Handler roots** (:class:`HandlerRoots`). A broker may be told which folders its import-string
handlers may load from (``Broker.open(handler_roots=[...])``; ``msgsim serve --handlers PATH``,
by default the directory it was started in). Then a handler loads only if the module it names,
every package on the way to it and the module that defines the callable all lie, by real path
(symlinks and ``..`` resolved), inside one of those roots: the module is searched for in the
roots only, never on the rest of ``sys.path``, and a module already imported (``json``,
``cProfile``, ``builtins``) counts only if its file is inside a root; a namespace package only
through its portions inside a root. Python's own folders (its installation prefixes, the
standard library, site-packages, a virtual environment) are outside even when a root holds
them, unless a root is named at or below one of them.

The rule is enforced when a handler is loaded: a module outside the roots is a function error
``Runtime.ImportModuleError`` naming them, and nothing of it is imported. CreateFunction and
UpdateFunctionConfiguration refuse at once (InvalidParameterValueException naming the roots) a
Handler whose module is the standard library's or built in, outside the roots; any other module
is accepted there, found or not, since a worker may serve the function. Without roots (``handler_roots=None``, an in-process broker's default) any
importable module loads: the code that opened the broker chose its handlers itself.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from .model import Function


class HandlerError(Exception):
    """A handler that cannot be found or loaded (a function error of the runtime's)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def handler_label(handler: Any) -> str:
    """The Handler string GetFunction shows for a callable handler."""
    module = getattr(handler, "__module__", None) or "handler"
    name = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", "handler")
    return f"{module}.{name}"


class HandlerRoots:
    """The folders import-string handlers may load from (see the module's docstring), as real
    paths: symlinks and ``..`` resolved once, when the roots are named."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        paths: list[str] = []
        for root in roots:
            path = os.path.realpath(os.fspath(root))
            if path not in paths:
                paths.append(path)
        self.paths = tuple(paths)
        #: Python's own folders (installation prefixes, the standard library, site-packages):
        #: outside, even inside a root, unless a root is named at or below one of them (a
        #: daemon started in the home folder must not serve a ~/.pyenv standard library).
        self.python_paths = _python_paths()
        paths = sysconfig.get_paths()
        self.standard_paths = tuple(
            {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}
        )
        self.package_paths = tuple(
            os.path.realpath(p) for p in self.python_paths if p.endswith("-packages")
        )

    def __repr__(self) -> str:
        return f"HandlerRoots({list(self.paths)!r})"

    def contains(self, path: str) -> bool:
        """Whether ``path`` (a file or folder) lies, by real path, inside a root and not in
        Python's own folders below that root."""
        real = os.path.realpath(path)
        root = _deepest(real, self.paths)
        if root is None:
            return False
        python = _deepest(real, self.python_paths)
        return python is None or len(root) >= len(python)

    def in_standard_library(self, path: str) -> bool:
        """Whether ``path`` lies in the standard library's folders (not in a site-packages
        folder below them)."""
        real = os.path.realpath(path)
        standard = _deepest(real, self.standard_paths)
        packages = _deepest(real, self.package_paths)
        return standard is not None and (packages is None or len(standard) > len(packages))

    def describe(self) -> str:
        """The roots as messages name them."""
        return ", ".join(self.paths) if self.paths else "(none)"

    def refusal(self, module_name: str, where: str) -> str:
        return (
            f"Module '{module_name}' ({where}) is outside the handler roots this broker loads "
            f"handlers from: {self.describe()}. Serve the function with 'msgsim worker', or start "
            "the daemon with --handlers naming the module's folder."
        )


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _deepest(path: str, folders: Iterable[str]) -> str | None:
    """The longest of ``folders`` that ``path`` lies in, if any."""
    inside = [folder for folder in folders if _within(path, folder)]
    return max(inside, key=len) if inside else None


def _python_paths() -> tuple[str, ...]:
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found.update(sysconfig.get_paths().values())
    found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    found.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(sorted({os.path.realpath(p) for p in found if p}))


def resolve(fn: Function, roots: HandlerRoots | None = None) -> Callable[..., Any]:
    """``fn``'s handler as a callable: loaded on first use (from ``roots`` only, when given)
    and kept on the function."""
    handler = fn.handler
    if callable(handler):
        return handler
    if fn.resolved is None:
        fn.resolved = resolve_handler(handler, roots)
    return fn.resolved


#: The accepted forms, as error messages name them.
HANDLER_FORMS = "'package.module:function' (or Lambda's 'module.function')"


def parse_handler(spec: str) -> tuple[str, str]:
    """The module and the attribute path an import string names. Raises :class:`HandlerError`
    (``Runtime.MalformedHandlerName``) when either is missing or has an empty part: "handler"
    and "" name no module, "mod:" and "mod." no function, "a..b" an empty module name."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
    else:
        module_name, _, attr = spec.rpartition(".")
    if not all(module_name.split(".")) or not all(attr.split(".")):
        raise HandlerError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{spec}': it must name a module and a function: {HANDLER_FORMS}.",
        )
    return module_name, attr


def resolve_handler(spec: str, roots: HandlerRoots | None = None) -> Callable[..., Any]:
    """The callable an import string names (see :func:`parse_handler`); a function error
    (MalformedHandlerName, ImportModuleError, HandlerNotFound) if none. With ``roots``, only a
    callable defined in a module inside them (see the module's docstring)."""
    module_name, attr = parse_handler(spec)
    try:
        if roots is None:
            module = importlib.import_module(module_name)
        else:
            module = _import_within(module_name, roots)
    except HandlerError:
        raise
    except Exception as exc:
        raise HandlerError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if roots is not None and part.startswith("__"):
            raise HandlerError(
                "Runtime.HandlerNotFound",
                f"Handler '{attr}' on module '{module_name}': a handler name may not start with "
                "'__' when handlers load from roots",
            )
        target = getattr(target, part, None)
        if target is None:
            raise HandlerError(
                "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'"
            )
        if roots is not None and isinstance(target, ModuleType):
            _check_module(target.__name__, target, roots)
    if not callable(target):
        raise HandlerError(
            "Runtime.HandlerNotFound", f"Handler '{attr}' on module '{module_name}' is not callable"
        )
    if roots is not None:
        # The callable must be defined inside a root too: 'mymod:os.system' or a module's
        # 'from cProfile import run' would otherwise reach past the roots.
        home = getattr(target, "__module__", None)
        defined_in = sys.modules.get(home) if isinstance(home, str) else None
        if defined_in is None:
            raise HandlerError(
                "Runtime.ImportModuleError",
                roots.refusal(module_name, f"its handler '{attr}' is defined in no module"),
            )
        _check_module(home, defined_in, roots)  # type: ignore[arg-type]
    return target


def check_handler_location(spec: str, roots: HandlerRoots) -> None:
    """CreateFunction's check, without importing anything: a :class:`HandlerError` naming the
    roots when the module ``spec`` names is Python's own and outside them (the standard
    library or a built-in, as the import system would find it). Any other module passes here,
    since a worker may serve the function (a package the daemon could import from elsewhere
    included): whether it may load in the broker is decided when it is loaded."""
    module_name, _ = parse_handler(spec)
    top = module_name.partition(".")[0]
    try:
        found = importlib.util.find_spec(top)  # a top-level name: no package is imported
    except (ImportError, ValueError):
        return
    if found is None or _spec_within(found, roots):
        return
    if found.origin in ("built-in", "frozen") or not found.has_location:
        standard = found.submodule_search_locations is None  # not a namespace package
    else:
        standard = isinstance(found.origin, str) and roots.in_standard_library(found.origin)
    if standard:
        raise HandlerError(
            "Runtime.ImportModuleError", roots.refusal(module_name, _spec_where(found))
        )


def _import_within(module_name: str, roots: HandlerRoots) -> ModuleType:
    """Import ``module_name`` searching only ``roots``: each package on the way is either
    imported already from inside a root, or found inside one and loaded from there."""
    parts = module_name.split(".")
    module: ModuleType | None = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        loaded = sys.modules.get(name)
        if loaded is not None:
            _check_module(name, loaded, roots)
            module = loaded
            continue
        if module is None:
            search = list(roots.paths)
        else:
            search = [p for p in getattr(module, "__path__", ()) if roots.contains(p)]
        found = importlib.machinery.PathFinder.find_spec(name, search) if search else None
        if found is None:
            raise HandlerError(
                "Runtime.ImportModuleError",
                f"Unable to import module '{module_name}': No module named '{name}' in the "
                f"handler roots ({roots.describe()})",
            )
        if not _spec_within(found, roots):  # a symlink out of a root
            raise HandlerError("Runtime.ImportModuleError", roots.refusal(name, _spec_where(found)))
        child = importlib.util.module_from_spec(found)
        sys.modules[name] = child
        try:
            if found.loader is not None:
                found.loader.exec_module(child)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        if module is not None:
            setattr(module, parts[i], child)
        module = child
    assert module is not None
    return module


def _check_module(name: str, module: ModuleType, roots: HandlerRoots) -> None:
    """Refuse a module (imported already) that does not lie inside a root: its file, or for a
    namespace package one of its portions."""
    file = getattr(module, "__file__", None)
    if isinstance(file, str):
        if roots.contains(file):
            return
        where = f"file {os.path.realpath(file)}"
    else:
        portions = [p for p in getattr(module, "__path__", ()) or () if isinstance(p, str)]
        if any(roots.contains(p) for p in portions):
            return
        where = "built in, with no file" if not portions else f"folders {', '.join(portions)}"
    raise HandlerError("Runtime.ImportModuleError", roots.refusal(name, where))


def _spec_within(found: importlib.machinery.ModuleSpec, roots: HandlerRoots) -> bool:
    if found.has_location and isinstance(found.origin, str):
        return roots.contains(found.origin)
    portions = found.submodule_search_locations
    return bool(portions) and any(roots.contains(p) for p in portions)  # type: ignore[union-attr]


def _spec_where(found: importlib.machinery.ModuleSpec) -> str:
    if found.has_location and isinstance(found.origin, str):
        return f"file {os.path.realpath(found.origin)}"
    if found.submodule_search_locations:
        return f"folders {', '.join(found.submodule_search_locations)}"
    return f"{found.origin or 'built in'}, with no file"
