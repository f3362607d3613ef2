"""Shared foundations every package may import: errors, typed configs, atomic IO, the Run."""
