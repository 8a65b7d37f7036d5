"""``python -m consoleproxy``: the same as the ``consoleproxy`` command."""

from consoleproxy.cli import main

if __name__ == "__main__":
    main()
