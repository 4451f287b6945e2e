"""Request content beyond text, checked where it enters: tool definitions, tool calls
and results, images, and the rules that count their tokens.

A leaf package (it imports only :mod:`core.errors` and :mod:`core.types`): the gateway,
the CLI and the app build :class:`core.types.Tool`, :class:`core.types.ImagePart` and
tool messages through it, and every stage reads the checked values.
"""
