"""The import a user would otherwise write with the pycontribs `jira` client: every issue of
the JQL with `search_issues(jql, maxResults=False)`, each stored as a row in SQLite.

Usage: pycontribs_import.py BASE_URL cloud|dataCenter USER SECRET JQL DB_PATH
Prints: `<issues> issues in <seconds> s`.
"""
import json
import sqlite3
import sys
import time

from jira import JIRA

base, dialect, user, secret, jql, db_path = sys.argv[1:7]
client = JIRA(server=base, basic_auth=(user, secret), max_retries=0, timeout=120)
db = sqlite3.connect(db_path)
db.execute("CREATE TABLE IF NOT EXISTS issues (id TEXT PRIMARY KEY, key TEXT, raw TEXT)")
started = time.monotonic()
issues = client.search_issues(jql, maxResults=False)
for issue in issues:
    db.execute(
        "INSERT OR REPLACE INTO issues VALUES (?, ?, ?)",
        (issue.id, issue.key, json.dumps(issue.raw)),
    )
db.commit()
elapsed = time.monotonic() - started
print(f"{len(issues)} issues in {elapsed:.2f} s")
