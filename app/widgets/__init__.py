"""Widgets the views share: banner, result badges, charts, money and number formatting, errors, alerts, the gateway switch, config forms and tables, and the base table model."""
