"""``no_data()``: what a model's ``data()``/``headerData()`` returns for "nothing here".

PySide6 6.12 on CPython 3.11 loses one reference to ``None`` each time a Python
``data()`` or ``headerData()`` override returns it to C++ (a refcount bug in the
QVariant conversion; other return values are unaffected). After a few thousand
calls ``None``'s count reaches zero and the interpreter aborts ("none_dealloc"),
usually at exit. :func:`no_data` probes for the bug once and, where it exists, hands
back the lost reference before returning ``None``. On interpreters where ``None`` is
immortal (3.12+) or on a fixed PySide6, it is a plain ``return None``.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtCore import QSortFilterProxyModel as _Proxy

__all__ = ["LOSES_NONE_REFS", "no_data"]

_Index = QModelIndex | QPersistentModelIndex


class _Probe(QAbstractTableModel):
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> None:
        return None


def _loses_none_refs() -> bool:
    model, proxy = _Probe(), _Proxy()
    proxy.setSourceModel(model)
    index = proxy.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(50):
        proxy.data(index, Qt.ItemDataRole.DisplayRole)
    lost = before - sys.getrefcount(None)
    proxy.setSourceModel(None)
    if lost > 0:
        for _ in range(lost):  # give back what the probe itself cost
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    return lost >= 40


LOSES_NONE_REFS = _loses_none_refs()
_incref = ctypes.pythonapi.Py_IncRef
_none = ctypes.py_object(None)


def no_data() -> None:
    """``None`` for Qt, with the reference PySide6 is about to drop given back first."""
    if LOSES_NONE_REFS:
        _incref(_none)
    return None
