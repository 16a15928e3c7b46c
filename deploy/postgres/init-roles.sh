#!/bin/sh
# PostgreSQL's roles and databases for deploy/docker-compose.yml, run once by the postgres
# image when it initialises its data directory (/docker-entrypoint-initdb.d/). One database
# and one role per kind of data, so a server that is broken into, or a password that
# leaks, reaches its own data only (issue #15, item 3):
#   cart_tracker         the Rasa servers' conversations (owner: Rasa creates `events`);
#                        also the retention purge, which deletes old conversations
#   cart_tracker_reader  the console's read-only view of the conversations
#   cart_handoffs        handoff requests, their notifications, the console's own tables
# Passwords: TRACKER_DB_PASSWORD, TRACKER_READER_DB_PASSWORD, HANDOFF_DB_PASSWORD (.env).
# The names can be changed with TRACKER_DB, TRACKER_READER_ROLE and HANDOFF_DB.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v tracker="${TRACKER_DB:-cart_tracker}" \
  -v reader="${TRACKER_READER_ROLE:-cart_tracker_reader}" \
  -v handoffs="${HANDOFF_DB:-cart_handoffs}" \
  -v tracker_password="$TRACKER_DB_PASSWORD" \
  -v reader_password="$TRACKER_READER_DB_PASSWORD" \
  -v handoffs_password="$HANDOFF_DB_PASSWORD" <<'SQL'
CREATE ROLE :"tracker" LOGIN PASSWORD :'tracker_password';
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
CREATE ROLE :"handoffs" LOGIN PASSWORD :'handoffs_password';
CREATE DATABASE :"tracker" OWNER :"tracker";
CREATE DATABASE :"handoffs" OWNER :"handoffs";
-- Every role may connect to every database unless this is revoked from PUBLIC.
REVOKE ALL ON DATABASE :"tracker" FROM PUBLIC;
REVOKE ALL ON DATABASE :"handoffs" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"tracker" TO :"reader";
\connect :"tracker"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"reader";
-- The tables Rasa creates later (events) are readable, never writable, by the reader.
ALTER DEFAULT PRIVILEGES FOR ROLE :"tracker" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
\connect :"handoffs"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
