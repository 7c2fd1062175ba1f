"""Find and mask personal data (e-mail addresses, phone numbers, payment cards) in text.

Microsoft Presidio is the maintained tool for this, but its analyzer needs a spaCy language model,
a separate download, and the course runs offline. Its *pattern* recognisers are regular
expressions plus checks, which is what this module is: patterns for the three kinds, and the
Luhn checksum so a 16-digit order number is not taken for a card. Tests in
``tests/test_pii.py`` pin what is found and, as important, what is left alone (prices, years,
order numbers, populations).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# Phone numbers: an international number (+ country code, then groups), a North-American
# (555) 123-4567 / 555-123-4567 / 555.123.4567, or a national number starting with 0 in groups.
PHONE = re.compile(r"""(?<![\w+])(?:
      \+\d{1,3}(?:[ -]?\(?\d{1,4}\)?){2,5}                 # +44 20 7946 0958, +1 (415) 555-0132
    | \(\d{3}\)[ ]?\d{3}[-. ]\d{4}                         # (555) 014-2368
    | \d{3}[-.]\d{3}[-.]\d{4}                              # 555-014-2368, 555.014.2368
    | 0\d{2,4}[ -]\d{3,6}(?:[ -]\d{3,4})?                  # 020 7946 0123, 07700 900461
)(?![\w])""", re.VERBOSE)
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")  # 13-19 digits, spaces or dashes allowed
PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]"}


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind, where it is, and the text itself."""

    kind: str
    start: int
    end: int
    text: str


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of payment card numbers (spaces and dashes ignored): from the right,
    double every second digit, subtract 9 from doubles over 9, and the sum must end in 0."""
    digits = [int(d) for d in re.sub(r"[ -]", "", number)]
    if not 13 <= len(digits) <= 19:
        return False
    total = sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def find_pii(text: str) -> list[Finding]:
    """E-mails, Luhn-valid card numbers and phone numbers in ``text``, in order, never overlapping.

    Cards are looked for before phones, so a card's digit groups are not reported as a phone.
    """
    found: list[Finding] = [Finding("email", m.start(), m.end(), m.group()) for m in EMAIL.finditer(text)]
    found += [Finding("card", m.start(), m.end(), m.group()) for m in CARD.finditer(text) if luhn_valid(m.group())]
    for m in PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 7 <= len(digits) <= 15 and not any(f.start < m.end() and m.start() < f.end for f in found):
            found.append(Finding("phone", m.start(), m.end(), m.group()))
    return sorted(found, key=lambda f: f.start)


def scrub(text: str) -> tuple[str, Counter]:
    """``text`` with every finding replaced by its placeholder (``[EMAIL]``, ``[PHONE]``, ``[CARD]``),
    and how many of each kind were replaced."""
    findings = find_pii(text)
    for finding in reversed(findings):
        text = text[:finding.start] + PLACEHOLDERS[finding.kind] + text[finding.end:]
    return text, Counter(f.kind for f in findings)
