"""Runs service.py (the Python example of docs/EME.md) against a real civpass, with the
command-line wallet as the citizen, and verifies an e-mail address through a real local SMTP
server (aiosmtpd). `python -m unittest test_service` in this folder; CIVPASS_BIN names the
binary (default: the workspace's debug build)."""

import email
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import requests
from aiosmtpd.controller import Controller

from service import Service

BIN = os.environ.get("CIVPASS_BIN", str(Path(__file__).resolve().parents[3] / "target" / "debug" / "civpass"))
CALLBACK = "http://127.0.0.1:9/callback"


def civpass(*args):
    env = {**os.environ, "CIVPASS_LOG": "warn"}
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True, env=env).stdout


class Inbox:
    """An aiosmtpd handler keeping each message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf8", "replace")))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.inbox = Inbox()
        cls.smtp = Controller(cls.inbox, hostname="127.0.0.1", port=free_port())
        cls.smtp.start()
        env = {**os.environ, "CIVPASS_LOG": "warn"}
        cls.server = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", cls.dir.name,
             "--smtp-url", f"smtp://127.0.0.1:{cls.smtp.port}", "--mail-from", "civpass <no-reply@civpass.test>"],
            stdout=subprocess.PIPE, text=True, env=env)
        line = cls.server.stdout.readline()
        cls.base = re.search(r"\(issuer (\S+)\)", line).group(1)
        client = json.loads(civpass("client", "create", "--data-dir", cls.dir.name, "--name",
                                    "Agriculture, Fisheries and Conservation", "--redirect-uri", CALLBACK, "--json"))
        cls.service = Service(cls.base, client["client_id"], client["client_secret"], CALLBACK)
        cls.person = json.loads(civpass("registry", "list", "--limit", "1", "--offset", "500", "--json"))[0]
        cls.wallet = str(Path(cls.dir.name) / "wallet.json")
        civpass("wallet", "enroll", "--wallet", cls.wallet, "--server", cls.base, "--id-number", cls.person["hkid"],
                "--name-en", cls.person["name_en"], "--dob", cls.person["date_of_birth"], "--evidence", "pass")
        civpass("wallet", "eme", "set", "--wallet", cls.wallet, "email=wong@example.hk", "phone_number=+85293334444")

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait()
        cls.smtp.stop()
        cls.dir.cleanup()

    def approve(self, url):
        """The citizen's browser goes to `url`; the wallet approves with the matching code."""
        browser = requests.Session()
        res = browser.get(url, allow_redirects=False)
        page = requests.compat.urljoin(self.base, res.headers["location"])
        html = browser.get(page).text
        match = re.search(r'id="match-code">(\d\d)<', html).group(1)
        link = re.search(r'id="open-app" href="([^"]+)"', html).group(1).replace("&amp;", "&")
        civpass("wallet", "approve", "--wallet", self.wallet, link, "--match", match)
        return browser.get(page, allow_redirects=False).headers["location"]

    def test_fields_by_the_claims_parameter(self):
        url, pending = self.service.ask_for_fields()
        id_token, userinfo, _ = self.service.finish(self.approve(url), pending)
        self.assertEqual(id_token["email"], "wong@example.hk")
        self.assertEqual(userinfo["phone_number"], "+85293334444")
        self.assertEqual(userinfo["verified_claims"]["claims"]["birthdate"], self.person["date_of_birth"])
        self.assertEqual(userinfo["verified_claims"]["verification"]["trust_framework"], "hk_civpass")

    def test_a_form_filled_linked_and_anonymously(self):
        url, pending = self.service.fill_form()
        id_token, userinfo, form = self.service.finish(self.approve(url), pending)
        self.assertEqual(form["form_number"], "AFCD 7")
        self.assertEqual(userinfo["phone_number"], "+85293334444")
        subjects = set()
        for _ in range(2):
            url, pending = self.service.fill_form(anonymous=True)
            id_token, userinfo, form = self.service.finish(self.approve(url), pending)
            self.assertIsNone(userinfo)
            self.assertTrue(form["anonymous"])
            self.assertEqual(id_token["email"], "wong@example.hk")
            subjects.add(id_token["sub"])
        self.assertEqual(len(subjects), 2, "one-time subjects")

    def test_an_email_address_is_verified_through_a_real_smtp_server(self):
        civpass("wallet", "eme", "verify", "--wallet", self.wallet, "email")
        for _ in range(50):
            if self.inbox.messages:
                break
            time.sleep(0.1)
        recipients, message = self.inbox.messages[-1]
        self.assertEqual(recipients, ["wong@example.hk"])
        parsed = email.message_from_string(message)
        self.assertEqual(parsed["From"], "civpass <no-reply@civpass.test>")
        body = parsed.get_payload(decode=True).decode(parsed.get_content_charset() or "utf8")
        link = re.search(r"(http\S+/app/verify-email#\S+)", body).group(1)
        civpass("wallet", "eme", "confirm-email", "--wallet", self.wallet, link)
        vault = json.loads(civpass("wallet", "eme", "show", "--wallet", self.wallet, "--json"))
        held = next(f for f in vault["fields"] if f["name"] == "email")
        self.assertEqual((held["source"], held["method"]), ("verified", "email_link"))


if __name__ == "__main__":
    unittest.main()
