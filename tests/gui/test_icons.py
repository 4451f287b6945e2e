"""Every interface icon is bundled and draws; an unknown name is refused by name."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSize

from app.main_window import VIEWS
from app.widgets.icons import ICON_NAMES, icon, icon_svg
from core.resources import resource_path


def _opaque(name: str, color: str) -> set[str]:
    image = icon(name, color).pixmap(QSize(24, 24), 1.0).toImage()
    return {
        image.pixelColor(x, y).name()
        for x in range(24)
        for y in range(24)
        if image.pixelColor(x, y).alpha() == 255
    }


@pytest.mark.parametrize("name", ICON_NAMES)
def test_each_icon_is_bundled_and_draws_in_the_colour_asked(qapp, name):
    assert 'stroke="currentColor"' in icon_svg(name)
    assert _opaque(name, "#123456") == {"#123456"}


def test_the_views_use_bundled_icons_and_an_unknown_one_is_named():
    assert {spec.icon for spec in VIEWS} <= set(ICON_NAMES)
    bundled = {p.stem for p in resource_path("icons/ui").glob("*.svg")}
    assert bundled == set(ICON_NAMES)  # nothing bundled that the app does not draw
    with pytest.raises(FileNotFoundError, match="'no-such-icon' is not bundled"):
        icon_svg("no-such-icon")
