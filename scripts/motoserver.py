"""motoserver.py — moto's standalone server with DynamoDB requests serialised.

scripts/emulator.sh runs this instead of `moto_server`. It serves the same
WSGI application (moto.server's DomainDispatcherApplication) on werkzeug's
threaded server, with one difference: every DynamoDB request holds one
process-wide lock from the moment it is routed until its response body is
complete. Other services (SQS, EventBridge, ...) stay concurrent, so a 20 s
SQS long poll never blocks a DynamoDB call.

Why: moto's DynamoDB backend is not thread-safe. Under concurrent requests
its conditional writes are not atomic (two version-conditioned UpdateItems
on one item both win: 7 of 300 races in a probe) and TransactWriteItems is
not isolated (it snapshots and restores the whole table, undoing a write
that landed meanwhile). DynamoDB itself gives both guarantees, and
Hourglass's correctness rests on them, so the emulator must too. One request
at a time is what moto's GIL-bound Python mostly did anyway: the lock costs
little throughput. pkg/awstest's probe test checks the guarantee.

Usage: python3 scripts/motoserver.py [-H HOST] [-p PORT]
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def is_dynamodb(environ):
    """Reports whether a request is for DynamoDB (JSON 1.0 protocol)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_") or target.startswith("DynamoDBStreams_"):
        return True
    # Unsigned or oddly routed requests: the SigV4 scope names the service.
    return "/dynamodb/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")


class SerialisedDynamoDB:
    """WSGI middleware: DynamoDB requests run one at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not is_dynamodb(environ):
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["start"] = (status, headers, exc_info)
            return lambda data: captured.setdefault("written", []).append(data)

        with self.lock:
            result = self.app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        status, headers, exc_info = captured["start"]
        start_response(status, headers, exc_info)
        return [b"".join(captured.get("written", [])) + body]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)), help="port")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(args.host, args.port, SerialisedDynamoDB(app), threaded=True)


if __name__ == "__main__":
    main()
