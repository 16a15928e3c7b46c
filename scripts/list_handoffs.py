"""Lists recent handoff requests and their notifications, for staff testing in the shell.

make handoffs            # the 20 most recent
python scripts/list_handoffs.py --limit 50
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.handoff_store import recent_requests
from core.settings import load_handoff_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    settings = load_handoff_settings()
    requests = recent_requests(settings.database_url, args.limit)
    if not requests:
        print(f"No handoff requests in {settings.database_url}.")
        return 0
    # An operations view: what families wrote is read in the coordinators' console only.
    print(
        f"{'reference':15s} {'received (UTC)':17s} {'status':11s} {'channel':9s} "
        f"{'who':10s} notifications"
    )
    for request in requests:
        notes = ", ".join(
            f"{n.kind}:{n.status}" + (f"({n.attempts})" if n.status != "sent" else "")
            for n in request.notifications
        )
        print(
            f"{request.reference:15s} {request.created_at:%Y-%m-%d %H:%M} {request.status:11s} "
            f"{request.channel:9s} {request.role:10s} {notes}"
        )
    pending = sum(1 for r in requests for n in r.notifications if n.status == "pending")
    print(f"\n{len(requests)} request(s), {pending} notification(s) pending.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
