"""The web console served at ``/`` (see docs/console.md)."""
