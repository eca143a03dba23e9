"""Text cleaning as in the original study, as Python for data prep and as a Keras layer for export."""

from __future__ import annotations

import dataclasses
import re

# nltk's English list (3.8), used when nltk's stopwords corpus is not installed.
FALLBACK_STOPWORDS = (
    "i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself "
    "yourselves he him his himself she she's her hers herself it it's its itself they them their "
    "theirs themselves what which who whom this that that'll these those am is are was were be "
    "been being have has had having do does did doing a an the and but if or because as until "
    "while of at by for with about against between into through during before after above below "
    "to from up down in out on off over under again further then once here there when where why "
    "how all any both each few more most other some such no nor not only own same so than too "
    "very s t can will just don don't should should've now d ll m o re ve y ain aren aren't "
    "couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't "
    "ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't "
    "weren weren't won won't wouldn wouldn't"
).split()

# Applied in order after lowercasing: specific forms before the generic suffixes.
CONTRACTIONS = (
    (r"[’‘`]", "'"),
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "cannot"),
    (r"\bshan't\b", "shall not"),
    (r"\bain't\b", "is not"),
    (r"\blet's\b", "let us"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'m\b", " am"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"'d\b", " would"),
)
HTML_TAG = r"<[^>]*>"
URL = r"(?:https?://|www\.)\S+"


def load_stopwords() -> tuple[list[str], str]:
    """English stopwords from nltk's corpus when installed, else the built-in copy.

    Never downloads anything.

    Returns:
        The words and where they came from ("nltk" or "built-in").
    """
    try:
        from nltk.corpus import stopwords

        return sorted(stopwords.words("english")), "nltk"
    except (LookupError, ImportError, OSError):
        return list(FALLBACK_STOPWORDS), "built-in"


@dataclasses.dataclass(frozen=True)
class CleaningOptions:
    """Which cleaning steps run, in this order (each default True but `remove_stopwords`).

    Attributes:
        strip_html: Replace HTML tags (IMDB's `<br />`) with spaces.
        remove_urls: Replace URLs with spaces.
        lowercase: Lowercase the text.
        expand_contractions: "can't" -> "cannot", "n't" -> " not", ...
        letters_only: Replace everything but letters with spaces.
        stopwords: Words to remove, letters only (default empty: none removed).
    """

    strip_html: bool = True
    remove_urls: bool = True
    lowercase: bool = True
    expand_contractions: bool = True
    letters_only: bool = True
    stopwords: tuple[str, ...] = ()

    @classmethod
    def step_names(cls) -> tuple[str, ...]:
        """The on/off steps, which `DataConfig` has as keys of the same names."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "stopwords")

    def to_config(self) -> dict:
        """Plain values (a JSON-able dict) for saving, e.g. in an exported model."""
        return {**dataclasses.asdict(self), "stopwords": list(self.stopwords)}

    @classmethod
    def from_config(cls, values: dict) -> CleaningOptions:
        """The inverse of `to_config`."""
        return cls(**{**values, "stopwords": tuple(values.get("stopwords", ()))})

    def steps(self) -> list[tuple[str, str]]:
        """The (regular expression, replacement) pairs, in order, after lowercasing.

        The patterns use only syntax that Python's `re` and RE2 (TensorFlow) read alike,
        so training data and exported models clean text the same way.
        """
        steps = []
        if self.expand_contractions:
            steps.extend(CONTRACTIONS)
        if self.letters_only:
            steps.append((r"[^a-z ]" if self.lowercase else r"[^A-Za-z ]", " "))
        if self.stopwords:
            words = "|".join(sorted(self.stopwords, key=len, reverse=True))
            steps.append((rf"\b(?:{words})\b", " "))
        return steps

    def pre_steps(self) -> list[tuple[str, str]]:
        """The steps that run before lowercasing (tags and URLs)."""
        steps = []
        if self.strip_html:
            steps.append((HTML_TAG, " "))
        if self.remove_urls:
            steps.append((URL, " "))
        steps.append((r"\s+", " "))
        return steps


def clean_text(text: str, options: CleaningOptions) -> str:
    """Clean one text; see `CleaningOptions` for the steps."""
    for pattern, replacement in options.pre_steps():
        text = re.sub(pattern, replacement, text)
    if options.lowercase:
        text = text.lower()
    for pattern, replacement in options.steps():
        text = re.sub(pattern, replacement, text)
    return " ".join(text.split())


def clean_texts(texts, options: CleaningOptions) -> list[str]:
    """Clean many texts; see `clean_text`."""
    return [clean_text(t, options) for t in texts]
