"""The commands of ``paramtool``, one module per command (or pair of commands).

``paramtool.cli`` imports a module only when its command runs (or its ``--help`` is asked for),
so that every command's start-up pays only for its own options and imports.
"""
