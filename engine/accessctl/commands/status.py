"""`accessctl status` lives beside `report`; this module names it for the lazy registry."""

from accessctl.commands.report import status as command

__all__ = ["command"]
