"""Persistence. The only package that imports database drivers; see `base.py` for the contract."""
