"""End-to-end tests of the framing of `xop lsp`'s messages, with raw bytes on the real
binary's standard input and output (pytest-lsp's client cannot send malformed messages): a bad
message is answered and the server goes on; `exit` ends it at once."""

import json
import os
import subprocess
import threading
import time

from conftest import WORK, xop_binary

TIMEOUT = 20.0


class RawServer:
    """`xop lsp` with its standard input and output as bytes; every message it writes is
    collected by a reader thread."""

    def __init__(self):
        (WORK / "cache").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "XOP_CACHE_DIR": str(WORK / "cache")}
        self.proc = subprocess.Popen(
            [xop_binary(), "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.messages = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            msg = json.loads(out.read(length))
            with self.lock:
                self.messages.append(msg)

    def send_bytes(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send_body(self, body: bytes):
        self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send(self, msg: dict):
        self.send_body(json.dumps(msg).encode())

    def answers(self, pred) -> list:
        with self.lock:
            return [m for m in self.messages if "method" not in m and pred(m)]

    def wait_answer(self, pred, count=1) -> list:
        end = time.time() + TIMEOUT
        while time.time() < end:
            got = self.answers(pred)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"no answer; got {self.messages}")

    def request(self, id, method, params=None) -> dict:
        self.send({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        return self.wait_answer(lambda m: m.get("id") == id)[0]


def start() -> RawServer:
    s = RawServer()
    r = s.request(1, "initialize", {"capabilities": {}})
    assert "capabilities" in r["result"]
    s.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    return s


def test_bad_messages_are_answered_and_the_server_goes_on():
    s = start()
    try:
        uri = (WORK / "nodisk" / "p.xop").as_uri()
        s.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri, "languageId": "xop", "version": 1, "text": "module p\nrole r\n"}}})
        bodies = [
            b"{bad json}",
            b"[1,2]",
            b'"str"',
            b'{"jsonrpc":"2.0","id":1.5,"method":"textDocument/hover","params":{}}',
            b'{"jsonrpc":"2.0","id":{"a":1},"method":"textDocument/hover","params":{}}',
        ]
        for b in bodies:
            s.send_body(b)
        # A bad header, then a frame whose length is absurd.
        s.send_bytes(b"Content-Length: lots\r\n\r\n{}")
        s.send_bytes(b"Content-Length: 99999999999\r\n\r\n{}")
        nulls = s.wait_answer(lambda m: m.get("id") is None and "error" in m, count=7)
        codes = sorted(m["error"]["code"] for m in nulls)
        assert codes == [-32700, -32700, -32700, -32600, -32600, -32600, -32600], nulls
        # With a usable id, the answer carries it.
        s.send_body(b'{"jsonrpc":"1.0","id":5000,"method":"textDocument/hover","params":{}}')
        s.send_body(b'{"jsonrpc":"2.0","id":7,"method":5}')
        assert s.wait_answer(lambda m: m.get("id") == 5000)[0]["error"]["code"] == -32600
        assert s.wait_answer(lambda m: m.get("id") == 7)[0]["error"]["code"] == -32600
        # A request whose method starts with `$/` is answered "method not found".
        assert s.request(8, "$/custom")["error"]["code"] == -32601
        hover = s.request(9, "textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 5}})
        assert "role r" in hover["result"]["contents"]["value"]
        assert s.proc.poll() is None
        assert s.request(10, "shutdown")["result"] is None
        s.send({"jsonrpc": "2.0", "method": "exit"})
        assert s.proc.wait(timeout=TIMEOUT) == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_exit_status_says_whether_shutdown_came_first():
    """LSP 3.17, `exit`: status 0 if `shutdown` was received before, else 1."""
    for shutdown_first, status in [(False, 1), (True, 0)]:
        s = start()
        try:
            if shutdown_first:
                assert s.request(2, "shutdown")["result"] is None
            s.send({"jsonrpc": "2.0", "method": "exit"})
            assert s.proc.wait(timeout=TIMEOUT) == status, f"shutdown first: {shutdown_first}"
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
