"""Captchas for sign-in: a picture of a short code, and a signed ticket.

The ticket carries the code's keyed hash and an expiry, so the server keeps
nothing until the captcha is used; each use is recorded on the username's
login guard, which refuses a ticket used before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import random
import secrets
import time
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

# No look-alikes (0/O, 1/I/L, 2/Z, 5/S).
_ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
LENGTH = 4
LIFETIME_SECONDS = 120


@dataclass(frozen=True)
class Captcha:
    captcha_id: str
    png: bytes

    def as_json(self) -> dict[str, object]:
        return {
            "captcha_id": self.captcha_id,
            "image": "data:image/png;base64," + base64.b64encode(self.png).decode(),
            "expires_in": LIFETIME_SECONDS,
        }


class Captchas:
    def __init__(self, secret: str) -> None:
        self.key = hashlib.sha256(b"captcha:" + secret.encode()).digest()

    def new(self) -> Captcha:
        return self.issue("".join(secrets.choice(_ALPHABET) for _ in range(LENGTH)))

    def issue(self, answer: str) -> Captcha:
        """The captcha for a given code."""
        nonce = secrets.token_urlsafe(9)
        expires = int(time.time()) + LIFETIME_SECONDS
        ticket = f"{nonce}.{expires}.{self._sign(nonce, expires, answer)}"
        return Captcha(captcha_id=ticket, png=_draw(answer))

    def solved(self, captcha_id: str, answer: str, now: float | None = None) -> bool:
        """Whether ``answer`` is the code of a ticket this server gave and
        that has not expired (reuse is the login guard's to refuse)."""
        try:
            nonce, expires_text, signature = captcha_id.split(".")
            expires = int(expires_text)
        except ValueError:
            return False
        if (now or time.time()) > expires:
            return False
        expected = self._sign(nonce, expires, answer.strip().upper())
        return hmac.compare_digest(expected, signature)

    def _sign(self, nonce: str, expires: int, answer: str) -> str:
        message = f"{nonce}.{expires}.{answer}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]


def _draw(answer: str) -> bytes:
    shuffle = random.Random(secrets.randbits(32))
    image = Image.new("RGB", (140, 50), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    for index, char in enumerate(answer):
        x = 12 + index * 30 + shuffle.randint(-3, 3)
        y = 6 + shuffle.randint(-4, 4)
        colour = tuple(shuffle.randint(20, 120) for _ in range(3))
        draw.text((x, y), char, font=font, fill=colour)
    for _ in range(6):
        points = [(shuffle.randint(0, 140), shuffle.randint(0, 50)) for _ in range(2)]
        draw.line(points, fill=(150, 150, 150), width=1)
    buffer = io.BytesIO()
    image.filter(ImageFilter.SMOOTH).save(buffer, format="PNG")
    return buffer.getvalue()
