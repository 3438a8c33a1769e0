"""The whole job through the API, as an applicant tracking system would do it: stdlib only.

Run it next to `recruiter serve` (same machine, same instance folder):

    python3 docs/api_example.py --base http://127.0.0.1:5000

It makes a write token and a webhook endpoint with the command line, opens a position, upserts
the 30 Vancouver applicants with their ATS ids, writes each note (with If-Match), sets the
differentiator, marks the position filled by the hire's ATS id, approves every letter,
freezes the batch on hold and releases it, saves the letters for post as PDFs and confirms
them posted, waits at its own local receiver for the signed `batch.completed` webhook, and
saves the evidence export. Every step prints one line; files go to the current folder.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import hmac
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VANCOUVER = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"


def cli(recruiter: list[str], *args: str) -> str:
    """One recruiter command; its last line of output (where secrets are printed)."""
    done = subprocess.run([*recruiter, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"`recruiter {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """A Standard Webhooks signature check (the README's snippet)."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, sig.partition(",")[2])
               for sig in headers["webhook-signature"].split())


class Receiver(ThreadingHTTPServer):
    """A local webhook receiver: verified events go into ``events``; repeats are dropped."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = ""
        self.events: queue.Queue[dict] = queue.Queue()
        self.seen: set[str] = set()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok = verify(self.server.secret, headers, body)
        self.send_response(204 if ok else 401)
        self.end_headers()
        if ok and headers["webhook-id"] not in self.server.seen:  # at-least-once: dedupe
            self.server.seen.add(headers["webhook-id"])
            self.server.events.put(json.loads(body))

    def log_message(self, *args: object) -> None:
        """Quiet: the script prints its own lines."""


class Api:
    """JSON over HTTP with the token; a problem document ends the script with its detail."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base.rstrip("/") + "/api/v1", token

    def call(self, method: str, path: str, body: object = None,
             headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
        """One request; the answer's bytes and headers."""
        request = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            sys.exit(f"{method} {path}: {error.code} {error.read().decode()}")

    def json(self, method: str, path: str, body: object = None, **headers: str) -> dict:
        """One request; the answer as JSON."""
        data, _ = self.call(method, path, body, headers)
        return json.loads(data) if data else {}


def main() -> None:
    """Every step in order, one printed line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:5000", help="where recruiter runs")
    parser.add_argument("--org", default="Harbour Air Logistics", help="the organization")
    parser.add_argument("--recruiter", default="recruiter", help="the recruiter command")
    parser.add_argument("--out", default="evidence.zip", help="where the evidence goes")
    args = parser.parse_args()
    recruiter = args.recruiter.split()

    token = cli(recruiter, "tokens", "create", "--org", args.org, "--name", "ATS example",
                "--scope", "write")
    print("1. token made on the command line")
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    # A receiver on loopback is a private address: the organization has to allow it.
    cli(recruiter, "org", "set", "--org", args.org, "--webhooks-allow-private", "yes")
    receiver.secret = cli(recruiter, "webhooks", "add", "--org", args.org, "--url",
                          f"http://127.0.0.1:{receiver.server_port}/hooks", "--events",
                          "batch.completed")
    print(f"2. webhook receiver on port {receiver.server_port}, signing secret saved")

    api = Api(args.base, token)
    run = str(int(time.time()))
    position = api.json("POST", "/positions", {"title": "Operations Coordinator",
                                               "location": "Vancouver, BC"},
                        **{"Idempotency-Key": f"open-{run}"})
    pid = position["id"]
    print(f"3. position {pid} opened")

    with VANCOUVER.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # The API's stages are recruiter's own three; this ATS calls a screened person shortlisted.
    stages = {"shortlisted": "screened"}
    people = [{"external_id": f"gh-{run}-{i:03d}",
               **{k: row[k] for k in ("first_name", "last_name", "email", "address_line1",
                                      "address_line2", "city", "region", "postal_code",
                                      "country")},
               "stage": stages.get(row["stage"], row["stage"])}
              for i, row in enumerate(rows, 1)]
    upsert = api.json("POST", f"/positions/{pid}/applications/bulk", {"applications": people},
                      **{"Idempotency-Key": f"upsert-{run}"})
    print(f"4. {len(people)} applications upserted: {upsert['created']} created")

    ids = upsert["ids"]  # the ATS's id -> recruiter's application id
    hire = next(p["external_id"] for p, row in zip(people, rows, strict=True)
                if row["outcome"] == "hired")
    for person, row in zip(people, rows, strict=True):
        if person["external_id"] == hire:
            continue
        path = f"/applications/{ids[person['external_id']]}/note"
        _, headers = api.call("GET", path)
        api.json("PUT", path, {"note": row["note"]}, **{"If-Match": headers["ETag"]})
    api.json("PATCH", f"/positions/{pid}",
             {"differentiator": "hands-on aviation operations experience"})
    print("5. notes and the differentiator written")

    filled = api.json("POST", f"/positions/{pid}/filled", {"hires": [hire]},
                      **{"Idempotency-Key": f"filled-{run}"})
    print(f"6. position filled: {filled['declined']} declined, letters drafted")

    # Review: every letter with its findings. Errors block approval; the warnings' checks
    # are acknowledged by name, as a person ticks them in the browser.
    letters = api.json("GET", f"/positions/{pid}/letters?limit=100")["data"]
    if blocked := [letter["name"] for letter in letters if letter["errors"]]:
        sys.exit(f"letters with errors, to fix first: {', '.join(blocked)}")
    warnings = sorted({finding["check"] for letter in letters for finding in letter["findings"]
                       if finding["severity"] == "warning"})
    # A letter without a note goes only when confirmed by its id, one by one.
    without_note = [letter["id"] for letter in letters
                    if any(f["check"] == "empty-note" for f in letter["findings"])]
    acknowledged = [check for check in warnings if check != "empty-note"]
    approved = api.json("POST", f"/positions/{pid}/letters/approve",
                        {"expected_count": len(letters), "without_note": without_note,
                         "acknowledged": acknowledged},
                        **{"Idempotency-Key": f"approve-{run}"})
    print(f"7. {approved['approved']} letters approved ({len(without_note)} without a note,"
          f" confirmed one by one; warnings acknowledged: {', '.join(acknowledged) or 'none'})")

    api.json("POST", f"/positions/{pid}/batch", {"hold": True})
    api.json("POST", f"/positions/{pid}/batch/release", {})
    print("8. batch frozen on hold, then released")

    # Candidates without an email address get a letter for post: print, mail, confirm.
    queued = api.json("GET", f"/positions/{pid}/deliveries?state=queued&limit=100")["data"]
    postal = [item for item in queued if item["channel"] == "post"]
    for item in postal:
        pdf, _ = api.call("GET", f"/letters/{item['letter_id']}/pdf")
        Path(f"letter-{item['letter_id']}.pdf").write_bytes(pdf)
    if postal:
        api.json("POST", f"/positions/{pid}/batch/posted", {})
    print(f"9. {len(postal)} letter(s) for post saved as PDF and confirmed as posted")

    deadline = time.monotonic() + 300
    while True:
        try:
            event = receiver.events.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            sys.exit("no batch.completed webhook within 5 minutes")
        if event["type"] == "batch.completed" and event["data"]["position_id"] == pid:
            break
    print(f"10. batch.completed received and verified: {event['data']}")

    evidence, _ = api.call("POST", f"/positions/{pid}/evidence", {})
    Path(args.out).write_bytes(evidence)
    print(f"11. evidence export saved to {args.out} ({len(evidence):,} bytes)")
    receiver.shutdown()


if __name__ == "__main__":
    main()
