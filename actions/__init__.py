"""Custom actions of the CAR T-cell therapy assistant (served by `rasa run actions`)."""
