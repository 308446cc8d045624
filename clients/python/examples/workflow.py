"""Core Aegis workflow: create a session on a repo with a task, answer whatever CC asks by a simple policy
(question -> first option, permission/bash/plan/trust -> approve), wait for idle, print the last assistant
message and a transcript summary, delete the session.

    python examples/workflow.py [--address 127.0.0.1:50051] --work-dir /path/to/repo --task "BASH(ls)"
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import aegis_client
from aegis_client import pb


def settle_by_policy(client: aegis_client.AegisClient, session: pb.Session, timeout: float = 300) -> pb.Session:
    """Answers pending interactions until the session is settled with nothing pending."""
    for _ in range(50):
        if not session.pending_interactions:
            return session
        it = session.pending_interactions[0]
        if it.kind == pb.INTERACTION_KIND_QUESTION:
            answers = {q.question: q.options[0].label for q in it.question.questions}
            print(f"answering {it.id}: {answers}")
            session = client.answer(session.id, it.id, answers, wait_timeout=timeout).session
        else:
            print(f"approving {it.id} ({pb.InteractionKind.Name(it.kind)})")
            session = client.approve(session.id, it.id, wait_timeout=timeout).session
        if not session.stable:
            session = client.wait(session.id, timeout)
    raise RuntimeError("too many interactions")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default=os.environ.get("AEGIS_ADDRESS", aegis_client.DEFAULT_ADDRESS))
    ap.add_argument("--token", default=os.environ.get("AEGIS_TOKEN"))
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--permission-mode", default="", help='CC permission mode, e.g. "default" ("" = CC\'s own)')
    args = ap.parse_args()

    with aegis_client.connect(args.address, args.token) as client:
        session = client.create_and_wait(
            os.path.abspath(args.work_dir), args.task, timeout=300, permission_mode=args.permission_mode
        )
        print(f"session {session.id}: {aegis_client.state_name(session.state)}")
        try:
            session = settle_by_policy(client, session)
            print(f"final state: {aegis_client.state_name(session.state)}")
            print(f"last assistant message: {client.last_assistant_text(session.id)!r}")
            entries = client.transcript(session.id)
            kinds = collections.Counter(pb.EntryKind.Name(e.kind).removeprefix("ENTRY_KIND_") for e in entries)
            print(f"transcript: {len(entries)} entries: " + ", ".join(f"{k}={n}" for k, n in sorted(kinds.items())))
            return 0 if session.state == pb.SESSION_STATE_IDLE else 1
        finally:
            client.delete_session(session.id)
            print("deleted")


if __name__ == "__main__":
    sys.exit(main())
