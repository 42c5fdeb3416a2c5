"""Data set sources: one small module each, registered in `reprlab.data.registry`."""
