"""The job engine: ledger, scheduler, runner, the provider pipeline and resume; no Discord here.

Import what you need from the submodules (``bot.jobs.engine.JobEngine``,
``bot.jobs.pipeline.generate``, ``bot.jobs.events``); the vocabulary they share with
storage and Discord (``Job``, ``JobState``, errors) lives in ``bot.core``.
"""
