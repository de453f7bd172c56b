"""``python -m labledger``: the same as the ``labledger`` command."""

from labledger.cli import main

main()
