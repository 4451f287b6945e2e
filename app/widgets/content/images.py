"""Images attached to a request: by a file picker, by drag and drop, or pasted.

Reading and decoding happen off the UI thread (:func:`load_file`, :func:`load_qimage`:
Pillow proves the bytes are an image and measures it; Qt makes the thumbnail). A file
over :data:`MAX_IMAGE_BYTES` is refused before it is read. Each thumbnail says the
image's size and what it costs in prompt tokens on the chosen model(s), by the
provider's rule (:func:`core.content.images.image_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QEvent, QIODevice, QMimeData, QObject, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.runtime.engine_bridge import OffThread
from app.widgets.content.json_editor import ERROR_STYLE, check_message
from app.widgets.formatting import fmt_tokens
from core.content.images import (
    MAX_DECODED_PIXELS,
    ImageInputError,
    image_from_bytes,
    image_from_path,
    image_tokens,
)
from core.types import ImagePart

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_BYTES",
    "THUMB_SIZE",
    "Attachment",
    "ImageAttachments",
    "image_paths",
    "load_file",
    "load_qimage",
    "png_bytes",
]

#: The largest file attached (OpenAI's per-image limit); bigger ones are never read.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
THUMB_SIZE = 72
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_FILTER = "Images (*.png *.jpg *.jpeg *.gif *.webp);;All files (*)"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached image: the checked part that is sent, a name and its thumbnail."""

    part: ImagePart
    name: str
    thumbnail: QImage


def _thumbnail(image: QImage) -> QImage:
    if image.isNull():
        return image
    return image.scaled(
        THUMB_SIZE,
        THUMB_SIZE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def load_file(path: str) -> Attachment:
    """Read, check and measure an image file (off the UI thread)."""
    file = Path(path)
    try:
        size = file.stat().st_size
    except OSError as e:
        raise ImageInputError(str(file), f"cannot be read ({e.strerror or e})") from None
    if size > MAX_IMAGE_BYTES:
        raise ImageInputError(
            str(file),
            f"is {size / 1e6:.1f} MB; images up to {MAX_IMAGE_BYTES // 2**20} MB can be attached",
        )
    part = image_from_path(file)
    return Attachment(part, file.name, _thumbnail(QImage.fromData(part.data or b"")))


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as PNG (what a pasted or dropped bitmap is sent as)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    data = bytes(buffer.data().data())
    buffer.close()
    return data


def load_qimage(image: QImage, name: str) -> Attachment:
    """A bitmap from the clipboard or a drop, as PNG bytes, checked (off the UI thread)."""
    if image.isNull():
        raise ImageInputError(name, "the clipboard or drop held no usable image")
    if image.width() * image.height() > MAX_DECODED_PIXELS:
        raise ImageInputError(
            name, f"the image is too large ({image.width()}×{image.height()} pixels)"
        )
    part = image_from_bytes(png_bytes(image), name)
    return Attachment(part, name, _thumbnail(image))


def image_paths(mime: QMimeData, *, any_file: bool) -> list[str]:
    """The local files ``mime`` carries: every file, or only image-named ones."""
    if not mime.hasUrls():
        return []
    paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    return paths if any_file else [p for p in paths if p.lower().endswith(IMAGE_SUFFIXES)]


def _mime_image(mime: QMimeData) -> QImage | None:
    if not mime.hasImage():
        return None
    data = mime.imageData()
    if isinstance(data, QPixmap):
        return data.toImage()
    return data if isinstance(data, QImage) else None


def _size_text(n: int | None) -> str:
    if n is None:
        return "? KB"
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 2**20:.1f} MB"


class ImageCard(QFrame):
    """A thumbnail, what it is and costs, and a remove button."""

    removed = Signal(object)

    def __init__(self, attachment: Attachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attachment = attachment
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(f"{attachment.name}\nsha256 {attachment.part.sha256}")
        self.picture = QLabel()
        self.picture.setFixedSize(THUMB_SIZE, THUMB_SIZE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setAccessibleName(f"Image {attachment.name}")
        if attachment.thumbnail.isNull():
            self.picture.setText("no preview")
        else:
            self.picture.setPixmap(QPixmap.fromImage(attachment.thumbnail))
        self.caption = QLabel()
        self.caption.setAccessibleName(f"Image {attachment.name}: size and tokens")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(f"Remove {attachment.name}")
        self.remove_button.setAccessibleName(f"Remove image {attachment.name}")
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        layout = QHBoxLayout(self)  # side by side: the strip stays one thumbnail high
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption, 1)
        layout.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)

    def show_tokens(self, tokens: Sequence[int]) -> None:
        part = self.attachment.part
        text = f"{self.attachment.name}\n{part.width}×{part.height} · {_size_text(len(part.data or b''))}"
        if tokens:
            low, high = min(tokens), max(tokens)
            count = fmt_tokens(low) if low == high else f"{fmt_tokens(low)}–{fmt_tokens(high)}"
            text += f"\n{count} tokens"
        self.caption.setText(text)


class ImageAttachments(QWidget):
    """Add (file picker), Paste, a drop target, and the attached images as thumbnails.

    ``changed()`` fires when an image is added or removed, ``failed(message)`` when one
    cannot be attached (the message names the file); :attr:`loading` counts
    images still being decoded; :meth:`when_loaded` runs a callback once none are.
    :meth:`watch` makes an editor (the prompt) take image pastes and drops too.
    """

    changed = Signal()
    failed = Signal(str)

    def __init__(self, off_thread: OffThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._off_thread = off_thread
        self.attachments: list[Attachment] = []
        self.cards: list[ImageCard] = []
        self.loading = 0
        self._pasted = 0
        self._waiters: list[Callable[[], None]] = []
        self._models: list[tuple[str, str]] = []
        self._filters: list[_ImageInput] = []
        self.add_button = QPushButton("Add images…")
        self.add_button.setAccessibleName("Add images from files")
        self.add_button.clicked.connect(self.pick_files)
        self.paste_button = QPushButton("Paste image")
        self.paste_button.setAccessibleName("Paste image from the clipboard")
        self.paste_button.clicked.connect(self.paste)
        self.hint = QLabel(
            "PNG, JPEG, GIF or WebP up to 20 MB: drop files here or paste into the prompt."
        )
        self.hint.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Images: status")
        self.status.hide()
        self.strip = QWidget()
        self.strip.setAccessibleName("Attached images")
        self._strip_layout = QHBoxLayout(self.strip)
        self._strip_layout.setContentsMargins(0, 0, 0, 0)
        self._strip_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(self.strip)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(THUMB_SIZE + 30)  # a card and the scroll bar
        # The tab page's colour shows through (a scroll area paints its own otherwise).
        scroll.setObjectName("image_strip")
        scroll.setStyleSheet(
            "#image_strip, #image_strip > QWidget > QWidget { background: transparent; }"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.paste_button)
        buttons.addWidget(self.hint, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.setAcceptDrops(True)

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(a.part for a in self.attachments)

    # -- adding ------------------------------------------------------------------

    def pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach images", "", _FILTER)
        self.add_paths(paths)

    def add_paths(self, paths: Sequence[str]) -> None:
        """Read and decode each file off-thread; each appears once it is checked."""
        for path in paths:
            self._load(load_file, path)

    def add_image(self, image: QImage, name: str | None = None) -> None:
        """Attach a bitmap (pasted or dropped), encoded as PNG off-thread."""
        if name is None:
            self._pasted += 1
            name = f"pasted-{self._pasted}.png"
        self._load(load_qimage, image.copy(), name)

    def paste(self) -> bool:
        """Attach the clipboard's image (or image files); False when it holds none."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not self.take_mime(mime, any_file=False):
            self._show_status("The clipboard holds no image.", error=True)
            return False
        return True

    def take_mime(self, mime: QMimeData, *, any_file: bool = True) -> bool:
        """Attach what a drop or paste carries: image files, else a bitmap."""
        paths = image_paths(mime, any_file=any_file)
        if paths:
            self.add_paths(paths)
            return True
        image = _mime_image(mime)
        if image is not None:
            self.add_image(image)
            return True
        return False

    def _load(self, fn: Callable[..., Attachment], *args: object) -> None:
        self.loading += 1
        self._show_status("Reading the image…")
        self._off_thread(fn, *args, on_result=self._loaded, on_error=self._load_failed)

    def _loaded(self, attachment: Attachment) -> None:
        if not isValid(self):
            return
        self.loading -= 1
        if any(a.part.sha256 == attachment.part.sha256 for a in self.attachments):
            self._show_status(f"{attachment.name} is attached already.")
        else:
            self.attachments.append(attachment)
            card = ImageCard(attachment)
            card.removed.connect(self.remove)
            card.show_tokens(self._tokens(attachment.part))
            self.cards.append(card)
            self._strip_layout.insertWidget(self._strip_layout.count() - 1, card)
            self._show_status("")
            self.changed.emit()
        self._settle()

    def _load_failed(self, error: BaseException) -> None:
        if not isValid(self):
            return
        self.loading -= 1
        message = check_message(error)
        self._show_status(f"⚠ {message}", error=True)
        self.failed.emit(message)
        self._settle()

    def _settle(self) -> None:
        if self.loading == 0:
            waiters, self._waiters = self._waiters, []
            for then in waiters:
                then()

    def when_loaded(self, then: Callable[[], None]) -> None:
        """Run ``then()`` once no image is being read (now, if none is)."""
        if self.loading == 0:
            then()
        else:
            self._waiters.append(then)

    # -- removing ----------------------------------------------------------------

    def remove(self, card: ImageCard) -> None:
        if card not in self.cards:
            return
        self.cards.remove(card)
        self.attachments.remove(card.attachment)
        self._strip_layout.removeWidget(card)
        card.deleteLater()
        self.changed.emit()

    def clear(self) -> None:
        for card in list(self.cards):
            self.remove(card)

    # -- tokens ------------------------------------------------------------------

    def set_models(self, models: Sequence[tuple[str, str]]) -> None:
        """``(provider kind, model)`` the images would go to; each card counts for them."""
        self._models = list(models)
        for card in self.cards:
            card.show_tokens(self._tokens(card.attachment.part))

    def _tokens(self, part: ImagePart) -> list[int]:
        return [image_tokens(part, kind, model) for kind, model in self._models]

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else "")
        self.status.setText(text)
        self.status.setVisible(bool(text))

    # -- drag and drop, and pastes into another editor ---------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_paths(event.mimeData(), any_file=True) or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if image_paths(event.mimeData(), any_file=True) or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.take_mime(event.mimeData(), any_file=True):
            event.acceptProposedAction()

    def watch(self, editor: QWidget, drop_target: QWidget | None = None) -> None:
        """Let ``editor`` attach pasted images (Ctrl+V with an image in the clipboard)
        and ``drop_target`` (its viewport) image files dropped on it; text still
        pastes and drops as text."""
        handler = _ImageInput(self)
        self._filters.append(handler)
        editor.installEventFilter(handler)
        if drop_target is not None:
            drop_target.installEventFilter(handler)


class _ImageInput(QObject):
    """Takes image pastes and image drops away from a text editor."""

    def __init__(self, images: ImageAttachments) -> None:
        super().__init__(images)
        self.images = images

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            return self._paste(event) or super().eventFilter(watched, event)
        is_drag = kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove)
        # Drag enter and move events are drop events too (QDragMoveEvent derives from it).
        dropping = is_drag or kind == QEvent.Type.Drop
        if (
            dropping
            and isinstance(event, QDropEvent)
            and image_paths(event.mimeData(), any_file=False)
        ):
            if not is_drag:
                self.images.take_mime(event.mimeData(), any_file=False)
            event.acceptProposedAction()
            return True
        return super().eventFilter(watched, event)

    def _paste(self, event: QKeyEvent) -> bool:
        if not event.matches(QKeySequence.StandardKey.Paste):
            return False
        mime = QGuiApplication.clipboard().mimeData()
        return (
            mime is not None
            and _is_image_paste(mime)
            and self.images.take_mime(mime, any_file=False)
        )


def _is_image_paste(mime: QMimeData) -> bool:
    """Image files, or a bitmap with no text (text copied from an office app often
    carries a picture of itself too; then the text is what the user meant)."""
    if image_paths(mime, any_file=False):
        return True
    return mime.hasImage() and not mime.text().strip()
