"""The pool: agents and their runs. Registration, admission, listing, scheduling (FIFO per agent,
caps), runs and waiting, warm processes, turns, permissions, placement on hosts.

It joins the parts below it (an agent kind, a launcher, the store, the hosts) and names no CLI flag,
no CLI event, and no way of starting a process: those are behind agents/kind.py and
processes/launcher.py. May import: agents, hosts, store, processes, core.
"""
