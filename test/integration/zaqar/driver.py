"""Drives every API v1 call of Debian's python-zaqarclient against a Tether server.

Usage: python3 driver.py BASE_URL PROJECT_ID
Prints one JSON object per line: {"step": NAME, "value": ...}. Exits non-zero
on any unexpected error (an import error included: the client must be there).
"""
import json
import re
import sys

from zaqarclient.queues import client as zaqar
from zaqarclient.queues.v1 import core
from zaqarclient.transport import errors

url, project = sys.argv[1], sys.argv[2]


def record(step, value):
    print(json.dumps({"step": step, "value": value}, sort_keys=True), flush=True)


def refused(step, call):
    """Runs a call that must fail; records the exception class and the fault title."""
    try:
        call()
    except errors.ResourceNotFound:
        record(step, {"error": "ResourceNotFound"})
    except (errors.MalformedRequest, errors.ForbiddenError) as exc:
        # The client keeps the fault's title only in its message: "... Title: <title>. Description: ..."
        title = re.search(r"Title: (.*?)\. Description:", str(exc))
        record(step, {"error": type(exc).__name__, "title": title.group(1) if title else None})
    else:
        record(step, {"error": None})


conf = {"auth_opts": {"backend": "noauth", "options": {"os_project_id": project}}}
cli = zaqar.Client(url, version=1, conf=conf)

record("health", cli.health())
record("home", sorted(cli.follow("/v1")["resources"].keys()))

queue = cli.queue("zq-demo")  # auto_create: PUT
cli.queue("zq-second")
record("exists", queue.exists())
record("exists_missing", cli.queue("zq-missing", auto_create=False).exists())
record("queues", [q.name for q in cli.queues()])
record("queues_paged", [q.name for q in cli.queues(limit=1).stream()])

queue.metadata(new_meta={"owner": "ops", "messages": {"ttl": 600}})
record("metadata", queue.metadata(force_reload=True))
record("stats_empty", queue.stats)

posted = queue.post([{"ttl": 300, "body": {"i": i}} for i in range(5)])
record("post", {"count": len(posted["resources"]), "partial": posted["partial"]})
ids = [href.split("/")[-1] for href in posted["resources"]]
record("post_single", len(queue.post({"ttl": 60, "body": "solo"})["resources"]))

record("list_own_hidden", [m.body for m in queue.messages()])
record("list_echo", [m.body for m in queue.messages(echo=True)])
record("list_paged", [m.body.get("i") if isinstance(m.body, dict) else m.body for m in queue.messages(echo=True, limit=2).stream()])
message = queue.message(ids[0])
record("get", {"body": message.body, "ttl": message.ttl, "age_ok": message.age >= 0})
record("get_many", sorted(m.body["i"] for m in queue.messages(ids[1], ids[2])))

message.delete()
refused("get_deleted", lambda: queue.message(ids[0]))
queue.delete_messages(ids[1], ids[2])
# The high-level iterator cannot take v1's 204 for "none found" (it iterates None): ask the core call.
req, trans = cli._request_and_transport()
record("get_many_deleted", core.message_get_many(trans, req, "zq-demo", (ids[1], ids[2])))

claim = queue.claim(ttl=120, grace=60, limit=2)
claimed = list(claim)
record("claim", {"count": len(claimed), "ids_match": all(m.claim_id == claim.id for m in claimed)})
record("list_claimed_hidden", [m.body for m in queue.messages(echo=True)])
record("list_include_claimed", len(list(queue.messages(echo=True, include_claimed=True))))
refused("delete_claimed_without_claim", lambda: queue.message(claimed[0]._id).delete())
claim.update(ttl=180)
again = queue.claim(id=claim.id)
record("claim_get", {"ttl": again.ttl, "age_ok": again.age >= 0, "count": len(list(again))})
claimed[0].delete()  # with its claim_id, from the claim href
record("stats_claimed", queue.stats["messages"])
claim.delete()
refused("claim_get_released", lambda: queue.claim(id=claim.id).ttl)
record("stats_released", queue.stats["messages"])

refused("post_bad_ttl", lambda: queue.post([{"ttl": 10, "body": 1}]))
refused("claim_bad_grace", lambda: queue.claim(ttl=120, grace=10))

queue.delete()
record("exists_after_delete", queue.exists())
record("queues_after_delete", [q.name for q in cli.queues()])
record("done", True)
