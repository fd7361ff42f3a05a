#!/usr/bin/env python3
"""A local stand-in for an operator's CAMARA APIs, for the demo (examples/demo.sh).

It serves an OAuth2 client-credentials token endpoint and the operations XOP's connectors use
(SIM Swap 2.1.0, Quality on Demand 1.1.0, Device Roaming / Reachability Status 1.0.0) under one
root, in the contracts' shapes, echoing each request's x-correlator. It answers from a small
table of subscribers (SUBSCRIBERS below), so the demo's decisions are known in advance. Its
times (lastStatusTime, latestSimChange, startedAt) are those of each request, so a stand-in left
running stays current; a request outside the contract (maxAge outside 1-2400, a session without
duration) gets the contracts' 400 error body.

    python3 examples/standins/camara.py --port-file PORT_FILE --requests REQUESTS_FILE

It listens on 127.0.0.1 on a free port, writes the port to PORT_FILE once it is ready, and
appends one JSON line per API request (method, path, correlator, status) to REQUESTS_FILE.
This is a demo stand-in, not a contract test: the connectors' contract tests are in
network/tests/connectors/.
"""
import argparse
import base64
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID, CLIENT_SECRET, TOKEN = "xop-demo", "demo-secret", "demo-token-0123456789"

# phone number -> hours before each request that the SIM card was last swapped
SUBSCRIBERS = {
    "+33612345678": 2,        # swapped two hours ago: a payment is paused for review
    "+33687654321": 24 * 400,  # last swapped over a year ago
}
SESSIONS = {}
LOCK = threading.Lock()


# The contracts' error bodies for a request that is not acceptable.
INVALID_ARGUMENT = (400, "INVALID_ARGUMENT", "Client specified an invalid argument, request body or query param.")
OUT_OF_RANGE = (400, "OUT_OF_RANGE", "Client specified an invalid range.")


class Refused(Exception):
    """A request outside the contract: answered with the error (status, code, message)."""


def now():
    """The time of the request being answered: a long-running stand-in stays current."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def integer(body, key, low, high, default=None):
    """body[key], an integer from low to high (the contract's bounds), or default if absent."""
    if key not in body:
        if default is None:
            raise Refused(*INVALID_ARGUMENT)
        return default
    value = body[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise Refused(*INVALID_ARGUMENT)
    if not low <= value <= high:
        raise Refused(*OUT_OF_RANGE)
    return value


class Handler(BaseHTTPRequestHandler):
    requests_file = None

    def log_message(self, *args):  # quiet: the requests file is the record
        pass

    def answer(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        correlator = self.headers.get("x-correlator")
        if correlator:
            self.send_header("x-correlator", correlator)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.path != "/oauth2/token" and self.requests_file:
            with LOCK, open(self.requests_file, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "correlator": correlator, "status": status}) + "\n")

    def error(self, status, code, message):
        self.answer(status, {"status": status, "code": code, "message": message})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise Refused(*INVALID_ARGUMENT)
        if not isinstance(body, dict):
            raise Refused(*INVALID_ARGUMENT)
        return body

    def authorised(self):
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.error(401, "UNAUTHENTICATED", "Request not authenticated due to missing, invalid, or expired credentials.")
            return False
        return True

    def phone(self, body):
        device = body.get("device")
        number = body.get("phoneNumber") or (device.get("phoneNumber") if isinstance(device, dict) else None)
        if number not in SUBSCRIBERS:
            self.error(404, "IDENTIFIER_NOT_FOUND", "Device identifier not found.")
            return None
        return number

    def do_POST(self):
        if self.path == "/oauth2/token":
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {basic}":
                return self.answer(401, {"error": "invalid_client"})
            return self.answer(200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
        if not self.authorised():
            return
        try:
            self.post(self.body())
        except Refused as e:
            self.error(*e.args)

    def post(self, body):
        if self.path == "/sim-swap/v2/check":
            max_age = integer(body, "maxAge", 1, 2400, default=240)
            number = self.phone(body)
            if number:
                self.answer(200, {"swapped": SUBSCRIBERS[number] <= max_age})
        elif self.path == "/sim-swap/v2/retrieve-date":
            number = self.phone(body)
            if number:
                swapped = now() - timedelta(hours=SUBSCRIBERS[number])
                self.answer(200, {"latestSimChange": iso(swapped), "monitoredPeriod": 120})
        elif self.path == "/device-roaming-status/v1/retrieve":
            if self.phone(body):
                self.answer(200, {"lastStatusTime": iso(now()), "roaming": False})
        elif self.path == "/device-reachability-status/v1/retrieve":
            if self.phone(body):
                self.answer(200, {"lastStatusTime": iso(now()), "reachable": True, "connectivity": ["DATA"]})
        elif self.path == "/quality-on-demand/v1/sessions":
            duration = integer(body, "duration", 1, 2**31 - 1)
            if not isinstance(body.get("qosProfile"), str) or not isinstance(body.get("applicationServer"), dict):
                raise Refused(*INVALID_ARGUMENT)
            if not self.phone(body):
                return
            started = now()
            session = {
                "sessionId": str(uuid.uuid4()),
                "duration": duration,
                "qosProfile": body["qosProfile"],
                "device": body["device"],
                "applicationServer": body["applicationServer"],
                "qosStatus": "AVAILABLE",
                "startedAt": iso(started),
                "expiresAt": iso(started + timedelta(seconds=duration)),
            }
            with LOCK:
                SESSIONS[session["sessionId"]] = session
            self.answer(201, session)
        else:
            self.error(404, "NOT_FOUND", "The specified resource is not found.")

    def do_GET(self):
        if not self.authorised():
            return
        prefix = "/quality-on-demand/v1/sessions/"
        session = SESSIONS.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
        if session:
            self.answer(200, session)
        else:
            self.error(404, "NOT_FOUND", "The specified resource is not found.")

    def do_DELETE(self):
        if not self.authorised():
            return
        prefix = "/quality-on-demand/v1/sessions/"
        with LOCK:
            found = self.path.startswith(prefix) and SESSIONS.pop(self.path[len(prefix):], None)
        if found:
            self.answer(204)
        else:
            self.error(404, "NOT_FOUND", "The specified resource is not found.")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--requests", required=True)
    a = p.parse_args()
    Handler.requests_file = a.requests
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
