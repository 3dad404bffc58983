"""Compares what schemathesis was answered (its HAR report) with what the worker recorded.

    python3 check_trail.py REPORT.har EVENTS.sqlite

Nothing is launched or recorded for a refused request:
- every CliToolInvocationStarted is an invocation answered 200 or 502 (it ran, or the engine
  failed to run it), and every invocation answered so has its Started and its Completed;
- every CliToolSemanticRejected is an invocation answered 403 with a denial;
- every CliToolRegistered is a registration answered 201, and the other way round.
Prints one line of figures; exits 1 with the differences if there are any.
"""
import collections
import json
import sqlite3
import sys
from urllib.parse import urlparse


def answered(har_path):
    """Execution ids answered 200/502 (ran), 403 with a denial, and tool names answered 201; the status counts."""
    ran, denied, registered = set(), set(), collections.Counter()
    statuses = collections.Counter()
    with open(har_path) as file:
        entries = json.load(file)["log"]["entries"]
    for entry in entries:
        request, response = entry["request"], entry["response"]
        status = response.get("status", 0)
        statuses[status] += 1
        path = urlparse(request["url"]).path
        text = (response.get("content") or {}).get("text") or ""
        bodies = []
        # Lines of NDJSON end at "\n" only: str.splitlines() would also cut at U+0085 or U+2028,
        # which JSON strings may hold as they are.
        for line in text.split("\n"):
            try:
                body = json.loads(line)
            except ValueError:
                continue
            if isinstance(body, dict):
                bodies.append(body.get("summary", body) if isinstance(body.get("summary"), dict) else body)
        if request["method"] == "POST" and path == "/v1/invocations":
            for body in bodies:
                if "execution_id" not in body:
                    continue
                if status in (200, 502) and "outcome" in body:
                    ran.add(body["execution_id"])
                elif status == 403 and body.get("allowed") is False:
                    denied.add(body["execution_id"])
        elif request["method"] == "POST" and path == "/v1/cli-tools" and status == 201:
            for body in bodies:
                registered[(body.get("tenant_id"), body.get("name"))] += 1
    return len(entries), statuses, ran, denied, registered


def recorded(database):
    events = collections.defaultdict(set)
    events["CliToolRegistered"] = collections.Counter()
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    for event_type, payload in connection.execute("SELECT event_type, payload FROM gateway_events"):
        payload = json.loads(payload)
        if event_type == "CliToolRegistered":
            events[event_type][(payload.get("tenant_id"), payload.get("name"))] += 1
        else:
            events[event_type].add(payload.get("execution_id"))
    connection.close()
    return events


def main():
    har, database = sys.argv[1], sys.argv[2]
    requests, statuses, ran, denied, registered = answered(har)
    events = recorded(database)
    started = events["CliToolInvocationStarted"]
    completed = events["CliToolInvocationCompleted"]
    rejected = events["CliToolSemanticRejected"]
    problems = []

    def differ(what, extra):
        if extra:
            problems.append(f"{what}: {sorted(map(str, extra))[:10]}")

    differ("Started without a 200/502 answer", started - ran)
    differ("answered 200/502 without a Started", ran - started)
    differ("Started without a Completed", started - completed)
    differ("Completed without a Started", completed - started)
    differ("Rejected without a 403 denial", rejected - denied)
    differ("denied 403 without a Rejected", denied - rejected)
    # Counted: a tool removed can be registered again, each time with its event.
    differ("Registered without a 201", set((events["CliToolRegistered"] - registered).elements()))
    differ("answered 201 without a Registered", set((registered - events["CliToolRegistered"]).elements()))
    shown = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    print(
        f"trail: {requests} requests answered ({shown}); {len(started)} Started, {len(completed)} Completed, "
        f"{len(rejected)} Rejected, {sum(events['CliToolRegistered'].values())} Registered"
    )
    for problem in problems:
        print(f"trail: {problem}", file=sys.stderr)
    server_errors = sum(count for status, count in statuses.items() if status >= 500 and status != 502)
    if server_errors:
        print(f"trail: {server_errors} answers were 5xx", file=sys.stderr)
    sys.exit(1 if problems or server_errors else 0)


if __name__ == "__main__":
    main()
