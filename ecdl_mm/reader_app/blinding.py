# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The blinding rules of the reader app, in one place.

- :func:`pixels_only_jpeg`: every image a reader sees is rebuilt from its
  pixels alone and encoded as a bare JPEG: no segment or chunk of the source
  survives (EXIF, XMP, ICC profile, JPEG comments and every APPn segment,
  PNG ``tEXt``/``iTXt``/``zTXt``/``tIME``/``eXIf``/``iCCP``), and the encoder's
  own JFIF header is removed too, so the served file carries pixels and
  nothing else. The EXIF orientation and the ICC profile are applied to the
  pixels first (the reader sees what the source shows), then dropped.
- :class:`Blinder`: the reading order and the opaque tokens of lesions and
  images come from a per-study secret (the database's random salt), per
  reader **and** per session: without the database nobody can compute a
  reader's order or match a lesion or an image across readers or sessions.
"""
import hashlib
import hmac
import io
from typing import List, Sequence

_APPN = range(0xE0, 0xF0)
_COM = 0xFE
_SOS = 0xDA
_STANDALONE = {0x01} | set(range(0xD0, 0xD8))


def strip_jpeg_segments(data: bytes) -> bytes:
    """``data`` (a JPEG) without its APP0-APP15 and COM segments.

    Raises:
        ValueError: When ``data`` is not a well-formed JPEG header.
    """
    if data[:2] != b'\xff\xd8':
        raise ValueError('not a JPEG stream')
    out = bytearray(data[:2])
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f'JPEG marker expected at byte {i}')
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            out += data[i:i + 2]
            i += 2
            continue
        if marker == _SOS:  # entropy-coded data follows: keep the rest
            out += data[i:]
            return bytes(out)
        length = int.from_bytes(data[i + 2:i + 4], 'big')
        if marker not in _APPN and marker != _COM:
            out += data[i:i + 2 + length]
        i += 2 + length
    raise ValueError('JPEG stream without image data')


def _to_srgb(img):
    """``img`` with its embedded ICC profile applied (converted to sRGB);
    unchanged when it has none or the profile cannot be read."""
    icc = img.info.get('icc_profile')
    if not icc:
        return img
    try:
        from PIL import ImageCms
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile('sRGB')
        rgb = img if img.mode == 'RGB' else img.convert('RGB')
        return ImageCms.profileToProfile(rgb, src, dst, outputMode='RGB')
    except Exception:  # a damaged or foreign profile: keep the pixels
        return img


def pixels_only_jpeg(path: str, quality: int = 92) -> bytes:
    """The image at ``path`` as a JPEG built from its pixels only.

    This is the only way the app turns a study image into bytes for a
    reader (see the module docstring for what it removes).

    Raises:
        OSError: The file is missing or not a readable image.
        ValueError: The file's pixels cannot be decoded.
    """
    from PIL import Image, ImageOps
    with Image.open(path) as src:
        src.load()
        img = ImageOps.exif_transpose(src)
        img = _to_srgb(img)
        if img.mode != 'RGB':
            img = img.convert('RGB')
        # a new image from the raw pixels: nothing of src.info comes along
        bare = Image.frombytes('RGB', img.size, img.tobytes())
    buf = io.BytesIO()
    bare.save(buf, format='JPEG', quality=quality)
    return strip_jpeg_segments(buf.getvalue())


class Blinder:
    """Orders and tokens of one study, keyed by its secret salt.

    Args:
        key (bytes): The study's secret (the database's random salt).
        lesion_ids (Sequence[str]): The study's lesions, in study order.
        seed (int): The study file's ``seed``; changing it gives other
            orders (with the same secret).
    """

    def __init__(self, key: bytes, lesion_ids: Sequence[str], seed: int = 0):
        self._key = key
        self.lesion_ids = list(lesion_ids)
        self.seed = seed

    def _mac(self, *parts) -> str:
        msg = '|'.join(str(p) for p in parts).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def token(self, kind: str, reader_id: str, item: str) -> str:
        """An opaque 24-hex token of ``item`` for ``reader_id``."""
        return self._mac(kind, reader_id, item)[:24]

    def lesion_token(self, reader_id: str, session: str,
                     lesion_id: str) -> str:
        return self.token('lesion', reader_id, f'{session}|{lesion_id}')

    def image_token(self, reader_id: str, session: str, lesion_id: str,
                    k: int) -> str:
        return self.token('image', reader_id, f'{session}|{lesion_id}|{k}')

    def order(self, reader_id: str, session: str) -> List[int]:
        """Lesion indices in the reader's reading order of ``session``:
        sorted by a keyed hash of (seed, reader, session, lesion)."""
        keys = [
            self._mac('order', self.seed, reader_id, session, lid)
            for lid in self.lesion_ids
        ]
        return sorted(range(len(keys)), key=keys.__getitem__)
