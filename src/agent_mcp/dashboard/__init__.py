"""The dashboard: the pool in a browser, read from the store every server writes; a person answers
permission requests and cancels runs there.

May import: the pool, web, and what lies below them.
"""
