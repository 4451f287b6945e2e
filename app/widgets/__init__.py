"""Widgets the views share.

The look: design tokens (colours, spacing, type scale; ``design``), the palette and
stylesheet built from them (``stylesheet``), the theme in force (``theme``) and icons.
The parts: banner, result badges, charts, money and number formatting, errors, alerts,
the gateway switch, config forms and tables, the base table model, empty states, the
sidebar and view pages (navigation), the keyboard shortcuts list, and (in content/) the
editors of what a request carries beyond text.
"""
