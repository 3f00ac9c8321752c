"""Writing results: atomic files, resumable record logs, and the user-facing formats."""
