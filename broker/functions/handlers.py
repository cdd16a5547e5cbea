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
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
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


def resolve(fn: Function) -> Callable[..., Any]:
    """``fn``'s handler as a callable: loaded on first use and kept on the function."""
    handler = fn.handler
    if callable(handler):
        return handler
    if fn.resolved is None:
        fn.resolved = resolve_handler(handler)
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


def resolve_handler(spec: str) -> Callable[..., Any]:
    """The callable an import string names (see :func:`parse_handler`); a function error
    (MalformedHandlerName, ImportModuleError, HandlerNotFound) if none."""
    module_name, attr = parse_handler(spec)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise HandlerError(
                "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'"
            )
    if not callable(target):
        raise HandlerError(
            "Runtime.HandlerNotFound", f"Handler '{attr}' on module '{module_name}' is not callable"
        )
    return target
