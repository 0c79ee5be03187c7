#!/usr/bin/env python3
"""Drive `tandem jira-sim` with an independent Jira client: pycontribs `jira` (3.10.5).

Usage: scenario.py BASE_URL cloud|dataCenter USER SECRET

  cloud       Basic auth, USER = e-mail, SECRET = API token.
  dataCenter  Basic auth USER/password; with USER "" or "-", SECRET is a personal access
              token sent as Bearer (token_auth).

Exits 0 when every step passed; otherwise prints "scenario FAILED at step <name>: <why>"
to stderr and exits 1. Each step prints one "ok <name>" line, so a failure log shows how far
the client got.

The client talks REST v2 on both dialects (its default, and what real Cloud still serves).
Requests it sends, for the simulator's endpoints (all under BASE_URL):

  connect     GET  /rest/api/2/serverInfo        (needs versionNumbers, deploymentType)
              GET  /rest/api/2/myself
              GET  /rest/api/2/field             (the estimation field is found by name)
  create      GET  /rest/api/2/project/DEMO      (create_issue turns the key into an id)
              POST /rest/api/2/issue             (issuetype by name, parent by key,
                                                  labels, a number custom field; Epic
                                                  Name where /field has gh-epic-label)
              GET  /rest/api/2/issue/{key}       (create_issue prefetches the result)
  search      Cloud: GET /rest/api/2/search/jql  jql, fields=*all, maxResults, nextPageToken
                     (maxResults=0 also: batches of 100 following nextPageToken)
              DC:    GET /rest/api/2/search      jql, startAt, maxResults, validateQuery=True
                     (note: Python's "True"), fields=*all
  read        GET  /rest/api/2/issue/{key}?fields=summary&fields=status&fields=...
              GET  search (as above) with repeated fields: every field named comes back
  transition  GET  /rest/api/2/issue/{key}/transitions?expand=transitions.fields
              POST /rest/api/2/issue/{key}/transitions   (required fields filled from
                                                          allowedValues)
  comment     POST /rest/api/2/issue/{key}/comment   {"body": "..."}
              GET  /rest/api/2/issue/{key}/comment
  link        GET  /rest/api/2/issueLinkType         (needs {"issueLinkTypes": [...]})
              POST /rest/api/2/issueLink             {"type": {"name": "Blocks"}, ...}
  sprint      GET  /rest/agile/1.0/board?projectKeyOrId=DEMO&maxResults=50
              GET  /rest/agile/1.0/board/{id}/sprint?state=active&maxResults=50
              POST /rest/agile/1.0/sprint/{id}/issue   {"issues": [keys]}
              then a search with `sprint = {id}` to see the move.
"""

import sys
import traceback
import uuid

ESTIMATION_FIELD_NAMES = ("Story point estimate", "Story Points")


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def connect(base, dialect, user, secret):
    from jira import JIRA

    common = dict(server=base, max_retries=0, timeout=30, get_server_info=True)
    if dialect == "cloud":
        client = JIRA(basic_auth=(user, secret), **common)
    elif user in ("", "-"):
        client = JIRA(token_auth=secret, **common)
    else:
        client = JIRA(basic_auth=(user, secret), **common)
    info = client.server_info()
    check("versionNumbers" in info, f"serverInfo without versionNumbers: {info}")
    deployment = info.get("deploymentType")
    if dialect == "cloud":
        check(deployment == "Cloud", f"cloud dialect reports deploymentType {deployment!r}")
    else:
        check(deployment != "Cloud", "dataCenter dialect reports deploymentType 'Cloud'")
    me = client.myself()
    if dialect == "cloud":
        check(me.get("accountId"), f"myself has no accountId on Cloud: {me}")
        check(me.get("emailAddress") == user, f"myself is {me.get('emailAddress')}, not {user}")
    else:
        check(me.get("name") or me.get("key"), f"myself has no name/key on Data Center: {me}")
    return client


def estimation_field(client):
    for f in client.fields():
        if f.get("name") in ESTIMATION_FIELD_NAMES:
            schema = f.get("schema") or {}
            check(schema.get("type") == "number", f"{f['name']} is not a number field: {schema}")
            return f["id"]
    raise Failed(f"no field named one of {ESTIMATION_FIELD_NAMES} in /field")


def epic_name_field(client):
    """Data Center 8 and 9 require Epic Name (gh-epic-label) on every Epic; Cloud has none."""
    for f in client.fields():
        custom = (f.get("schema") or {}).get("custom") or ""
        if custom.endswith(":gh-epic-label"):
            return f["id"]
    return None


def create(client, dialect, label):
    points = estimation_field(client)
    epic_fields = dict(
        project="DEMO", issuetype={"name": "Epic"}, summary=f"Scenario epic {label}", labels=[label]
    )
    epic_name = epic_name_field(client)
    if epic_name:
        epic_fields[epic_name] = f"Scenario epic {label}"
    epic = client.create_issue(fields=epic_fields)
    story_fields = dict(
        project="DEMO",
        issuetype={"name": "Story"},
        summary=f"Scenario story {label}",
        description="Created by the pycontribs jira scenario.",
        labels=[label],
    )
    story_fields[points] = 5
    if dialect == "cloud":
        # On Cloud an epic is the parent of a story; Data Center links them by Epic Link.
        story_fields["parent"] = {"key": epic.key}
    story = client.create_issue(fields=story_fields)
    check(getattr(story.fields, points, None) == 5, f"{story.key}: {points} is not 5 after create")
    if dialect == "cloud":
        check(story.fields.parent.key == epic.key, f"{story.key}: parent is not {epic.key}")
    subtask = client.create_issue(
        project="DEMO",
        issuetype={"name": "Sub-task"},
        summary=f"Scenario sub-task {label}",
        parent={"key": story.key},
        labels=[label],
    )
    check(subtask.fields.parent.key == story.key, f"{subtask.key}: parent is not {story.key}")
    extra = [
        client.create_issue(
            project="DEMO", issuetype={"name": "Task"}, summary=f"Scenario task {n} {label}", labels=[label]
        )
        for n in range(2)
    ]
    return [epic, story, subtask] + extra


def search_paged(client, dialect, jql, page):
    """Every key matching jql, fetched `page` at a time; also checks the page contract."""
    keys = []
    if dialect == "cloud":
        token = None
        for _ in range(100):
            result = client.enhanced_search_issues(jql, nextPageToken=token, maxResults=page)
            check(len(result) <= page, f"page of {len(result)} issues for maxResults={page}")
            keys += [i.key for i in result]
            token = result.nextPageToken
            if not token:
                break
        everything = client.enhanced_search_issues(jql, maxResults=0)
    else:
        start = 0
        total = None
        for _ in range(100):
            result = client.search_issues(jql, startAt=start, maxResults=page)
            check(len(result) <= page, f"page of {len(result)} issues for maxResults={page}")
            total = result.total
            keys += [i.key for i in result]
            start += len(result)
            if not len(result) or start >= total:
                break
        check(total == len(keys), f"total says {total}, pages held {len(keys)}")
        everything = client.search_issues(jql, maxResults=False)
    all_keys = [i.key for i in everything]
    check(all_keys == keys, f"one-shot search {all_keys} differs from paged {keys}")
    return keys


def search(client, dialect, label, created):
    jql = f"project = DEMO AND labels = {label} ORDER BY key ASC"
    keys = search_paged(client, dialect, jql, page=2)
    want = sorted((i.key for i in created), key=lambda k: int(k.split("-")[1]))
    check(keys == want, f"search returned {keys}, expected {want}")


def read_fields(client, dialect, label, issue):
    """Repeated `fields` parameters (what `requests` sends for a list) mean every field named."""
    points = estimation_field(client)
    wanted = ["summary", "status", points]
    url = f"{client._options['server']}/rest/api/2/issue/{issue.key}"
    got = client._session.get(url, params={"fields": wanted}).json()["fields"]
    check(sorted(got) == sorted(wanted), f"GET issue with repeated fields gave {sorted(got)}, asked {wanted}")
    check(got[points] == 5, f"{issue.key}: {points} is {got[points]!r}, not 5")
    path = "search/jql" if dialect == "cloud" else "search"
    found = client._session.get(
        f"{client._options['server']}/rest/api/2/{path}",
        params={"jql": f"key = {issue.key}", "fields": wanted},
    ).json()["issues"]
    check(len(found) == 1, f"search for {issue.key} found {len(found)}")
    check(sorted(found[0]["fields"]) == sorted(wanted), f"search with repeated fields gave {sorted(found[0]['fields'])}")


def transition(client, issue, target):
    for t in client.transitions(issue, expand="transitions.fields"):
        if t["to"]["name"].lower() != target.lower():
            continue
        fields = {}
        for field_id, meta in (t.get("fields") or {}).items():
            if meta.get("required") and not meta.get("hasDefaultValue"):
                allowed = meta.get("allowedValues") or []
                check(allowed, f"transition {t['name']} requires {field_id} without allowedValues")
                fields[field_id] = {"id": allowed[0]["id"]}
        client.transition_issue(issue, t["id"], fields=fields)
        status = client.issue(issue.key).fields.status.name
        check(status.lower() == target.lower(), f"{issue.key} is {status!r}, not {target!r}")
        return
    raise Failed(f"{issue.key}: no transition to {target!r}")


def comment(client, issue, label):
    text = f"Scenario comment {label}"
    created = client.add_comment(issue, text)
    check(created.body == text, f"comment body echoed as {created.body!r}")
    bodies = [c.body for c in client.comments(issue)]
    check(text in bodies, f"{issue.key} comments {bodies} lack the new one")


def link(client, a, b):
    response = client.create_issue_link("Blocks", a.key, b.key)
    check(response.status_code == 201, f"issueLink answered {response.status_code}")
    links = client.issue(a.key).fields.issuelinks
    linked = [getattr(getattr(l, "outwardIssue", None), "key", None) for l in links] + [
        getattr(getattr(l, "inwardIssue", None), "key", None) for l in links
    ]
    check(b.key in linked, f"{a.key} issuelinks {linked} lack {b.key}")


def sprint(client, dialect, label, issues):
    boards = client.boards(projectKeyOrID="DEMO")
    check(len(boards) > 0, "no board for DEMO")
    sprints = client.sprints(boards[0].id, state="active")
    check(len(sprints) > 0, f"board {boards[0].id} has no active sprint")
    target = sprints[0]
    keys = [i.key for i in issues]
    response = client.add_issues_to_sprint(target.id, keys)
    check(response.status_code == 204, f"move to sprint answered {response.status_code}")
    found = search_paged(client, dialect, f"sprint = {target.id} AND labels = {label} ORDER BY key ASC", 10)
    check(sorted(found) == sorted(keys), f"sprint {target.id} holds {found}, expected {keys}")


def _is_http_error(e):
    import requests
    from jira import JIRAError

    return isinstance(e, (JIRAError, requests.RequestException))


def main(argv):
    if len(argv) != 5 or argv[2] not in ("cloud", "dataCenter"):
        print(__doc__, file=sys.stderr)
        return 2
    base, dialect, user, secret = argv[1:]
    label = "scenario-" + uuid.uuid4().hex[:8]
    step = "import jira"
    state = {}
    steps = [
        ("connect", lambda: state.update(client=connect(base, dialect, user, secret))),
        ("create", lambda: state.update(issues=create(state["client"], dialect, label))),
        ("search", lambda: search(state["client"], dialect, label, state["issues"])),
        ("read with repeated fields", lambda: read_fields(state["client"], dialect, label, state["issues"][1])),
        ("transition", lambda: transition(state["client"], state["issues"][1], "In Progress")),
        ("transition through a required field", lambda: (
            transition(state["client"], state["issues"][3], "In Progress"),
            transition(state["client"], state["issues"][3], "Done"),
        )),
        ("comment", lambda: comment(state["client"], state["issues"][1], label)),
        ("link", lambda: link(state["client"], state["issues"][1], state["issues"][3])),
        ("sprint", lambda: sprint(state["client"], dialect, label, state["issues"][1:2] + state["issues"][3:])),
    ]
    try:
        for step, run in steps:
            run()
            print(f"ok {step}")
    except Failed as e:
        print(f"scenario FAILED at step {step}: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        print(f"scenario FAILED at step {step}: {type(e).__name__}: {e}", file=sys.stderr)
        # JIRAError (status, URL and body) and transport errors say it all; anything else is a
        # body the client could not digest, where the traceback shows which attribute.
        if not _is_http_error(e):
            traceback.print_exc(file=sys.stderr)
        return 1
    print(f"scenario passed ({dialect}, label {label})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
