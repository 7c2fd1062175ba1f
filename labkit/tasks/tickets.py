"""Customer-support tickets with known departments: a labelled classification set made to order.

Each ticket is built from a department's *issue* (what went wrong), wrapped in openings, context
and closings that every department shares, so the words a ticket has in common with others
("order", "account", "card", "refund", "app") do not give its label away: the department is in
what the customer asks for, not in a keyword. Notebook 03 trains on the file this writes
(``data/tickets.jsonl``); notebook 08 can draw an imbalanced set with ``weights``.
"""

from __future__ import annotations

import random
from typing import Sequence

DEPARTMENTS = ("billing", "shipping", "technical", "account", "returns")

PRODUCTS = ["blender", "desk lamp", "pair of running shoes", "coffee grinder", "winter jacket", "phone case",
            "set of saucepans", "backpack", "bluetooth speaker", "yoga mat", "kettle", "office chair",
            "pair of headphones", "wall clock", "rain jacket", "toaster", "bike helmet", "bookshelf"]
WHEN = ["last week", "on Monday", "two weeks ago", "yesterday", "at the weekend", "ten days ago",
        "on the 3rd", "earlier this month"]

ISSUES = {
    "billing": [
        "I was charged twice for the {product} I ordered {when}.",
        "my card statement shows {amount} more than the price on the order page.",
        "the refund you promised for the {product} still has not reached my card.",
        "I cancelled the order {when} but the money has been taken anyway.",
        "the invoice for my order lists a delivery fee, although delivery was supposed to be free.",
        "the discount code was accepted at checkout but the full price was charged.",
        "I was billed for a subscription I never signed up for.",
        "could you send me a VAT invoice for the {product}? The one in my account has the wrong address.",
        "my payment was declined three times, yet my bank says the money left my account.",
        "you took {amount} for the {product} but the order confirmation says a lower price.",
    ],
    "shipping": [
        "the {product} I ordered {when} has still not arrived.",
        "the tracking page has said 'out for delivery' for four days now.",
        "the courier left my parcel with a neighbour I do not know.",
        "can I change the delivery address for the {product}? I am moving on Friday.",
        "the parcel was marked as delivered {when}, but nothing came to my door.",
        "only half of my order arrived; the {product} was not in the box.",
        "is it possible to get the {product} delivered before the weekend?",
        "the tracking number in my confirmation email does not work on the courier's site.",
        "the delivery window keeps moving back a day every time I check.",
        "my order has been stuck at the depot since {when}.",
    ],
    "technical": [
        "the app crashes every time I open the page for the {product}.",
        "the {product} will not pair with my phone, even after a reset.",
        "the checkout button does nothing when I press it on my laptop.",
        "the website shows an error 500 when I try to view my order history.",
        "the firmware update for the {product} stopped halfway and now it does not turn on.",
        "the size guide page does not load in my browser.",
        "the app logs me out every few minutes, although I ticked 'remember me'.",
        "the product photos do not appear on my tablet; I only see grey boxes.",
        "the {product} makes a clicking noise and then switches itself off after a minute.",
        "the search bar returns nothing, whatever I type.",
    ],
    "account": [
        "I cannot log in: the password reset email never arrives.",
        "please change the email address on my account to my new one.",
        "I would like to close my account and have my data deleted.",
        "someone has changed the password on my account and I did not do it.",
        "my loyalty points from the {product} purchase are not showing in my account.",
        "how do I stop the marketing emails? I have unticked everything in my profile.",
        "I set up two accounts by mistake and would like them merged.",
        "the two-factor code is sent to an old phone number I no longer have.",
        "my account is locked after too many login attempts.",
        "I need to update the name on my account after getting married.",
    ],
    "returns": [
        "the {product} arrived damaged and I would like to send it back.",
        "how do I return the {product}? It is the wrong size.",
        "I sent the {product} back {when}; has the return been received?",
        "the returns label in the box has the wrong address on it.",
        "the {product} is not what the photos showed, so I want to return it for a refund.",
        "can I exchange the {product} for a different colour instead of returning it?",
        "the drop-off point refused my return parcel without a printed label.",
        "I changed my mind about the {product}; is it too late to return it?",
        "you sent me a {product} I did not order; how do I send it back?",
        "the {product} stopped working after a week and I would like a replacement.",
    ],
}

OPENINGS = ["Hello,", "Hi there,", "Good morning,", "Hello support team,", "Hi,", "Dear team,", "", "",
            "Hello again,", "Hi, quick question:"]
CONTEXT = ["I ordered a {product} {when}.", "I have been a customer for years and this is the first problem.",
           "My order number is {number}.", "I paid by card.", "I am writing from my phone, sorry for typos.",
           "I already tried the help pages.", "The {product} was a present for my sister.", "", "", "",
           "I used the app for the order.", "This is my second message about this."]
CLOSINGS = ["Thanks.", "Thank you for your help.", "Please get back to me soon.", "Regards, {name}",
            "Many thanks, {name}", "", "", "Cheers.", "I look forward to your reply.", "This is urgent, please."]
NAMES = ["Ana", "Tom", "Priya", "Lukas", "Mei", "Jonas", "Sara", "Omar", "Ines", "Kofi", "Ruth", "Dev"]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(product=rng.choice(PRODUCTS), when=rng.choice(WHEN), name=rng.choice(NAMES),
                           amount=f"£{rng.randint(5, 90)}.{rng.randint(0, 99):02d}",
                           number=f"{rng.randint(100000, 999999)}")


def ticket(department: str, rng: random.Random) -> str:
    """One ticket for ``department``: opening, maybe context, the issue, a closing."""
    issue = _fill(rng.choice(ISSUES[department]), rng)
    parts = [_fill(rng.choice(OPENINGS), rng), _fill(rng.choice(CONTEXT), rng)]
    parts.append(issue[0].upper() + issue[1:])
    parts.append(_fill(rng.choice(CLOSINGS), rng))
    return " ".join(part for part in parts if part)


def make_tickets(n: int, seed: int = 0, weights: Sequence[float] | None = None,
                 test_fraction: float = 0.3) -> list[dict]:
    """``n`` tickets as ``{"text", "label", "split"}`` records, labels drawn with ``weights``.

    Balanced by default (cycling through the departments); pass ``weights`` for an imbalanced set.
    The split is stratified: ``test_fraction`` of each department goes to ``test``.
    """
    rng = random.Random(seed)
    if weights is None:
        labels = [DEPARTMENTS[i % len(DEPARTMENTS)] for i in range(n)]
    else:
        labels = rng.choices(DEPARTMENTS, weights=weights, k=n)
    rng.shuffle(labels)
    records, seen = [], {d: 0 for d in DEPARTMENTS}
    totals = {d: labels.count(d) for d in DEPARTMENTS}
    for label in labels:
        split = "test" if seen[label] < round(totals[label] * test_fraction) else "train"
        seen[label] += 1
        records.append({"text": ticket(label, rng), "label": label, "split": split})
    return records
