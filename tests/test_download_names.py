"""One letter's downloads from the API and the audit pages, named after the candidate.

A draft's .eml says DRAFT and carries no Message-ID, as the ZIP of drafts does.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from urllib.parse import unquote

from flask.testing import FlaskClient
from sqlalchemy import select
from test_after_sending import SMALL, _as, _sent
from test_sending import _quick  # noqa: F401 - the light password hashes and stand-in PDFs

from recruiter.models import Application, Candidate, FrozenLetter, Letter, Organization
from recruiter.services.letters import refresh_letters
from recruiter.services.tokens import create_token


def _by_name(db, position) -> dict[str, Letter]:  # noqa: ANN001
    """The position's letters by the candidate's first name."""
    db.expire_all()
    return {letter.application.candidate.first_name: letter for letter in db.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id))}


def _api(client: FlaskClient, db, org: Organization, path: str):  # noqa: ANN001, ANN202
    _, secret = create_token(db, org, f"reader-{path.count('/')}-{len(path)}", "read")
    db.commit()
    return _as(client, "GET", "/api/v1" + path, headers={"Authorization": f"Bearer {secret}"})


def test_a_draft_eml_from_the_api_has_no_message_id_and_says_draft(
        client: FlaskClient, db, make_org, make_position) -> None:  # noqa: ANN001
    """``okafor-daniel-DRAFT.eml``, with the UTF-8 spelling as ``filename*``; no Message-ID."""
    org = make_org()
    position = make_position(org=org, csv=SMALL)
    refresh_letters(db, position)
    db.commit()
    letters = _by_name(db, position)
    daniel = _api(client, db, org, f"/letters/{letters['Daniel'].id}/email")
    assert daniel.status_code == 200
    assert daniel.headers["Content-Disposition"] == 'inline; filename="okafor-daniel-DRAFT.eml"'
    message = message_from_bytes(daniel.data, policy=policy.default)
    assert message["Message-ID"] is None and b"message-id" not in daniel.data.lower()
    assert message["To"].addresses[0].addr_spec == "daniel.okafor@example.org"
    zoe = _api(client, db, org, f"/letters/{letters['Zoë'].id}/email")
    value = zoe.headers["Content-Disposition"]
    assert value.startswith('inline; filename="lefebvre-zoe-DRAFT.eml"; filename*=UTF-8\'\'')
    assert unquote(value.split("''", 1)[1]) == "lefebvre-zoë-DRAFT.eml"
    # An approved letter is still a draft: it is not frozen yet.
    letters["Daniel"].status = "approved"
    db.commit()
    again = _api(client, db, org, f"/letters/{letters['Daniel'].id}/email")
    assert "-DRAFT.eml" in again.headers["Content-Disposition"]
    assert message_from_bytes(again.data)["Message-ID"] is None


def test_an_api_pdf_is_named_after_its_candidate(client: FlaskClient, db, make_org,
                                                 make_position) -> None:  # noqa: ANN001
    """``hassan-ahmed.pdf`` rather than ``letter-<id>.pdf``."""
    org = make_org()
    position = make_position(org=org, csv=SMALL)
    refresh_letters(db, position)
    db.commit()
    ahmed = _by_name(db, position)["Ahmed"]
    response = _api(client, db, org, f"/letters/{ahmed.id}/pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert response.headers["Content-Disposition"] == 'inline; filename="hassan-ahmed.pdf"'


def test_a_frozen_eml_keeps_its_message_id_and_its_name_has_no_draft(
        client: FlaskClient, db, login, make_position) -> None:  # noqa: ANN001
    """Once frozen, the API gives the stored bytes, with their Message-ID, without DRAFT."""
    member, position = _sent(client, login, make_position)
    daniel = _by_name(db, position)["Daniel"]
    frozen = db.get(FrozenLetter, daniel.frozen.id)
    response = _api(client, db, member.organization, f"/letters/{daniel.id}/email")
    assert response.status_code == 200
    assert response.data == frozen.eml
    assert message_from_bytes(response.data)["Message-ID"] == frozen.message_id
    assert response.headers["Content-Disposition"] == 'inline; filename="okafor-daniel.eml"'


def test_the_audit_pages_name_downloads_after_the_candidate(
        client: FlaskClient, db, login, make_position) -> None:  # noqa: ANN001
    """The raw source and the frozen PDF: ``okafor-daniel.eml``, ``hassan-ahmed.pdf``."""
    member, position = _sent(client, login, make_position)
    letters = _by_name(db, position)
    login("admin", org=member.organization)
    source = _as(client, "GET", f"/audit/letters/{letters['Daniel'].id}/source")
    assert source.status_code == 200
    assert source.headers["Content-Disposition"] == 'attachment; filename="okafor-daniel.eml"'
    zoe = _as(client, "GET", f"/audit/letters/{letters['Zoë'].id}/source")
    assert zoe.headers["Content-Disposition"] == (
        "attachment; filename=\"lefebvre-zoe.eml\"; filename*=UTF-8''lefebvre-zo%C3%AB.eml")
    pdf = _as(client, "GET", f"/audit/letters/{letters['Ahmed'].id}/letter.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == 'inline; filename="hassan-ahmed.pdf"'


def test_a_name_that_was_erased_falls_back_to_the_letter_id(
        client: FlaskClient, db, login, make_position) -> None:  # noqa: ANN001
    """A candidate whose name is gone (erased) gives ``letter-<id>`` on every download."""
    member, position = _sent(client, login, make_position)
    letters = _by_name(db, position)
    daniel, ahmed = letters["Daniel"], letters["Ahmed"]
    for letter in (daniel, ahmed):
        candidate = db.get(Candidate, letter.application.candidate_id)
        candidate.first_name = candidate.last_name = ""
    db.commit()
    login("admin", org=member.organization)
    source = _as(client, "GET", f"/audit/letters/{daniel.id}/source")
    assert source.headers["Content-Disposition"] == \
        f'attachment; filename="letter-{daniel.id}.eml"'
    pdf = _as(client, "GET", f"/audit/letters/{ahmed.id}/letter.pdf")
    assert pdf.headers["Content-Disposition"] == f'inline; filename="letter-{ahmed.id}.pdf"'
    api = _api(client, db, member.organization, f"/letters/{daniel.id}/email")
    assert api.headers["Content-Disposition"] == f'inline; filename="letter-{daniel.id}.eml"'
