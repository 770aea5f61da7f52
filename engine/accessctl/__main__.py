"""`python -m accessctl`: the same command line as `accessctl`."""

from accessctl.cli import main

if __name__ == "__main__":
    main()
