"""Command line of the human study.

``python -m mnistrobust.human serve`` runs the experiment page on 127.0.0.1:8000 for the
subjects' stimulus file; ``python -m mnistrobust.human export --out responses.csv`` writes
the answers as a tidy CSV. ``--help`` lists the options and their defaults.
"""

from __future__ import annotations

import argparse
import sys

from ..cli import port
from ..errors import MnistRobustError
from ..jobs.human import export_responses
from .server import make_experiment_server

DEFAULT_STIMULI = "results/human/subjects_stimuli.h5"
DEFAULT_DB = "human_study/responses.sqlite"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnistrobust.human", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the experiment page")
    serve.add_argument(
        "--stimuli", default=DEFAULT_STIMULI, help=f"subjects' stimulus file (default {DEFAULT_STIMULI})"
    )
    serve.add_argument(
        "--db", default=DEFAULT_DB, help=f"SQLite response database, created if absent (default {DEFAULT_DB})"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for other lab machines)"
    )
    serve.add_argument("--port", type=port, default=8000, help="0: any free port (default 8000)")
    export = commands.add_parser(
        "export", help="write the responses as a tidy CSV (subject id is the only personal field)"
    )
    export.add_argument("--stimuli", default=DEFAULT_STIMULI)
    export.add_argument("--db", default=DEFAULT_DB)
    export.add_argument("--out", required=True, help="CSV file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            server = make_experiment_server(args.stimuli, args.db, args.host, args.port)
            print(
                f"experiment on http://{args.host}:{server.server_port}/ ; answers go to {args.db} (Ctrl-C stops)",
                flush=True,
            )
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
        else:
            count = export_responses(args.stimuli, args.db, args.out)
            print(f"wrote {count} answers to {args.out}")
    except (MnistRobustError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
