"""Management commands of the runnable project."""
