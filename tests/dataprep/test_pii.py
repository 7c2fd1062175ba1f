import pytest

from labkit.dataprep import pii


@pytest.mark.parametrize("text, kind, value", [
    ("Write to anna.berg@example.org today.", "email", "anna.berg@example.org"),
    ("Mail L.MEIER+shop@mail.example.co.uk, thanks", "email", "L.MEIER+shop@mail.example.co.uk"),
    ("Call +44 20 7946 0958 now", "phone", "+44 20 7946 0958"),
    ("Call (555) 014-2368.", "phone", "(555) 014-2368"),
    ("Call 555-014-2377 or", "phone", "555-014-2377"),
    ("dial 555.014.2390", "phone", "555.014.2390"),
    ("on +1-202-555-0147.", "phone", "+1-202-555-0147"),
    ("on +1 (415) 555-0132!", "phone", "+1 (415) 555-0132"),
    ("ring 020 7946 0123 please", "phone", "020 7946 0123"),
    ("mobile 07700 900461", "phone", "07700 900461"),
    ("Paris +33 1 23 45 67 89", "phone", "+33 1 23 45 67 89"),
    ("card 4111 1111 1111 1111 used", "card", "4111 1111 1111 1111"),
    ("card 5500-0000-0000-0004.", "card", "5500-0000-0000-0004"),
    ("amex 3782 822463 10005", "card", "3782 822463 10005"),
])
def test_finds_each_kind_and_format(text, kind, value):
    (finding,) = pii.find_pii(text)
    assert (finding.kind, finding.text) == (kind, value)
    assert text[finding.start:finding.end] == value


@pytest.mark.parametrize("text", [
    "It costs $175.50, or 89.99 dollars on sale.",
    "Veloria has about 2.3 million people; Tarsk has 640,000 inhabitants.",
    "The library was founded in 1742 and rebuilt in 1889-1901.",
    "My order number is 483920, booking reference 1234 5678 9012 3456.",  # 16 digits but not Luhn-valid
    "Reference 9876-5432-1098-7650 and 4111 1111 1111 1112.",
    "Email me at the office, not by phone.",
    "A score of 3-1 at 20:45 on 12.05.2024.",
])
def test_leaves_numbers_that_are_not_personal_data_alone(text):
    assert pii.find_pii(text) == []


def test_luhn():
    assert pii.luhn_valid("4539 1488 0343 6467")
    assert not pii.luhn_valid("4539 1488 0343 6468")
    assert not pii.luhn_valid("0000")  # too short for a card


def test_scrub_replaces_and_counts():
    text, counts = pii.scrub("Mail kofi@example.io or call 555-014-2377; card 4111111111111111.")
    assert text == "Mail [EMAIL] or call [PHONE]; card [CARD]."
    assert counts == {"email": 1, "phone": 1, "card": 1}
    assert pii.scrub("nothing here") == ("nothing here", {})
