"""reprlab: learn image representations with robust and adaptive losses, and judge them."""

__version__ = "0.1.0"
