"""`recruiter bounces` through the click runner: a maildir, an mbox file and a real IMAP server.

The IMAP server is a small IMAP4rev1 fake on 127.0.0.1 (socketserver), speaking what the
command uses: CAPABILITY, LOGIN, SELECT, SEARCH, FETCH, STORE, COPY, CREATE, EXPUNGE, CLOSE
and LOGOUT, over a real socket to Python's imaplib.
"""

from __future__ import annotations

import mailbox
import shlex
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from test_bounces import fresh, returned, sent  # noqa: F401
from test_sending import _quick, freeze  # noqa: F401

from recruiter.models import Delivery

USER, PASSWORD = "bounces@harbourair.example.com", 'pa ss"word'


def four(first: Delivery, second: Delivery) -> list[bytes]:
    """A 5.1.1 for the first letter, a 4.2.2 for the second, an out-of-office, a stranger's."""
    return [returned("postfix_5.1.1_user_unknown.eml", first),
            returned("exim_4.2.2_mailbox_full.eml", second),
            returned("out_of_office.eml", first), returned("unknown_message_id.eml")]


FIRST_RUN = ("Read 4 messages: 1 bounced, 1 kept as sent (temporary failure), 1 auto-reply "
             "ignored, 1 not ours.")
SECOND_RUN = ("Read 4 messages: 1 kept as sent (temporary failure), 1 already marked bounced, "
              "1 auto-reply ignored, 1 not ours.")


def make_maildir(path: Path, messages: list[bytes]) -> Path:
    """A maildir with the messages in new/, in order."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    for number, raw in enumerate(messages):
        (path / "new" / f"1764753247.M{number}P1.mx").write_bytes(raw)
    return path


def test_a_maildir_is_read_and_our_messages_marked_seen(db, sent, runner, tmp_path) -> None:  # noqa: ANN001, F811
    """Ours marked seen (cur/), the rest left new; a rerun with --move-processed moves ours."""
    first, second = sent()
    box = make_maildir(tmp_path / "Maildir", four(first, second))
    result = runner.invoke(args=["bounces", "--maildir", str(box)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == FIRST_RUN
    assert f"Delivery {first.id}: bounced" in result.output
    assert (fresh(db, first).state, fresh(db, second).state) == ("bounced", "sent")
    assert sorted(p.name for p in (box / "cur").iterdir()) == [
        "1764753247.M0P1.mx:2,S", "1764753247.M1P1.mx:2,S"]
    assert sorted(p.name for p in (box / "new").iterdir()) == [
        "1764753247.M2P1.mx", "1764753247.M3P1.mx"]
    again = runner.invoke(args=["bounces", "--maildir", str(box), "--move-processed"])
    assert again.exit_code == 0 and again.output.splitlines()[-1] == SECOND_RUN
    assert not list((box / "cur").iterdir())
    assert sorted(p.name for p in (box / ".processed" / "cur").iterdir()) == [
        "1764753247.M0P1.mx:2,S", "1764753247.M1P1.mx:2,S"]


def test_an_mbox_is_read_and_a_dry_run_changes_nothing(db, sent, runner, tmp_path) -> None:  # noqa: ANN001, F811
    """--dry-run says what would change and changes nothing; then the real run does it."""
    first, second = sent()
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path)
    for raw in four(first, second):
        box.add(raw)
    box.close()
    before = path.read_bytes()
    dry = runner.invoke(args=["bounces", "--mbox", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[-1] == "Dry run, nothing changed. " + FIRST_RUN
    assert (fresh(db, first).state, fresh(db, second).bounce_status) == ("sent", None)
    real = runner.invoke(args=["bounces", "--mbox", str(path)])
    assert real.exit_code == 0 and real.output.splitlines()[-1] == FIRST_RUN
    assert fresh(db, first).state == "bounced" and path.read_bytes() == before  # only read
    refused = runner.invoke(args=["bounces", "--mbox", str(path), "--move-processed"])
    assert refused.exit_code == 2 and "an mbox file is only read" in refused.output


@pytest.mark.parametrize("args, code, words", [
    ([], 2, "Name one place to read"),
    (["--imap", "imap://u@127.0.0.1/INBOX", "--mbox", __file__], 2, "Name one place to read"),
    (["--maildir", "/nonexistent/Maildir"], 2, "does not exist"),
    (["--imap", "https://example.org/INBOX"], 1, "must look like imaps://"),
    (["--org", "Nobody Ltd", "--imap", "imap://u@127.0.0.1/INBOX"], 1,
     "no organization with the id or name 'Nobody Ltd'"),
])
def test_bad_places_get_one_clear_line(runner, args: list[str], code: int, words: str) -> None:  # noqa: ANN001
    """A missing or doubled source, a bad path or address: a clear message and exit 1 or 2."""
    result = runner.invoke(args=["bounces", *args])
    assert result.exit_code == code and words in result.output, result.output


def test_a_folder_that_is_not_a_maildir_is_named(runner, tmp_path) -> None:  # noqa: ANN001
    """A plain folder is refused with its path and what a maildir needs."""
    result = runner.invoke(args=["bounces", "--maildir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path} is not a maildir: it needs cur, new and tmp folders." in result.output


# --- IMAP ----------------------------------------------------------------------------------------


@dataclass
class Mail:
    """One message in a folder of the fake server."""

    raw: bytes
    flags: set[str] = field(default_factory=set)


class FakeImap(socketserver.ThreadingTCPServer):
    """An IMAP4rev1 server with one account and its folders, in memory."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, messages: list[bytes]) -> None:
        super().__init__(("127.0.0.1", 0), ImapHandler)
        self.folders: dict[str, list[Mail]] = {"INBOX": [Mail(raw) for raw in messages]}
        self.commands: list[str] = []

    @property
    def url(self) -> str:  # noqa: D102
        return f"imap://{USER.replace('@', '%40')}@127.0.0.1:{self.server_address[1]}/INBOX"


class ImapHandler(socketserver.StreamRequestHandler):
    """One client's session."""

    server: FakeImap

    def reply(self, *lines: bytes | str) -> None:
        """Write each line with CRLF."""
        for line in lines:
            self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:  # noqa: C901, D102
        self.reply("* OK IMAP4rev1 fake ready")
        folders, selected = self.server.folders, None
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            self.server.commands.append(command)
            mails = folders.get(selected or "", [])
            if command == "CAPABILITY":
                self.reply("* CAPABILITY IMAP4rev1", f"{tag} OK done")
            elif command == "LOGIN":
                ok = shlex.split(args) == [USER, PASSWORD]
                self.reply(f"{tag} OK logged in" if ok else
                           f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
            elif command == "SELECT":
                name = shlex.split(args)[0]
                if name not in folders:
                    self.reply(f"{tag} NO no such mailbox")
                    continue
                selected = name
                self.reply(f"* {len(folders[name])} EXISTS", "* 0 RECENT",
                           f"{tag} OK [READ-WRITE] selected")
            elif command == "SEARCH":
                numbers = " ".join(str(n) for n in range(1, len(mails) + 1))
                self.reply(f"* SEARCH {numbers}".rstrip(), f"{tag} OK done")
            elif command == "FETCH":
                number = int(args.split()[0])
                raw = mails[number - 1].raw
                self.reply(f"* {number} FETCH (BODY[] {{{len(raw)}}}".encode() + b"\r\n" + raw
                           + b")", f"{tag} OK done")
            elif command == "STORE":
                number = int(args.split()[0])
                mails[number - 1].flags |= {f for f in ("\\Seen", "\\Deleted") if f in args}
                flags = " ".join(sorted(mails[number - 1].flags))
                self.reply(f"* {number} FETCH (FLAGS ({flags}))", f"{tag} OK done")
            elif command == "COPY":
                number, name = args.split(" ", 1)
                if shlex.split(name)[0] not in folders:
                    self.reply(f"{tag} NO [TRYCREATE] no such mailbox")
                    continue
                folders[shlex.split(name)[0]].append(Mail(mails[int(number) - 1].raw))
                self.reply(f"{tag} OK copied")
            elif command == "CREATE":
                folders.setdefault(shlex.split(args)[0], [])
                self.reply(f"{tag} OK created")
            elif command in ("EXPUNGE", "CLOSE"):
                for number in range(len(mails), 0, -1):
                    if "\\Deleted" in mails[number - 1].flags:
                        del mails[number - 1]
                        if command == "EXPUNGE":
                            self.reply(f"* {number} EXPUNGE")
                selected = None if command == "CLOSE" else selected
                self.reply(f"{tag} OK done")
            elif command == "LOGOUT":
                self.reply("* BYE", f"{tag} OK bye")
                return
            else:
                self.reply(f"{tag} BAD unknown command")


@pytest.fixture
def imap_server(request: pytest.FixtureRequest) -> Iterator[FakeImap]:
    """Start the fake with no messages; a test puts them in its INBOX."""
    server = FakeImap([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_imap_is_read_marked_seen_and_moved_on_request(db, sent, runner, imap_server,  # noqa: ANN001, F811
                                                       monkeypatch) -> None:  # noqa: ANN001
    """Password from the environment; ours marked seen, then moved into a new 'processed'."""
    first, second = sent()
    imap_server.folders["INBOX"] = [Mail(raw) for raw in four(first, second)]
    monkeypatch.setenv("RECRUITER_BOUNCES_IMAP_PASSWORD", PASSWORD)
    result = runner.invoke(args=["bounces", "--imap", imap_server.url])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == FIRST_RUN
    assert [m.flags for m in imap_server.folders["INBOX"]] == [{"\\Seen"}, {"\\Seen"}, set(),
                                                               set()]
    assert fresh(db, first).state == "bounced"
    moved = runner.invoke(args=["bounces", "--imap", imap_server.url, "--move-processed"])
    assert moved.exit_code == 0 and moved.output.splitlines()[-1] == SECOND_RUN
    inbox, processed = imap_server.folders["INBOX"], imap_server.folders["processed"]
    assert [m.raw for m in processed] == four(first, second)[:2]
    assert [m.raw for m in inbox] == four(first, second)[2:]
    assert "EXPUNGE" in imap_server.commands


def test_imap_login_and_mailbox_problems_are_clear(runner, imap_server) -> None:  # noqa: ANN001
    """A refused login names the user, never the password; a missing mailbox is named."""
    wrong = imap_server.url.replace("@127.0.0.1", ":wrong@127.0.0.1")
    result = runner.invoke(args=["bounces", "--imap", wrong])
    assert result.exit_code == 1
    assert f"refused the login of {USER}" in result.output and "wrong" not in result.output
    password = quote(PASSWORD, safe="")
    missing = imap_server.url.replace("/INBOX", "/Bounces").replace(
        "@127.0.0.1", f":{password}@127.0.0.1")
    result = runner.invoke(args=["bounces", "--imap", missing])
    assert result.exit_code == 1 and "There is no mailbox 'Bounces'" in result.output


def test_an_unreachable_imap_server_is_named(runner, imap_server) -> None:  # noqa: ANN001
    """Nothing listens: one line naming host and port."""
    port = imap_server.server_address[1]
    imap_server.shutdown()
    imap_server.server_close()
    result = runner.invoke(args=["bounces", "--imap", f"imap://u:p@127.0.0.1:{port}/INBOX"])
    assert result.exit_code == 1
    assert f"Could not reach the IMAP server 127.0.0.1:{port}" in result.output


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "imap.pem", folder / "imap.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_imaps_checks_the_certificate(db, sent, runner, imap_server, tmp_path,  # noqa: ANN001, F811
                                      monkeypatch) -> None:  # noqa: ANN001
    """imaps:// speaks TLS and trusts only a certificate the system trusts."""
    import ssl

    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    plain = imap_server.get_request
    monkeypatch.setattr(imap_server, "get_request", lambda: (
        lambda sock_addr: (context.wrap_socket(sock_addr[0], server_side=True), sock_addr[1])
    )(plain()))
    first, second = sent()
    imap_server.folders["INBOX"] = [Mail(raw) for raw in four(first, second)]
    url = imap_server.url.replace("imap://", "imaps://").replace(
        "@127.0.0.1", f":{quote(PASSWORD, safe='')}@127.0.0.1")
    untrusted = runner.invoke(args=["bounces", "--imap", url])
    assert untrusted.exit_code == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.output
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    trusted = runner.invoke(args=["bounces", "--imap", url])
    assert trusted.exit_code == 0, trusted.output
    assert trusted.output.splitlines()[-1] == FIRST_RUN
