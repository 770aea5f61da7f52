"""The vendors' API contracts (data files here) and the checkers that hold the emulators to them.

`plugin.py` (loaded by tests/conftest.py) turns strict contract mode on for every emulator a test
starts, and fails the test whose requests or answers broke a contract, naming each call.
"""
