#!/usr/bin/env bash
# Starts the action server and the Rasa server on loopback and stops them together.
#   scripts/start-servers.sh run     Rasa server with the REST and socket.io channels, and
#                                    the families' web page with the chat widget
#   scripts/start-servers.sh shell   the Rasa shell, for staff testing conversations
set -euo pipefail
mode=${1:-run}
cd "$(dirname "$0")/.."
: "${RASA_HOST:=127.0.0.1}" "${RASA_PORT:=5005}" "${ACTION_PORT:=5055}"
: "${WEB_HOST:=127.0.0.1}" "${WEB_PORT:=8080}"
export RASA_HOST RASA_PORT WEB_HOST WEB_PORT
export ACTION_ENDPOINT_URL=${ACTION_ENDPOINT_URL:-http://127.0.0.1:${ACTION_PORT}/webhook}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=3 RASA_TELEMETRY_ENABLED=false
model=models/cart-assistant.tar.gz
mkdir -p var
# The Rasa HTTP API is on only with a token; the coordinators' console uses it for the
# live takeover. Without CART_RASA_API_TOKEN, a random local one is kept in var/.
if [ -z "${CART_RASA_API_TOKEN:-}" ]; then
  if [ ! -s var/rasa-api-token ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' >var/rasa-api-token)
  fi
  CART_RASA_API_TOKEN=$(cat var/rasa-api-token)
fi
: "${CART_CONSOLE_HOST:=127.0.0.1}" "${CART_CONSOLE_PORT:=8081}"
export CART_RASA_API_TOKEN CART_CONSOLE_HOST CART_CONSOLE_PORT
export CART_CONSOLE_URL=${CART_CONSOLE_URL:-http://$CART_CONSOLE_HOST:$CART_CONSOLE_PORT}

# rasa-sdk binds to SANIC_HOST (0.0.0.0 if unset): the action server is for the Rasa
# server only, so loopback unless ACTION_HOST names an internal address.
SANIC_HOST=${ACTION_HOST:-127.0.0.1} .venv/bin/rasa run actions --actions actions \
  --port "$ACTION_PORT" >var/action-server.log 2>&1 &
action_pid=$!
# With no SMTP server configured, a local mail catcher stands in for the coordinators'
# inbox: their emails land in var/local-mail.log (a local inbox: it holds what families typed).
mail_pid=
if [ -z "${CART_SMTP_HOST:-}" ]; then
  .venv/bin/python -m aiosmtpd -n -l "127.0.0.1:${CART_SMTP_PORT:-1025}" \
    -c aiosmtpd.handlers.Debugging >>var/local-mail.log 2>&1 &
  mail_pid=$!
fi
# Retries coordinator notifications that could not be sent at once (actions/notify.py).
.venv/bin/python -m actions.notify >var/notification-worker.log 2>&1 &
worker_pid=$!
web_pid= console_pid=
if [ "$mode" = run ]; then
  .venv/bin/python -m web.server >var/web.log 2>&1 &
  web_pid=$!
  .venv/bin/python -m console.server >var/console.log 2>&1 &
  console_pid=$!
fi
trap 'kill $action_pid $worker_pid $mail_pid $web_pid $console_pid 2>/dev/null || true' EXIT INT TERM

if [ "$mode" = shell ]; then
  echo "Action server starting on port $ACTION_PORT (log: var/action-server.log)."
  echo "Rasa shell: type a message; /stop ends the session."
  .venv/bin/rasa shell --model "$model" --endpoints endpoints.yml
else
  cat <<MSG
Starting the assistant (model loading takes about half a minute)...
  Families' page:     http://$WEB_HOST:$WEB_PORT/  (the chat widget; log: var/web.log)
  Coordinators:      $CART_CONSOLE_URL/  (log: var/console.log; accounts: make staff-user USERNAME=...)
  REST channel:      POST http://$RASA_HOST:$RASA_PORT/webhooks/rest/webhook  {"sender": "...", "message": "..."}
  socket.io channel: http://$RASA_HOST:$RASA_PORT/socket.io
  Action server:     $ACTION_ENDPOINT_URL (log: var/action-server.log)
  Handoff requests:  ${CART_DATABASE_URL:-var/handoffs.db (SQLite)}; list them with: make handoffs
  Coordinator email: SMTP ${CART_SMTP_HOST:-127.0.0.1}:${CART_SMTP_PORT:-1025}${mail_pid:+ (local mail catcher: var/local-mail.log)}
                     retried until delivered (log: var/notification-worker.log)
Try:  curl -s -XPOST http://$RASA_HOST:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"me","message":"what is car t"}'
Stop with Ctrl-C.
MSG
  # `rasa run`, with the API token from CART_RASA_API_TOKEN, not on the command line (ps).
  .venv/bin/python -m components.rasa_server run --model "$model" --endpoints endpoints.yml \
    --credentials credentials.yml --interface "$RASA_HOST" --port "$RASA_PORT" --enable-api
  # No --cors: the channels answer CORS from CART_ALLOWED_ORIGINS (default: the page above).
fi
