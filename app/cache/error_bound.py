"""The error bound the learned cache serves under: ``[cache] max_error_rate``.

With the pair verifier on, the similarity threshold only picks candidates; what
decides how much the cache serves is the share of semantic hits the user allows to be
wrong. :class:`ErrorBoundControl` edits that bound in percent, previews the shared
threshold it would serve at (:meth:`core.cache.verifier.VerifierModel.threshold_for`
on the verifier's dev curve: a few comparisons, fine on the UI thread), and *Apply*
writes it with :func:`app.runtime.config_apply.write_and_reopen`, the path Settings
and What if… save through, so the engine re-opens with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QWidget

from app.runtime.config_apply import write_and_reopen
from app.runtime.config_file import config_to_toml
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from core.cache.verifier import VerifierModel
from core.config import CentwiseConfig, parse_config
from core.engine import Engine
from core.errors import ConfigError

if TYPE_CHECKING:
    from app.runtime.app_engine import EngineOpener

__all__ = ["ErrorBoundControl", "with_max_error_rate"]


def with_max_error_rate(config: CentwiseConfig, rate: float, source: str) -> CentwiseConfig:
    """``config`` with ``[cache] max_error_rate = rate``, validated like a saved file."""
    data = config.model_dump(mode="python", exclude_none=True)
    data["cache"]["max_error_rate"] = rate
    return parse_config(config_to_toml(data), source)


class ErrorBoundControl(QWidget):
    """A percent spin box for ``max_error_rate``, the threshold it serves at, *Apply*.

    ``previewed(threshold)`` fires whenever the threshold the shown bound would serve
    at may have changed (None until the verifier's model is known); ``status(text)``
    reports each step of applying; ``engine_reopened(engine)`` once the engine runs
    with the new bound. Without ``config_path`` there is nothing to apply to.
    """

    previewed = Signal(object)
    status = Signal(str)
    engine_reopened = Signal(object)

    def __init__(
        self,
        bridge: EngineBridge,
        config_path: Path | None = None,
        open_engine: EngineOpener | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.config_path = None if config_path is None else Path(config_path)
        self.open_engine = open_engine
        self.model: VerifierModel | None = None
        self.spin = QDoubleSpinBox()
        self.spin.setAccessibleName("Maximum error rate of semantic hits")
        self.spin.setRange(0.01, 20.0)  # the config allows (0, 0.2]
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.1)
        self.spin.setSuffix(" %")
        self.spin.setToolTip(
            "[cache] max_error_rate: the share of semantic hits allowed to be wrong. "
            "The shared threshold comes from the verifier's dev curve; each entry's "
            "moves with its evidence."
        )
        self.spin.valueChanged.connect(lambda _v: self._update())
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self.apply)
        self.apply_button.setVisible(self.config_path is not None)
        if self.config_path is not None:
            self.apply_button.setToolTip(
                f"Write max_error_rate to {self.config_path} and re-open the engine"
            )
        self.hint = QLabel()
        self.hint.setWordWrap(True)  # a long hint must not widen the whole cache view
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Max error rate"))
        layout.addWidget(self.spin)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.hint, 1)
        self.load(bridge.engine.config)

    def load(self, config: CentwiseConfig) -> None:
        """Show the bound ``config`` serves under (the running one)."""
        self.configured = config.cache.max_error_rate
        self.spin.blockSignals(True)
        self.spin.setValue(100 * self.configured)
        self.spin.blockSignals(False)
        self._update()

    def set_model(self, model: VerifierModel | None) -> None:
        """The verifier's model, read off the UI thread, for the preview."""
        self.model = model
        self._update()

    def rate(self) -> float:
        """The bound shown, as a fraction."""
        return round(self.spin.value() / 100, 6)

    def changed(self) -> bool:
        """True when the bound shown is not the one the engine runs with."""
        return abs(self.rate() - self.configured) > 1e-9

    def threshold(self) -> float | None:
        """The shared threshold the bound shown would serve at."""
        return None if self.model is None else self.model.threshold_for(self.rate())

    def _update(self) -> None:
        self.apply_button.setEnabled(self.config_path is not None and self.changed())
        threshold = self.threshold()
        if threshold is None or self.model is None:
            self.hint.setText("")
        else:
            point = self.model.point_for(self.rate())
            verb = "would serve" if self.changed() else "serves"
            text = f"{verb} at verifier score ≥ {threshold:.3f}"
            if point is not None:
                text += (
                    f" (dev split: {point.hit_rate:.1%} of paraphrases served, "
                    f"{point.false_hit_rate:.2%} false hits)"
                )
            self.hint.setText(text)
        self.previewed.emit(threshold)

    def apply(self) -> bool:
        """Write the bound shown to the config file and re-open the engine with it."""
        if self.config_path is None or not self.changed():
            return False
        try:
            config = with_max_error_rate(
                self.bridge.engine.config, self.rate(), str(self.config_path)
            )
        except ConfigError as e:
            self.status.emit(f"✗ {describe_error(e)}")
            return False
        return write_and_reopen(
            self.bridge,
            self.config_path,
            config,
            self.open_engine,
            report=self.status.emit,
            on_written=lambda: None,
            on_reopened=self._reopened,
            failed_word="applied",
        )

    def _reopened(self, engine: Engine) -> None:
        self.status.emit(
            f"Applied: max error rate {engine.config.cache.max_error_rate:.2%}, "
            f"saved to {self.config_path}."
        )
        self.load(engine.config)
        self.engine_reopened.emit(engine)
