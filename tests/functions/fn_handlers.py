"""Handlers for the import-string tests ("fn_handlers:echo", Lambda's "fn_handlers.echo")."""

from __future__ import annotations

NOT_CALLABLE = 42


def echo(event, context):
    return {"echo": event, "name": context.function_name}


class Nested:
    @staticmethod
    def handle(event, context):
        return "nested"
