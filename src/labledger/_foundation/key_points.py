"""Whether 32 bytes are an Ed25519 public key worth trusting: a point on the curve, spelled the one
canonical way, and not of small order.

``cryptography`` loads any 32 bytes as a public key. A small-order point (the identity, the
all-zero bytes and six more, each with non-canonical spellings too) is no key at all: signatures
under it can be forged without any secret, so a user must not be able to register one. The check
decodes the point (RFC 8032, section 5.1.3) and multiplies it by the curve's cofactor, 8: a point
of small order gives the identity.
"""

from __future__ import annotations

__all__ = ["weak_point_reason"]

_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1)


def weak_point_reason(raw: bytes) -> str | None:
    """Why ``raw`` is not a usable Ed25519 public key, or ``None`` when it is one."""
    if len(raw) != 32:
        return "an Ed25519 public key is 32 bytes"
    number = int.from_bytes(raw, "little")
    sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= _P:
        return "the key is not spelled the canonical way"
    x = _recover_x(y, sign)
    if x is None:
        return "the key is not a point on the Ed25519 curve, spelled the canonical way"
    point = (x, y)
    for _ in range(3):
        point = _add(point, point)
    if point == _IDENTITY:
        return "the key is a point of small order, under which signatures can be forged"
    return None


def _recover_x(y: int, sign: int) -> int | None:
    """The x whose point has this y and sign bit, or ``None`` when there is none."""
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x2 = u * pow(v, -1, _P) % _P
    if x2 == 0:
        return None if sign else 0  # x = 0 has no negative: a set sign bit is non-canonical
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Edwards addition on -x^2 + y^2 = 1 + d x^2 y^2 (complete: no case is left out)."""
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, -1, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P
    return x3, y3
