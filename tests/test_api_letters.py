"""Letters through the API: the review with findings, one letter, its email and PDF, approvals."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy

import pytest
from conftest import VANCOUVER
from flask.testing import FlaskClient
from sqlalchemy import select
from test_sending import _quick  # noqa: F401 - the light password hashes and stand-in PDFs

from recruiter.models import Application, AuditEvent, Letter, Member, Organization, Position
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")

ROWS = VANCOUVER.read_text(encoding="utf-8").splitlines()
# The hire, two emailed letters, one with a warning ("overqualified"), and one for post.
RISKY = "Daniel,Okafor,daniel.okafor@example.org,455 Granville Street,,Vancouver,BC,V6C 1T1," \
        "Canada,interviewed,declined,\"Frankly, you seemed overqualified for this coordinator " \
        "role, and your rota work impressed us all.\""
SMALL = "\n".join([ROWS[0], *[r for r in ROWS if r.startswith(("Maya,", "Zoë,", "Ahmed,"))],
                   RISKY]).encode()
LETTERS = 3


@dataclass
class Api:
    """An organization with a position and its tokens, and another organization's token."""

    client: FlaskClient
    org: Organization
    member: Member
    position: Position
    write: str
    read: str
    other: str

    def call(self, method: str, path: str, *, token: str | None = "write",
             json: object = None, **params: object):  # noqa: ANN201
        """One API request with the named token ("write", "read", "other") or none."""
        secret = getattr(self, token) if token else None
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return self.client.open("/api/v1" + path, method=method, headers=headers,
                                json=json, query_string=params or None)

    def letters(self) -> list[dict]:
        """Every letter of the position, as the API lists them."""
        response = self.call("GET", f"/positions/{self.position.id}/letters")
        assert response.status_code == 200, response.json
        return response.json["data"]

    def letter(self, name: str) -> dict:
        """The listed letter to the candidate named ``name``."""
        return next(x for x in self.letters() if x["name"] == name)


def make_api(client, db, make_org, make_member, make_position) -> Api:  # noqa: ANN001
    """The small position with an external id on every application, and three tokens."""
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=SMALL)
    for application in db.scalars(select(Application).where(
            Application.position_id == position.id).order_by(Application.id)):
        application.external_id = f"gh-{application.id}"
    _, write = create_token(db, org, "ats-write", "write")
    _, read = create_token(db, org, "ats-read", "read")
    _, other = create_token(db, make_org("Pacific Coastal Freight"), "theirs", "write")
    db.commit()
    return Api(client, org, member, position, write, read, other)


@pytest.fixture
def api(client, db, make_org, make_member, make_position) -> Api:  # noqa: ANN001
    """The small position and its tokens (``make_api``)."""
    return make_api(client, db, make_org, make_member, make_position)


def test_the_letters_list_shows_each_letter_with_its_findings(api: Api) -> None:
    """Every declined candidate's letter, with the ATS's id, channel and findings."""
    letters = api.letters()
    assert len(letters) == LETTERS
    assert {x["channel"] for x in letters} == {"email", "post"}
    assert all(x["external_id"] == f"gh-{x['application_id']}" for x in letters)
    assert all(x["status"] == "draft" and not x["approved"] for x in letters)
    risky = next(x for x in letters if x["name"] == "Daniel Okafor")
    [warning] = [f for f in risky["findings"] if f["severity"] == "warning"]
    assert warning["acknowledged"] is False and warning["start"] is not None
    assert risky["warnings"] == 1 and risky["errors"] == 0
    # A read token reads the same letters, as stored.
    response = api.call("GET", f"/positions/{api.position.id}/letters", token="read")
    assert response.status_code == 200 and len(response.json["data"]) == LETTERS


def test_the_letters_list_pages_by_cursor(api: Api) -> None:
    """Two at a time: every letter once, in id order, and no cursor after the last page."""
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", f"/positions/{api.position.id}/letters", **params).json
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, key=int) and len(set(seen)) == LETTERS
    bad = api.call("GET", f"/positions/{api.position.id}/letters", cursor="nonsense")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "cursor"


def test_one_letter_with_its_words(api: Api) -> None:
    """Subject, text and the content hash to approve against."""
    listed = api.letter("Zoë Lefebvre")
    response = api.call("GET", f"/letters/{listed['id']}", token="read")
    assert response.status_code == 200
    letter = response.json
    assert letter["subject"] and "Zoë" in letter["text"]
    assert len(letter["content_sha256"]) == 64
    assert letter["position_id"] == str(api.position.id)
    assert api.call("GET", f"/letters/{listed['id']}", token=None).status_code == 401
    assert api.call("GET", f"/letters/{listed['id']}", token="other").status_code == 404


def test_a_letter_renders_as_email_and_as_pdf(api: Api) -> None:
    """message/rfc822 to the candidate's address; a PDF; a postal letter has no email (409)."""
    emailed = api.letter("Zoë Lefebvre")
    response = api.call("GET", f"/letters/{emailed['id']}/email", token="read")
    assert response.status_code == 200 and response.mimetype == "message/rfc822"
    message = message_from_bytes(response.data, policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "zoe.lefebvre@example.net"
    assert message["Message-ID"] is None  # a draft: it cannot pass for the letter
    assert message.get_body(("plain",)) is not None
    response = api.call("GET", f"/letters/{emailed['id']}/pdf", token="read")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")

    posted = api.letter("Ahmed Hassan")
    response = api.call("GET", f"/letters/{posted['id']}/email")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert "no email address" in response.json["detail"]
    assert api.call("GET", f"/letters/{posted['id']}/pdf").data.startswith(b"%PDF")
    for path in (f"/letters/{emailed['id']}/email", f"/letters/{emailed['id']}/pdf"):
        assert api.call("GET", path, token="other").status_code == 404
        assert api.call("GET", path, token=None).status_code == 401


def test_approving_a_letter_needs_each_warning_acknowledged(api: Api, db) -> None:  # noqa: ANN001
    """Unacknowledged warnings are named and refused; acknowledged, the letter is approved."""
    risky = api.letter("Daniel Okafor")
    checks = sorted({f["check"] for f in risky["findings"] if f["severity"] == "warning"})
    path = f"/letters/{risky['id']}/approve"
    assert api.call("POST", path, token="read", json={}).status_code == 403
    assert api.call("POST", path, token=None, json={}).status_code == 401
    assert api.call("POST", path, token="other", json={}).status_code == 404

    refused = api.call("POST", path, json={"acknowledged": []})
    assert refused.status_code == 422
    assert "not acknowledged" in refused.json["detail"] and checks[0] in refused.json["detail"]
    stale = api.call("POST", path, json={"acknowledged": checks, "content_sha256": "0" * 64})
    assert stale.status_code == 422 and "changed since" in stale.json["detail"]
    assert db.get(Letter, int(risky["id"])).status == "draft"

    current = api.call("GET", f"/letters/{risky['id']}").json["content_sha256"]
    response = api.call("POST", path, json={"acknowledged": checks, "content_sha256": current})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "approved" and response.json["approved"] is True
    assert all(f["acknowledged"] for f in response.json["findings"]
               if f["severity"] == "warning")
    db.expire_all()
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.approved")).one()
    actor = db.get(Member, event.actor_id)
    assert actor.kind == "token" and "ats-write" in actor.name

    again = api.call("POST", path, json={"acknowledged": checks})  # approved as it is now
    assert again.status_code == 200 and again.json["status"] == "approved"
    back = api.call("POST", f"/letters/{risky['id']}/unapprove")
    assert back.status_code == 200 and back.json["status"] == "draft"
    assert api.call("POST", f"/letters/{risky['id']}/unapprove").status_code == 422
    assert api.call("POST", f"/letters/{risky['id']}/unapprove",
                    token="read").status_code == 403


def test_a_letter_without_warnings_is_approved_without_acknowledging(api: Api) -> None:
    """No warnings, nothing to acknowledge: an empty body approves it."""
    plain = next(x for x in api.letters() if x["warnings"] == 0 and x["errors"] == 0)
    response = api.call("POST", f"/letters/{plain['id']}/approve", json={})
    assert response.status_code == 200 and response.json["status"] == "approved"


def test_approving_every_letter_confirms_the_count_and_the_warnings(api: Api, db) -> None:  # noqa: ANN001
    """A wrong count or an unacknowledged check is refused; then every letter is approved."""
    letters = api.letters()
    checks = sorted({f["check"] for x in letters for f in x["findings"]
                     if f["severity"] == "warning"})
    path = f"/positions/{api.position.id}/letters/approve"
    assert api.call("POST", path, token="read",
                    json={"expected_count": LETTERS}).status_code == 403
    assert api.call("POST", path, token="other",
                    json={"expected_count": LETTERS}).status_code == 404
    wrong = api.call("POST", path, json={"expected_count": LETTERS + 1, "acknowledged": checks})
    assert wrong.status_code == 422 and f"there are {LETTERS}" in wrong.json["detail"]
    unacknowledged = api.call("POST", path, json={"expected_count": LETTERS})
    assert unacknowledged.status_code == 422 and "not acknowledged" in unacknowledged.json[
        "detail"]
    typo = api.call("POST", path, json={"expected_count": LETTERS, "acknowledge": True})
    assert typo.status_code == 422 and typo.json["errors"][0]["field"] == "acknowledge"

    response = api.call("POST", path, json={"expected_count": LETTERS, "acknowledged": checks})
    assert response.status_code == 200, response.json
    assert response.json == {"approved": LETTERS, "cancelled": 0}
    assert {x["status"] for x in api.letters()} == {"approved"}
    db.expire_all()
    assert db.scalars(select(AuditEvent).where(
        AuditEvent.action == "letters.approved_all")).one().payload["letters"] == LETTERS


def test_approving_all_cancels_a_second_letter_to_the_same_person(api: Api, db) -> None:  # noqa: ANN001
    """Two letters to one address: approve-all cancels the later one and counts it.

    The address was changed past the import, as a second writer would; the last check at
    approval finds it.
    """
    letters = api.letters()
    checks = sorted({f["check"] for x in letters for f in x["findings"]
                     if f["severity"] == "warning"})
    emailed = [x for x in (db.get(Letter, int(y["id"])) for y in letters)
               if x.application.candidate.email]
    first, later = emailed[0], emailed[1]
    later.application.candidate.email = first.application.candidate.email
    db.commit()
    no_note = [int(x["id"]) for x in letters if any(f["check"] == "empty-note"
                                                    for f in x["findings"])]
    path = f"/positions/{api.position.id}/letters/approve"
    response = api.call("POST", path, json={"expected_count": LETTERS, "acknowledged": checks,
                                            "without_note": no_note})
    assert response.status_code == 200, response.json
    assert response.json == {"approved": LETTERS - 1, "cancelled": 1}
    after = {x["id"]: x for x in api.letters()}
    assert after[str(later.id)]["status"] == "cancelled" and after[str(later.id)]["cancel_reason"]
    assert after[str(first.id)]["status"] == "approved"
