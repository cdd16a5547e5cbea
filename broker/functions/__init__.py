"""Lambda-style functions: configuration, invocation (sync, async) and event source mappings."""
