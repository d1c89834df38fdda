"""Per-nationality formats of phone numbers, national ids and postcodes.

These are where the live API's type quirks live, and they are reproduced on purpose:

* `postcode` is a JSON number for most nationalities (so Australian "0800" arrives as
  800, and Dutch postcodes are bare numbers) and a string for GB, CA and NO;
* `id.value` is null, with `id.name` "", for IR, NZ, TR and UA; every Finnish one is the
  same broken string, `NaNNA` + three digits + `undefined` (the live API's HETU bug);
* Canadian and Ukrainian phone numbers contain letters ("A00 O46-5550", "(068) H59-8767"),
  as the live API's do.

Every function takes `draw`, the bound `random()` of the request's seeded generator, so
the output is a pure function of the seed. Only `random()` is used (never `choice` or
`randrange`) because its stream is guaranteed stable across Python versions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Draw = Callable[[], float]

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_POW10 = tuple(10**k for k in range(16))


def digits(draw: Draw, count: int) -> str:
    return f"{int(draw() * _POW10[count]):0{count}d}"


def between(draw: Draw, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    return low + int(draw() * (high - low + 1))


def letter(draw: Draw, alphabet: str = _UPPER) -> str:
    return alphabet[int(draw() * len(alphabet))]


@dataclass(frozen=True, slots=True)
class Born:
    """What some national ids encode about their holder."""

    ddmmyy: str
    year: int
    male: bool
    last_initial: str


IdFormat = Callable[[Draw, Born], tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class Formats:
    phone: Callable[[Draw], str]
    cell: Callable[[Draw], str]
    identity: IdFormat
    postcode: Callable[[Draw], int | str]


def _five_digit_postcode(draw: Draw) -> int:
    return between(draw, 10000, 99999)


def _no_id(draw: Draw, born: Born) -> tuple[str, None]:
    return "", None


def _digits_id(name: str, count: int) -> IdFormat:
    return lambda draw, born: (name, digits(draw, count))


def _gb_postcode(draw: Draw) -> str:
    area = letter(draw) + (letter(draw) if draw() < 0.5 else "")
    return f"{area}{between(draw, 1, 99)} {between(draw, 0, 9)}{letter(draw)}{letter(draw)}"


def _gb_id(draw: Draw, born: Born) -> tuple[str, str]:
    pairs = " ".join(digits(draw, 2) for _ in range(3))
    return "NINO", f"{letter(draw)}{letter(draw)} {pairs} {letter(draw, 'ABCD')}"


def _ca_postcode(draw: Draw) -> str:
    forward_sortation = f"{letter(draw)}{between(draw, 0, 9)}{letter(draw)}"
    return f"{forward_sortation} {between(draw, 0, 9)}{letter(draw)}{between(draw, 0, 9)}"


def _ca_phone(draw: Draw) -> str:
    return f"{letter(draw)}{digits(draw, 2)} {letter(draw)}{digits(draw, 2)}-{digits(draw, 4)}"


def _de_id(draw: Draw, born: Born) -> tuple[str, str]:
    serial = between(draw, 0, 49) if born.male else between(draw, 50, 99)
    return "SVNR", f"{digits(draw, 2)} {born.ddmmyy} {born.last_initial} {serial:02d}{between(draw, 0, 9)}"


def _fi_id(draw: Draw, born: Born) -> tuple[str, str]:
    # The live API formats the birth date with a helper that returns NaN and never fills in
    # the checksum: every Finnish id looks like this.
    return "HETU", f"NaNNA{digits(draw, 3)}undefined"


def _fr_id(draw: Draw, born: Born) -> tuple[str, str]:
    body = f"{1 if born.male else 2}{born.ddmmyy[4:]}{born.ddmmyy[2:4]}{digits(draw, 8)}"
    return "INSEE", f"{body} {97 - int(body) % 97:02d}"


def _nl_postcode(draw: Draw) -> int:
    return between(draw, 1000, 9999)  # a number, without the letters a real Dutch code has


def _ua_local(draw: Draw) -> str:
    # One digit of the live API's Ukrainian template is a letter.
    return f"{letter(draw)}{digits(draw, 2)}-{digits(draw, 4)}"


def _ua_phone(draw: Draw) -> str:
    return f"(0{between(draw, 31, 69)}) {_ua_local(draw)}"


def _dashed(*groups: int, prefix: str = "") -> Callable[[Draw], str]:
    return lambda draw: prefix + "-".join(digits(draw, count) for count in groups)


FORMATS: dict[str, Formats] = {
    "AU": Formats(
        phone=lambda d: f"0{between(d, 2, 8)}-{digits(d, 4)}-{digits(d, 4)}",
        cell=_dashed(2, 3, 3, prefix="04"),
        identity=_digits_id("TFN", 9),
        postcode=lambda d: between(d, 200, 9999),
    ),
    "BR": Formats(
        phone=lambda d: f"({digits(d, 2)}) {digits(d, 4)}-{digits(d, 4)}",
        cell=lambda d: f"({digits(d, 2)}) 9{digits(d, 4)}-{digits(d, 4)}",
        identity=lambda d, b: ("CPF", f"{digits(d, 3)}.{digits(d, 3)}.{digits(d, 3)}-{digits(d, 2)}"),
        postcode=_five_digit_postcode,
    ),
    "CA": Formats(
        phone=_ca_phone,
        cell=_ca_phone,
        identity=_digits_id("SIN", 9),
        postcode=_ca_postcode,
    ),
    "CH": Formats(
        phone=lambda d: f"0{between(d, 21, 91)} {digits(d, 3)} {digits(d, 2)} {digits(d, 2)}",
        cell=lambda d: f"07{between(d, 5, 9)} {digits(d, 3)} {digits(d, 2)} {digits(d, 2)}",
        identity=lambda d, b: ("AVS", f"756.{digits(d, 4)}.{digits(d, 4)}.{digits(d, 2)}"),
        postcode=lambda d: between(d, 1000, 9999),
    ),
    "DE": Formats(
        phone=lambda d: f"0{digits(d, 3)}-{digits(d, 7)}",
        cell=lambda d: f"017{between(d, 0, 9)}-{digits(d, 7)}",
        identity=_de_id,
        postcode=_five_digit_postcode,
    ),
    "DK": Formats(
        phone=lambda d: digits(d, 8),
        cell=lambda d: digits(d, 8),
        identity=lambda d, b: ("CPR", f"{b.ddmmyy}-{digits(d, 4)}"),
        postcode=_five_digit_postcode,
    ),
    "ES": Formats(
        phone=_dashed(2, 3, 3, prefix="9"),
        cell=_dashed(2, 3, 3, prefix="6"),
        identity=lambda d, b: ("DNI", f"{digits(d, 8)}-{letter(d)}"),
        postcode=_five_digit_postcode,
    ),
    "FI": Formats(
        phone=lambda d: f"0{between(d, 2, 9)}-{digits(d, 3)}-{digits(d, 3)}",
        cell=_dashed(1, 3, 2, 2, prefix="04"),
        identity=_fi_id,
        postcode=_five_digit_postcode,
    ),
    "FR": Formats(
        phone=lambda d: f"0{between(d, 1, 5)}-{digits(d, 2)}-{digits(d, 2)}-{digits(d, 2)}-{digits(d, 2)}",
        cell=_dashed(2, 2, 2, 2, prefix="06-"),
        identity=_fr_id,
        postcode=_five_digit_postcode,
    ),
    "GB": Formats(
        phone=lambda d: f"01{digits(d, 3)} {digits(d, 6)}",
        cell=lambda d: f"07{digits(d, 3)} {digits(d, 6)}",
        identity=_gb_id,
        postcode=_gb_postcode,
    ),
    "IE": Formats(
        phone=lambda d: f"0{between(d, 1, 7)}1-{digits(d, 3)}-{digits(d, 4)}",
        cell=_dashed(1, 3, 4, prefix="08"),
        identity=lambda d, b: ("PPS", f"{digits(d, 7)}T"),
        postcode=_five_digit_postcode,
    ),
    "IN": Formats(
        phone=lambda d: f"{between(d, 7, 9)}{digits(d, 9)}",
        cell=lambda d: f"{between(d, 7, 9)}{digits(d, 9)}",
        identity=_digits_id("UIDAI", 12),
        postcode=_five_digit_postcode,
    ),
    "IR": Formats(
        phone=lambda d: f"0{digits(d, 2)}-{digits(d, 8)}",
        cell=_dashed(2, 3, 4, prefix="09"),
        identity=_no_id,
        postcode=_five_digit_postcode,
    ),
    "MX": Formats(
        phone=lambda d: f"(6{digits(d, 2)}) {digits(d, 3)} {digits(d, 4)}",
        cell=lambda d: f"(6{digits(d, 2)}) {digits(d, 3)} {digits(d, 4)}",
        identity=lambda d, b: ("NSS", " ".join(digits(d, n) for n in (2, 2, 2, 4, 1))),
        postcode=_five_digit_postcode,
    ),
    "NL": Formats(
        phone=lambda d: f"(0{digits(d, 2)}) {digits(d, 7)}",
        cell=lambda d: f"(06) {digits(d, 8)}",
        identity=_digits_id("BSN", 8),
        postcode=_nl_postcode,
    ),
    "NO": Formats(
        phone=lambda d: f"{'235678'[int(d() * 6)]}{digits(d, 7)}",
        cell=lambda d: f"{'49'[int(d() * 2)]}{digits(d, 7)}",
        identity=lambda d, b: ("FN", f"{b.ddmmyy}{digits(d, 5)}"),
        postcode=lambda d: digits(d, 4),  # a string: Norwegian codes keep their leading zero
    ),
    "NZ": Formats(
        phone=lambda d: f"({digits(d, 3)})-{digits(d, 3)}-{digits(d, 4)}",
        cell=lambda d: f"({digits(d, 3)})-{digits(d, 3)}-{digits(d, 4)}",
        identity=_no_id,
        postcode=_five_digit_postcode,
    ),
    "RS": Formats(
        phone=lambda d: f"0{between(d, 1, 3)}{between(d, 0, 9)}-{digits(d, 4)}-{digits(d, 3)}",
        cell=lambda d: f"06{between(d, 0, 9)}-{digits(d, 4)}-{digits(d, 3)}",
        identity=_digits_id("SID", 9),
        postcode=_five_digit_postcode,
    ),
    "TR": Formats(
        phone=lambda d: f"({digits(d, 3)})-{digits(d, 3)}-{digits(d, 4)}",
        cell=lambda d: f"({digits(d, 3)})-{digits(d, 3)}-{digits(d, 4)}",
        identity=_no_id,
        postcode=_five_digit_postcode,
    ),
    "UA": Formats(
        phone=_ua_phone,
        cell=lambda d: f"(0{'6789'[int(d() * 4)]}{between(d, 6, 9)}) {_ua_local(d)}",
        identity=_no_id,
        postcode=_five_digit_postcode,
    ),
    "US": Formats(
        phone=lambda d: f"({digits(d, 3)}) {digits(d, 3)}-{digits(d, 4)}",
        cell=lambda d: f"({digits(d, 3)}) {digits(d, 3)}-{digits(d, 4)}",
        identity=lambda d, b: ("SSN", f"{digits(d, 3)}-{digits(d, 2)}-{digits(d, 4)}"),
        postcode=_five_digit_postcode,
    ),
}
