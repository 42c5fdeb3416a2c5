"""The ``reprlab run``, ``reprlab results`` and ``reprlab report`` commands."""
