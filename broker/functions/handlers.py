"""Handler import strings: what names a handler, and loading the callable it names.

A function's Handler is a callable (in process) or an import string naming one, loaded at the
first invocation and kept until the Handler changes. A string that cannot be loaded is a
function error of the runtime's, as Lambda's Python runtime reports it: ``Runtime.
ImportModuleError`` when the module does not import, ``Runtime.HandlerNotFound`` when the module
has no such callable.
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


def resolve_handler(spec: str) -> Callable[..., Any]:
    """The callable an import string names (``package.module.function`` or
    ``package.module:function``); a function error (ImportModuleError, HandlerNotFound) if none."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
    else:
        module_name, _, attr = spec.rpartition(".")
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
