"""The assistant's plain-Python core: no Rasa imports, usable by every process."""
