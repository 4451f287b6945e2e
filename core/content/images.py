"""Images in requests: decoded and measured where they enter, counted by each
provider's published rule.

Bytes (a file, a ``data:`` URL, an Anthropic/Gemini base64 block) are decoded with
Pillow, which both proves they are an image and gives the size the token rules need.
An image given by ``http(s)`` URL is passed on as a URL; its size is unknown until the
provider fetches it, so its estimate is the rule's largest (the budget reserves the
worst case) and the provider's reported usage settles it.

Token rules (estimates before the call; the provider's usage wins after it):

* **OpenAI**, tile models (GPT-4o, GPT-4.1, o-series): ``low`` costs the base; otherwise
  the image is fitted in 2048×2048, its short side cut to 768, and each 512-pixel tile
  costs ``tile`` more (85 + 170 per tile; GPT-4o mini 2833 + 5667). Patch models
  (GPT-4.1 mini/nano, o4-mini, GPT-5 mini/nano): 32-pixel patches, at most 1536,
  times the model's multiplier.
* **Anthropic**: fitted in 1568 pixels on the long side and about 1.2 megapixels (the
  largest sizes its table keeps), then ``width × height / 750``.
* **Gemini**: 258 when both sides are at most 384 pixels, else 258 per 768-pixel crop
  unit tile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from core.errors import InputError
from core.types import ImagePart

__all__ = [
    "MAX_DECODED_PIXELS",
    "ImageInputError",
    "anthropic_image_tokens",
    "gemini_image_tokens",
    "image_from_bytes",
    "image_from_data_url",
    "image_from_path",
    "image_from_url",
    "image_tokens",
    "openai_image_tokens",
]

#: Larger images are refused before decoding (a decompression bomb guard).
MAX_DECODED_PIXELS = 80_000_000
_DETAILS = ("auto", "low", "high")
_MEDIA = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
#: The largest image a provider fetches or is sent; what an unknown size is counted as.
_WORST_SIDE = 2048


class ImageInputError(InputError):
    """An image that cannot be used; ``where`` names it (``messages[1].content[2]``)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where


def _detail(detail: object, where: str) -> str:
    if detail is None:
        return "auto"
    if detail not in _DETAILS:
        raise ImageInputError(f"{where}.detail", f"must be auto, low or high, got {detail!r}")
    return str(detail)


def image_from_bytes(
    data: bytes, where: str, *, detail: object = None, media_type: str | None = None
) -> ImagePart:
    """Decode ``data`` (PNG, JPEG, GIF or WebP) and describe it."""
    level = _detail(detail, where)
    if not data:
        raise ImageInputError(where, "the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                if width * height > MAX_DECODED_PIXELS:
                    raise ImageInputError(
                        where, f"the image is too large ({width}×{height} pixels)"
                    )
                img.verify()
    except ImageInputError:
        raise
    except UnidentifiedImageError:
        raise ImageInputError(
            where, "cannot be decoded as an image (not a PNG, JPEG, GIF or WebP file)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(where, "the image is too large to decode safely") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageInputError(
            where, f"cannot be decoded as an image (it is damaged: {e})"
        ) from None
    found = _MEDIA.get(fmt or "")
    if found is None:
        raise ImageInputError(
            where, f"{fmt or 'this'} images are not supported (PNG, JPEG, GIF or WebP)"
        )
    if media_type is not None and media_type != found:
        raise ImageInputError(where, f"declared as {media_type} but the bytes are {found}")
    digest = hashlib.sha256(data).hexdigest()
    return ImagePart(digest, found, data, None, width, height, level)


def image_from_data_url(url: str, where: str, *, detail: object = None) -> ImagePart:
    """A ``data:image/...;base64,...`` URL, decoded."""
    head, comma, payload = url.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        raise ImageInputError(where, "a data URL must look like data:image/png;base64,...")
    media = head[5:-7] or None
    return image_from_bytes(b64decode(payload, where), where, detail=detail, media_type=media)


def image_from_url(url: object, where: str, *, detail: object = None) -> ImagePart:
    """An image given by URL: a data URL is decoded; an http(s) URL is passed on."""
    if not isinstance(url, str) or not url:
        raise ImageInputError(f"{where}.url", "an image needs a URL or base64 data")
    if url.startswith("data:"):
        return image_from_data_url(url, where, detail=detail)
    if not url.startswith(("http://", "https://")):
        raise ImageInputError(f"{where}.url", f"must be an http(s) or data URL, got {url[:40]!r}")
    digest = hashlib.sha256(url.encode()).hexdigest()
    return ImagePart(digest, None, None, url, None, None, _detail(detail, where))


def image_from_path(path: str | Path, *, detail: object = None) -> ImagePart:
    """An image file (``centwise ask --image``, the playground's picker)."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImageInputError(where, f"cannot be read ({e.strerror or e})") from None
    return image_from_bytes(data, where, detail=detail)


def b64decode(payload: object, where: str) -> bytes:
    if not isinstance(payload, str):
        raise ImageInputError(where, "base64 data must be a string")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageInputError(where, "the base64 data is not valid base64") from None


# --- token rules ------------------------------------------------------------------------

#: OpenAI tile models: (base, per tile), by model prefix; the first match wins.
_OPENAI_TILES: tuple[tuple[str, int, int], ...] = (
    ("gpt-4o-mini", 2833, 5667),
    ("o1", 75, 150),
    ("o3", 75, 150),
    ("computer-use", 65, 129),
    ("gpt-5", 70, 140),
    ("gpt-4o", 85, 170),
    ("gpt-4.1", 85, 170),
    ("gpt-4.5", 85, 170),
)
#: OpenAI patch models: multiplier on 32-pixel patches; checked before the tiles.
_OPENAI_PATCHES: tuple[tuple[str, float], ...] = (
    ("gpt-5-mini", 1.62),
    ("gpt-5-nano", 2.46),
    ("gpt-4.1-mini", 1.62),
    ("gpt-4.1-nano", 2.46),
    ("o4-mini", 1.72),
)


def _fit(width: int, height: int, side: int) -> tuple[float, float]:
    scale = min(1.0, side / max(width, height))
    return width * scale, height * scale


def openai_image_tokens(width: int | None, height: int | None, detail: str, model: str) -> int:
    """Tokens OpenAI bills for one image (an unknown size counts as 2048×2048)."""
    w = width or _WORST_SIDE
    h = height or _WORST_SIDE
    name = model.rsplit("/", 1)[-1]
    for prefix, multiplier in _OPENAI_PATCHES:
        if name.startswith(prefix):
            patches = math.ceil(w / 32) * math.ceil(h / 32)
            if patches > 1536:
                shrink = math.sqrt(32 * 32 * 1536 / (w * h))
                ws, hs = w * shrink, h * shrink
                ws_fit = ws * (math.floor(ws / 32) / (ws / 32))
                hs_fit = hs * (ws_fit / ws)
                patches = math.ceil(ws_fit / 32) * math.ceil(hs_fit / 32)
                patches = min(patches, 1536)
            return math.ceil(patches * multiplier)
    base, tile = next(((b, t) for p, b, t in _OPENAI_TILES if name.startswith(p)), (85, 170))
    if detail == "low":
        return base
    fw, fh = _fit(w, h, 2048)
    short = min(fw, fh)
    if short > 768:
        fw, fh = fw * 768 / short, fh * 768 / short
    tiles = math.ceil(fw / 512) * math.ceil(fh / 512)
    return base + tile * tiles


#: The largest image Anthropic's published size table keeps as sent (951 x 1268, 3:4).
_ANTHROPIC_MAX_PIXELS = 951 * 1268


def anthropic_image_tokens(width: int | None, height: int | None) -> int:
    """Tokens Anthropic bills for one image (an unknown size counts as the largest it keeps)."""
    w, h = _fit(width or 1568, height or 1568, 1568)
    pixels = w * h
    if pixels > _ANTHROPIC_MAX_PIXELS:  # it also shrinks anything over ~1.2 megapixels
        shrink = math.sqrt(_ANTHROPIC_MAX_PIXELS / pixels)
        w, h = w * shrink, h * shrink
    return math.ceil(round(w) * round(h) / 750)


def gemini_image_tokens(width: int | None, height: int | None) -> int:
    """Tokens Gemini (2.0 and later) bills for one image."""
    w = width or _WORST_SIDE
    h = height or _WORST_SIDE
    if w <= 384 and h <= 384:
        return 258
    unit = min(768.0, max(256.0, min(w, h) / 1.5))
    return 258 * math.ceil(w / unit) * math.ceil(h / unit)


def image_tokens(image: ImagePart, provider_kind: str, model: str) -> int:
    """One image's tokens by the rule of ``provider_kind`` (OpenAI's for OpenAI-
    compatible servers, Ollama and the Simulator, which stands for OpenAI models unless
    the model name says otherwise)."""
    name = model.lower()
    if provider_kind == "anthropic" or "claude" in name:
        return anthropic_image_tokens(image.width, image.height)
    if provider_kind == "gemini" or "gemini" in name:
        return gemini_image_tokens(image.width, image.height)
    return openai_image_tokens(image.width, image.height, image.detail, name)
