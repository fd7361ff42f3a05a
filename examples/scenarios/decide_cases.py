"""Decides every case of a seed scenario's cases.json with the `xop` binary on a built module,
the way a user would (`xop eval --policy` / `xop eval --decision`, JSON output), and compares
the result with the case's expectation. Run by examples/demo.sh; exits 1 on the first case
that differs (the test suite checks the same cases in-process: tests/tests/conformance.rs).

Usage: decide_cases.py XOP MODULE CASES_JSON WORK_DIR"""

import json
import os
import subprocess
import sys


def main(xop, module, cases_path, work):
    path = os.path.join(work, "case.json")
    for c in json.load(open(cases_path, encoding="utf-8")):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(c["input"], f)
        what = ["--decision", c["decision"]] if "decision" in c else ["--policy", c["policy"]]
        out = subprocess.run([xop, "eval", module, *what, "--input", path, "--format", "json"],
                             capture_output=True, text=True)
        d, want = json.loads(out.stdout), c["expect"]
        if "decision" in c:
            got = [{"action": x["action"], "rank": x["rank"], "verdict": x["verdict"],
                    "reasons": x["reasons"]} for x in d["candidates"]]
            ok = got == want["candidates"] and d["choice"] == want["choice"]
            if d["choice"] is None:
                chosen = "nothing"
            else:
                best = d["candidates"][d["choice"]]
                chosen = best["args"].get("offer", best["action"])
            shown = f"{len(got)} candidate(s), chooses {chosen}"
        else:
            ok = d["verdict"] == want["verdict"] and d["reasons"] == want["reasons"]
            shown = f"{d['verdict']} {d['reasons']}"
        print(f"{'ok  ' if ok else 'FAIL'} {c['name']}: {shown}")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
