"""The web intake (issue 6): no-JavaScript pages for mirrors and Tor onion services."""

from .app import create_web_app

__all__ = ["create_web_app"]
