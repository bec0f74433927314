"""Subcommands of ``liantu``; every module here contributes a ``commands`` list."""
