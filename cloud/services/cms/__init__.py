"""Policies, news and notices: a small Markdown CMS, XSS-safe (markdown-it-py + nh3)."""
