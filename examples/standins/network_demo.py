"""The network scenarios of the demo, against a running `xop serve` whose xop.toml points
[camara] at the local stand-in (examples/standins/camara.py):

(b) a payment by a customer whose SIM was swapped two hours ago is paused for the fraud desk,
    which approves it over HTTP; one by a customer with an old swap is not paused;
(c) a VIP's video consultation: the decision proposes a QoD boost, the policy allows it, and
    the server creates the session at the stand-in and proves it; a standard customer gets none.

Usage: network_demo.py URL REVIEWER_TOKEN XOP BOOST_MODULE WORK_DIR. Exits 1 when anything
differs from what the policies say."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request


def main(url, token, xop, boost_module, work):
    def call(method, path, body=None, auth=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url + path, method=method, data=data)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            fail(f"{method} {path}: {e.code} {e.read().decode()}")

    def rank(consultation):
        path = os.path.join(work, "consultation.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(consultation, f)
        out = subprocess.run([xop, "eval", boost_module, "--decision", "consultation_boost",
                              "--input", path, "--format", "json"],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    print("-- (b) a payment by a customer whose SIM card was swapped two hours ago")
    pay = {"to": {"id": "cust-42", "msisdn": "+33612345678"},
           "tx": {"id": "tx-1", "amount": "250.00 EUR"}}
    d = call("POST", "/v1/decide/fraud", pay)
    print(f"decision: {d['verdict']} {d['reasons']}, proof record {d['seq']}, "
          f"review case {d['case']}")
    expect(d["verdict"] == "review" and d["case"], d)
    case = call("GET", f"/v1/reviews/{d['case']}", auth=True)
    print(f"the fraud desk sees case {case['id']}: {case['reasons']}, "
          f"deadline {case['deadline']}, else {case['fallback']}")
    done = call("POST", f"/v1/reviews/{d['case']}/approve",
                {"note": "customer confirmed by phone"}, auth=True)
    print(f"approved by {done['decided_by']}: {done['status']}, "
          f"outcome proven in record {done['proof']}")
    expect(done["status"] == "approved", done)

    print("\n-- (b) the same payment by a customer whose last swap was over a year ago")
    pay["to"] = {"id": "cust-7", "msisdn": "+33687654321"}
    d = call("POST", "/v1/decide/fraud", pay)
    print(f"decision: {d['verdict']} {d['reasons']}, proof record {d['seq']}")
    expect(d["verdict"] == "deny" and d["reasons"] == ["no-recent-sim-swap"], d)

    print("\n-- (c) a VIP's video consultation: a QoD boost proposed, allowed, created")
    consultation = {
        "c": {"id": "cust-42", "tier": "vip", "msisdn": "+33612345678"},
        "call": {"id": "consult-1", "video": True, "server": "198.51.100.0/24",
                 "length": "45m"},
    }
    ranked = rank(consultation)
    expect(ranked["choice"] == 0, ranked)
    proposed = ranked["candidates"][0]
    boost = proposed["args"]
    print(f"proposed: {proposed['action']} {boost['qos_profile']} "
          f"for {boost['duration'] // 60000} min")
    d = call("POST", "/v1/decide/qod_limits", boost)
    performed = d.get("performed") or {}
    session = performed.get("result", {}).get("session_id")
    print(f"decision: {d['verdict']} {d['reasons']}, record {d['seq']}; QoD session {session} "
          f"created, proven in record {d.get('performed_seq')}")
    expect(d["verdict"] == "allow" and performed.get("ok"), d)
    consultation["c"]["tier"] = "standard"
    ranked = rank(consultation)
    expect(ranked["choice"] is None, ranked)
    print("a standard customer's consultation: no boost proposed")


def expect(cond, what):
    if not cond:
        fail(f"unexpected: {what}")


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:6])
