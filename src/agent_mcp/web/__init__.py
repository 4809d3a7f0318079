"""HTTP shared by the MCP face and the dashboard: bearer tokens and Host/Origin checks, and uvicorn
built once with the limits both serve under.

May import: core (and the layers below the pool, which it does not need).
"""
