"""The plumbing every read-only table model of records shares: columns, headers, cells.

A :class:`RecordTableModel` shows one record a row under named text columns. It
answers Qt's ``rowCount``/``columnCount``/``headerData``/``data``: horizontal headers
are the column names, vertical headers the row numbers from 1, numbers (the columns in
:attr:`~RecordTableModel.right_aligned`) align right, and every "nothing here" goes
back to Qt through :func:`app.widgets.qt_none.no_data`. A subclass says how many rows
there are (:meth:`~RecordTableModel.row_total`) and what a cell shows
(:meth:`~RecordTableModel.cell`); where its records come from is its own business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.widgets.qt_none import no_data

__all__ = ["Column", "Index", "RecordTableModel"]

Index = QModelIndex | QPersistentModelIndex
#: A column: its header and how a record reads in it.
Column = tuple[str, Callable[[Any], str]]


class RecordTableModel(QAbstractTableModel):
    """A flat, read-only table of records under named text columns.

    Subclasses set :attr:`columns` and :attr:`right_aligned`, and implement
    :meth:`row_total` and :meth:`cell`; they may add columns that are not in
    :attr:`columns` by overriding :meth:`column_total` and :meth:`column_name`.
    """

    #: The columns in order: (header, record -> text).
    columns: ClassVar[Sequence[Column]] = ()
    #: The names of the columns whose cells align right (numbers).
    right_aligned: ClassVar[frozenset[str]] = frozenset()

    # -- what a subclass says ------------------------------------------------------

    def row_total(self) -> int:
        """How many rows the table has now."""
        raise NotImplementedError

    def column_total(self) -> int:
        """How many columns the table has now."""
        return len(self.columns)

    def column_name(self, column: int) -> str:
        """The header of ``column`` (``0 <= column < column_total()``)."""
        return self.columns[column][0]

    def cell(self, row: int, column: int, role: int) -> Any:
        """What the cell at (``row``, ``column``), both in range, holds for ``role``
        (any role but text alignment, which this class answers); None for nothing."""
        raise NotImplementedError

    # -- Qt model API --------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.row_total()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.column_total()

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        value = self._header(section, orientation, role)
        return no_data() if value is None else value

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        value = self._data(index, role)
        return no_data() if value is None else value

    def _header(self, section: int, orientation: Qt.Orientation, role: int) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < self.column_total():
            return self.column_name(section)
        if orientation == Qt.Orientation.Vertical and 0 <= section < self.row_total():
            return str(section + 1)
        return None

    def _data(self, index: Index, role: int) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.row_total():
            return None
        if not 0 <= index.column() < self.column_total():
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            right = self.column_name(index.column()) in self.right_aligned
            side = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        return self.cell(index.row(), index.column(), role)
