"""Compose, refine and score a tweet: a checklist of concrete text rules, each one checkable by reading
the draft — never a predicted reach, and never numbers presented as X's ranking.

| factor       | passes when                                                                    |
|--------------|--------------------------------------------------------------------------------|
| length       | 1-280 weighted characters (X's count: twitter-text v3, URLs 23, emoji and CJK 2) |
| concise      | at most 200 weighted characters (room for a quote post's comment)              |
| link         | no URL in the text and none attached (put the link in a reply)                 |
| hashtags     | at most 2 hashtags                                                             |
| mentions     | at most 3 @mentions                                                            |
| question     | the text asks something (a "?"), inviting replies                              |
| media        | a photo or video is attached                                                   |
| caps         | no more than 2 words of 4+ letters written in capitals                         |
| opening      | the first line is at most 100 weighted characters (what shows before "more")  |

Every rule weighs the same (`scorerWeights` lists them at 1): `passedCount` of `totalChecks` is the
score. `algorithmInsights` holds only what X documents about how a post is counted and shown (its
weighted length, the URL count, long posts), with where it is written.
This module is pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.social.text.limits import x_post_length

URL = re.compile(r"https?://\S+|\bwww\.\S+|\b[a-z0-9-]+\.(?:com|org|net|io|ai|dev|co)(?:/\S*)?\b", re.I)
HASHTAG = re.compile(r"(?<![\w&])#\w+")
MENTION = re.compile(r"(?<![\w@])@\w{1,15}")
SHOUT = re.compile(r"\b[A-Z]{4,}\b")

GOALS = ("engagement", "followers", "authority", "conversation")


@dataclass(frozen=True)
class Draft:
    text: str
    has_link: bool = False
    has_media: bool = False


@dataclass(frozen=True)
class Rule:
    factor: str
    rule: str
    check: Callable[[Draft], bool]
    suggestion: str


def _first_line(d: Draft) -> str:
    return d.text.strip().split("\n", 1)[0]


RULES: tuple[Rule, ...] = (
    Rule("length", "1-280 weighted characters", lambda d: 0 < x_post_length(d.text.strip()) <= 280,
         "Keep the post between 1 and 280 weighted characters (emoji and CJK count 2, a link 23)."),
    Rule("concise", "at most 200 weighted characters", lambda d: x_post_length(d.text.strip()) <= 200,
         "Cut it to 200 weighted characters or fewer."),
    Rule("link", "no link in the post", lambda d: not d.has_link and URL.search(d.text) is None,
         "Move the link to a reply and keep the post itself link-free."),
    Rule("hashtags", "at most 2 hashtags", lambda d: len(HASHTAG.findall(d.text)) <= 2,
         "Use at most 2 hashtags."),
    Rule("mentions", "at most 3 @mentions", lambda d: len(MENTION.findall(d.text)) <= 3,
         "Mention at most 3 accounts."),
    Rule("question", "asks a question", lambda d: "?" in d.text,
         "End with a question to invite replies."),
    Rule("media", "has a photo or video", lambda d: d.has_media, "Attach a photo or a short video."),
    Rule("caps", "at most 2 words in capitals", lambda d: len(SHOUT.findall(d.text)) <= 2,
         "Write in sentence case: at most 2 words in capitals."),
    Rule("opening", "a first line of at most 100 weighted characters",
         lambda d: x_post_length(_first_line(d)) <= 100,
         "Open with a short first line (100 weighted characters or fewer)."),
)  # fmt: skip

ALGORITHM_INSIGHTS = (
    {"insight": "A post holds 280 weighted characters: most Latin characters count 1, emoji and CJK count 2.",
     "source": "twitter-text v3 configuration (github.com/twitter/twitter-text)"},
    {"insight": "Any URL counts 23 characters, whatever its length (t.co wrapping).",
     "source": "twitter-text v3 configuration: transformedURLLength 23"},
    {"insight": "Accounts with X Premium may post up to 25,000 characters (note tweets).",
     "source": "X help center: About longer posts"},
    {"insight": "A post holds at most 4 photos, or 1 video, or 1 animated GIF.",
     "source": "X API v2 reference: POST /2/tweets, media.media_ids"},
)  # fmt: skip


def score(draft: Draft) -> dict[str, Any]:
    checklist = [
        {
            "factor": r.factor,
            "passed": bool(r.check(draft)),
            "suggestion": None if r.check(draft) else r.suggestion,
        }
        for r in RULES
    ]
    failed = [c for c in checklist if not c["passed"]]
    return {
        "totalChecks": len(checklist),
        "passedCount": len(checklist) - len(failed),
        "topSuggestion": failed[0]["suggestion"] if failed else None,
        "checklist": checklist,
    }


_GOAL_RULES = {
    "engagement": "Ask one direct question the reader can answer in a few words.",
    "followers": "Promise what following brings: say what you post about and how often.",
    "authority": "Lead with one specific number, result or source you can stand behind.",
    "conversation": "Take a clear position and invite disagreement with a question.",
}


def compose(topic: str | None, goal: str | None, style: list[str] | None) -> dict[str, Any]:
    questions = []
    if not topic:
        questions.append("What is the post about, in one sentence?")
    if not goal:
        questions.append("What should it achieve: engagement, followers, authority or conversation?")
    questions.append("Will you attach a photo or video?")
    questions.append("Is there a link? It goes in a reply, not in the post.")
    rules = [f"{r.factor}: {r.rule}" for r in RULES]
    if goal in _GOAL_RULES:
        rules.append(f"goal ({goal}): {_GOAL_RULES[goal]}")
    out: dict[str, Any] = {
        "contentRules": rules,
        "scorerWeights": {r.factor: 1 for r in RULES},
        "followUpQuestions": questions,
        "algorithmInsights": list(ALGORITHM_INSIGHTS),
        "engagementMultipliers": [
            {"factor": "question", "effect": "gives readers something to reply to"},
            {"factor": "media", "effect": "shows the post larger in the timeline"},
        ],
        "topPenalties": [{"factor": r.factor, "avoid": r.suggestion} for r in RULES if r.factor in
                         ("link", "hashtags", "caps", "length")],
    }  # fmt: skip
    if style:
        out["styleExamples"] = style[:5]
    return out


def refine(
    topic: str | None, tone: str | None, context: str | None, cta: str | None, media_type: str | None
) -> dict[str, Any]:
    guidance = ["Put the point in the first line: at most 100 weighted characters."]
    if tone:
        guidance.append(f"Keep one tone throughout: {tone}.")
    if cta:
        guidance.append(f"End with the call to action, once: {cta}.")
    if context:
        links = URL.findall(context)
        guidance.append("Use the context for one concrete detail; " + (
            "post its link in a reply." if links else "quote it in your own words."
        ))  # fmt: skip
    if media_type in ("photo", "video"):
        guidance.append(f"Write the text to stand beside the {media_type}: do not describe what it shows.")
    else:
        guidance.append("Without media, the text carries it alone: one idea, no filler.")
    subject = topic or "your topic"
    closing = cta or "What would you add?"
    patterns = [
        f"{subject}: the one thing most people miss. {closing}",
        f"I tried {subject} for a week. Here is what changed: … {closing}",
        f"Hot take on {subject}: … Agree or disagree?",
    ]
    return {"compositionGuidance": guidance, "examplePatterns": patterns}
