"""The coordinators' console: handoff requests and live takeover (console/server.py)."""
