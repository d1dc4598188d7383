"""Local stand-ins for what lies outside the stack: an SMTP server that keeps every message it is
given, and a webhook receiver that records every delivery (headers and raw body) and answers 200.

Each writes one JSON line per message or delivery to ``--out``, so tests and operators can read
exactly what the gateway sent. Loopback only; they run until stopped.

    python deploy/sinks.py smtp --port 2525 --out mail.jsonl
    python deploy/sinks.py webhooks --port 9000 --out webhooks.jsonl
"""

import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_write_lock = threading.Lock()


def _append(out: Path, record: dict) -> None:
    line = json.dumps(record, sort_keys=True) + "\n"
    with _write_lock, open(out, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()


def serve_smtp(port: int, out: Path) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            _append(
                out,
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "data": envelope.original_content.decode("utf-8", errors="replace"),
                    "received_at": time.time(),
                },
            )
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"smtp sink on 127.0.0.1:{port} -> {out}", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


def serve_webhooks(port: int, out: Path) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            _append(
                out,
                {
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body_b64": base64.b64encode(body).decode(),
                    "received_at": time.time(),
                },
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # quiet: the JSON lines are the record
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"webhook receiver on 127.0.0.1:{port} -> {out}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["smtp", "webhooks"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.touch()
    (serve_smtp if args.kind == "smtp" else serve_webhooks)(args.port, args.out)


if __name__ == "__main__":
    main()
