"""The job engine: ledger, state machine, scheduler, failover and resume; no Discord here.

Import what you need from the submodules (``bot.jobs.engine.JobEngine``,
``bot.jobs.models.JobSpec``, ``bot.jobs.events``); this package imports nothing eagerly so
the storage repos can use ``bot.jobs.models`` without a cycle.
"""
