"""The language findings of letters: not in the candidate's language, or missing a translation.

The letter engine (letters.py) chooses each letter's language; these are the findings the
review and approval show about that choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Boilerplate, BoilerplateVersion, Letter, Organization
from .checks import Finding
from .languages import display_name, missing_translations, org_language, primary
from .letters import wanted_language


def language_findings(letter: Letter, org: Organization, title: str = "") -> list[Finding]:
    """A letter not in its candidate's language (warning), or missing a translation (error).

    ``title`` names the boilerplate in the warning (default: read from the letter's version).
    """
    application = letter.application
    language = letter.language or org_language(org)
    wanted = wanted_language(application, org)
    found = []
    if primary(wanted) != primary(language):
        title = title or letter.boilerplate_version.boilerplate.title
        found.append(Finding(
            "language-fallback", "warning",
            f"No {display_name(wanted)} version of “{title}”: this letter is in "
            f"{display_name(language)}.", category="language"))
    for what in missing_translations(application.position, language, org):
        where = "differentiator" if what == "differentiator" else "organization settings"
        owner = "the position" if what == "differentiator" else "the organization"
        found.append(Finding(
            "missing-translation", "error",
            f"This letter is in {display_name(language)} and {owner} has no {what} in "
            f"{display_name(language)}: add it on the {where} page.", category="language"))
    return found


def fallback_titles(session: Session, letters: Sequence[Letter], org: Organization
                    ) -> dict[int, str]:
    """The boilerplate titles of the letters not in their candidate's language, by letter id.

    One query, and none when every letter is in its candidate's language.
    """
    fallbacks = {x.id: x.boilerplate_version_id for x in letters
                 if primary(x.language or org_language(org))
                 != primary(wanted_language(x.application, org))}
    if not fallbacks:
        return {}
    titles = dict(session.execute(
        select(BoilerplateVersion.id, Boilerplate.title).join(Boilerplate)
        .where(BoilerplateVersion.id.in_(set(fallbacks.values())))).all())
    return {letter_id: titles.get(version_id, "") for letter_id, version_id in fallbacks.items()}
