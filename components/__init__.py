"""Rasa-server extensions: the spaCy pipeline builder, the red-flag check, the NLG."""
