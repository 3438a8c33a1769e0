"""Every use of a dependency's private API, one small module each, with its public fallback.

Each adapter says what it relies on, which versions it was checked against, and what happens
when the library changes; ``tests/test_adapters.py`` fails loudly, naming the adapter and the
pinned version, when it does. Each has a module-level ``enabled`` flag: ``False`` takes the
public path (the benches' ``--without``).
"""
