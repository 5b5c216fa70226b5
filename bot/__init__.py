"""seedream-bot: ByteDance Seedream image models in Discord."""

__version__ = "0.1.0"
