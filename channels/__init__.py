"""The project's input channels (named in credentials.yml)."""
