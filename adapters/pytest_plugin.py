"""msgsim's pytest plugin (entry point ``pytest11``): fixtures for tests that use msgsim."""
