#!/usr/bin/env bash
# Starts the local stack (scripts/devstack.py) and stops it with everything it started.
#   scripts/start-servers.sh run     Rasa server with the REST and socket.io channels, the
#                                    action server, the families' web page and the console
#   scripts/start-servers.sh shell   the Rasa shell (loopback), for staff testing conversations
# Addresses from RASA_PORT, ACTION_PORT, WEB_PORT, CART_CONSOLE_PORT, CART_SMTP_PORT, ...
# (ACTION_ENDPOINT_URL names the action server for the Rasa server; the default is ours.)
set -euo pipefail
cd "$(dirname "$0")/.."
# exec: the dev stack itself receives the terminal's signals (Ctrl-C, SIGHUP, SIGTERM).
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec .venv/bin/python -m scripts.devstack "${1:-run}"
