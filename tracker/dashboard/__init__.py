"""The local web dashboard of a live session (see server.py)."""
