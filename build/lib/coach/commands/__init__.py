"""Sub-commands of the `coach` CLI; each module exposes `register(subparsers)`."""
