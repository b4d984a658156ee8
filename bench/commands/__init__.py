"""One module per `python -m bench` subcommand, each exposing `register(subparsers)`."""
