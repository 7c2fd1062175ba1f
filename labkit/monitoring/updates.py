"""Knowledge updates: facts of the knowledge base that change after the model was deployed.

Each update names a fact, the sentence of its article that stated the old value and the sentence
that replaces it, and the new answer. Applying it yields the updated articles (for a RAG index)
and the updated questions (for re-tuning), so both ways of updating learn exactly the same change.
"""

from __future__ import annotations

from typing import Sequence

from labkit import data
from labkit.errors import DataError

UPDATE_SCHEMA: dict[str, type] = {"fact": str, "article": str, "old_sentence": str, "new_sentence": str,
                                  "answer": str}


def load_updates(name: str = "monitoring_updates.jsonl") -> list[dict]:
    """The course's fact updates (see ``data/monitoring_updates.md``)."""
    return data.load_jsonl(name, schema=UPDATE_SCHEMA)


def apply_to_articles(articles: Sequence[dict], updates: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """Articles with each update's old sentence replaced, and the titles of those that changed."""
    by_title = {a["title"]: dict(a) for a in articles}
    for update in updates:
        article = by_title.get(update["article"])
        if article is None or update["old_sentence"] not in article["text"]:
            raise DataError(f"the old sentence of fact {update['fact']!r} is not in article {update['article']!r}",
                            "updates", "copy old_sentence exactly from the article's text")
        article["text"] = article["text"].replace(update["old_sentence"], update["new_sentence"])
    changed = list(dict.fromkeys(u["article"] for u in updates))
    return [by_title[a["title"]] for a in articles], changed


def apply_to_questions(questions: Sequence[dict], updates: Sequence[dict]) -> list[dict]:
    """Question records with the answers of updated facts replaced by their new values."""
    new = {u["fact"]: u["answer"] for u in updates}
    return [{**q, "answer": new.get(q["fact"], q["answer"])} for q in questions]
