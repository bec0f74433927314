"""``python -m app`` is the ``liantu`` command."""

from app.cli import main

main()
