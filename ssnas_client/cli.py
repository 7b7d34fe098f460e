"""``ssnas`` commands that talk to a running service (``ssnas serve`` itself is launcher/serve.py):

    ssnas datasets upload FILE [--name N] | list | show ID | delete ID
    ssnas jobs submit --dataset ID [--method ssl] [--config cfg.yaml] [--set k=v ...] [--watch]
    ssnas jobs list [--status S] | show ID | logs ID [--follow] | cancel ID | retry ID | watch ID
    ssnas models list | show ID | download ID -o DIR
    ssnas predict MODEL --poster FILE --plot TEXT | --field k=v --file k=PATH | --batch FILE.csv|.jsonl

Every command takes ``--url``, ``--key``, ``--data-dir`` (see ``config.py``) and ``--json``.
Exit codes: 0 ok, 1 an API or connection error (message on stderr), 2 usage, 130 detached (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from . import commands, jobs_cli
from .client import Client
from .config import ConfigError, resolve_key, resolve_url
from .errors import ApiError, ChecksumMismatch, ConnectionFailed


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("service")
    g.add_argument("--url", help="service URL (default $SSNAS_URL or http://127.0.0.1:8000)")
    g.add_argument("--key", help="API key (default $SSNAS_API_KEY or <data dir>/api_key)")
    g.add_argument("--data-dir", help="ssnas serve's data dir for the key (default $SSNAS_DATA_DIR or ./.ssnas)")
    g.add_argument("--json", action="store_true", help="print JSON (for scripts) instead of text")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="ssnas", description="Client of the ssnas service "
                                     "(and `ssnas serve` to run one on this machine).")
    top = parser.add_subparsers(dest="group", required=True, metavar="{serve,datasets,jobs,models,predict}")
    top.add_parser("serve", help="run the whole service on this machine (see `ssnas serve --help`)",
                   add_help=False).set_defaults(func=_serve_elsewhere)
    commands.add_dataset_parsers(top.add_parser("datasets", help="upload, list, show, delete datasets")
                                 .add_subparsers(dest="cmd", required=True), common)
    jobs_cli.add_job_parsers(top.add_parser("jobs", help="submit, follow and manage search jobs")
                             .add_subparsers(dest="cmd", required=True), common)
    commands.add_model_parsers(top.add_parser("models", help="list, show, download trained models")
                               .add_subparsers(dest="cmd", required=True), common)
    commands.add_predict_parser(top, common)
    return parser


def _serve_elsewhere(*_: Any) -> int:
    """``serve`` is handled by the ``ssnas`` console script (launcher/serve.py) before this parser."""
    print("run `ssnas serve` (the console script) to start the service", file=sys.stderr)
    return 2


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str] | str | None = None) -> None:
    """``--json``: ``data`` as JSON on stdout; else ``text`` (a string or a function making one)."""
    if args.json:
        print(json.dumps(data, indent=1, default=str))
    elif text is not None:
        print(text() if callable(text) else text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        url, key = resolve_url(args.url), resolve_key(args.key, args.data_dir)
        with Client(url, key) as client:
            return int(args.func(client, args, emit) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ApiError as exc:
        hint = " (pass --key, set SSNAS_API_KEY, or --data-dir of ssnas serve)" if exc.status == 401 else ""
        _fail(args, {"error": exc.message, "status": exc.status}, f"error: HTTP {exc.status}: {exc.message}{hint}")
    except (ConnectionFailed, ChecksumMismatch, ConfigError, OSError) as exc:
        _fail(args, {"error": str(exc), "status": None}, f"error: {exc}")
    return 1


def _fail(args: argparse.Namespace, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(data))
    print(text, file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
