"""Run the OCI test server in its own process (benchmarks, manual tries).

    python -m tests.oci_server --root /tmp/oci --user-dir /tmp/oci/.oci --bucket bench

prints one JSON line (``url``, ``namespace``, ``config_file``, ``env``: the variables that
point mdreg at it) and serves until interrupted or terminated.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from tests.oci_server.server import OciTestServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder for stored bytes")
    parser.add_argument(
        "--user-dir", type=Path, required=True, help="where to write the OCI config and key"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--namespace", default="testns")
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create (repeat)")
    parser.add_argument("--work-request-polls", type=int, default=3)
    args = parser.parse_args()
    server = OciTestServer(
        args.root,
        namespace=args.namespace,
        port=args.port,
        work_request_polls=args.work_request_polls,
    )
    for name in args.bucket:
        server.add_bucket(name)
    files = server.user_files(args.user_dir)
    server.start()
    print(
        json.dumps(
            {
                "url": server.url,
                "namespace": args.namespace,
                "config_file": str(files.config),
                "env": {**server.endpoints_env(), "OCI_CONFIG_LOCATION": str(files.config)},
            }
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
