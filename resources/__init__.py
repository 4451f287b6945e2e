"""Centwise's bundled data files, installed as the package ``core.bundled``.

A regular package, not a namespace, so that setuptools' editable installs can map it
(see ``[tool.setuptools.package-dir]``); read the files through ``core.resources``.
"""
