"""irctest controller for labelgate in server mode: each test gets a fresh gateway on the
project's ejabberd, with every channel name the suite uses mapped to a room of its own.

labelgate differs from a standalone ircd by design (see the README, "Conformance"): every user
logs in, so a small relay in front of the gateway logs each connection in with an account of
its own (it sends `PASS account:password` first; a client's own SASL or PASS still wins);
channels exist only where mapped; every line carries its label's marking.

Environment: LABELGATE_BIN (the binary), LABELGATE_TEST_XMPP_DIR and LABELGATE_TEST_XMPP_PORT
(the running ejabberd of contrib/ejabberd), LABELGATE_ROOT (the source tree).
"""

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController
from irctest.runner import NotImplementedByController

ROOT = Path(os.environ.get("LABELGATE_ROOT", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("LABELGATE_BIN", ROOT / "target" / "release" / "labelgate"))
XMPP_DIR = Path(os.environ.get("LABELGATE_TEST_XMPP_DIR", ROOT / "target" / "test-xmpp"))
XMPP_PORT = int(os.environ.get("LABELGATE_TEST_XMPP_PORT", "25222"))

# The channel names the suite's server tests use (`git grep '"#'`); each is mapped.
CHANNELS = """#chan #test #chan1 #chan2 #bar #auditorium #alice #channel #gen #bar_two #Foo #qux
#xyz #unrelated #how #fooa #foo #f #c90076 #F #znc_channel #uchan- #test_channel #relaymsg
#real_channel #otherchan #fake #ichan- #chan3 #baz #a #b #c #lobby #testchan #ergo""".split()

POOL = 64  # accounts the relay hands out, one per connection
POOL_PASSWORD = "irctest-pool"

_hashes = {}


def password_hash(password: str) -> str:
    """The argon2id hash labelgate's users file takes (computed by labelgate itself)."""
    if password not in _hashes:
        out = subprocess.run(
            [str(BIN), "user", "passwd"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
        _hashes[password] = out.stdout.strip()
    return _hashes[password]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """Accepts the suite's clients and hands each to the gateway after a PASS line naming an
    account of the pool: bytes are passed on unchanged both ways."""

    def __init__(self, hostname: str, port: int, upstream: int):
        self.upstream = upstream
        self.next = 0
        self.listener = socket.create_server((hostname, port), reuse_port=False)
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            account = "u%d" % (self.next % POOL)
            self.next += 1
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            for s in (client, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.sendall(("PASS %s:%s\r\n" % (account, POOL_PASSWORD)).encode())
            threading.Thread(target=self.pipe, args=(client, up), daemon=True).start()
            threading.Thread(target=self.pipe, args=(up, client), daemon=True).start()

    @staticmethod
    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self.stopped = True
        self.listener.close()


class LabelgateController(BaseServerController):
    software_name = "labelgate"
    supported_sasl_mechanisms: Set[str] = {"PLAIN"}
    supports_sts = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory: Optional[Path] = None
        self.relay: Optional[Relay] = None
        self.log = None
        self.accounts = {}

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str] = None,
        websocket_port: Optional[int] = None,
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if password is not None:
            raise NotImplementedByController("a server password (every user has an account)")
        if ssl:
            raise NotImplementedByController("TLS through the harness relay")
        if faketime:
            raise NotImplementedByController("faketime")
        self.hostname, self.port = hostname, port
        self.directory = Path(tempfile.mkdtemp(prefix="labelgate-irctest-"))
        self.run_id = secrets.token_hex(4)
        self.upstream = free_port()
        for i in range(POOL):
            self.accounts["u%d" % i] = POOL_PASSWORD
        self.write_users()
        self.write_mappings()
        self.write_gateway()
        self.log = open(self.directory / "labelgate.log", "w+")
        self.proc = subprocess.Popen(
            [str(BIN), "run", "--config", str(self.directory / "gateway.toml")],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "RUST_LOG": "info"},
        )
        self.wait_for_log("labelgate started", 30)
        self.relay = Relay(hostname, port, self.upstream)

    def write_users(self) -> None:
        assert self.directory
        lines = ['jid_template = "irct{account}@labelgate.test"', ""]
        for account, pw in self.accounts.items():
            lines += [
                "[[user]]",
                'account = "%s"' % account,
                'clearance = "SECRET, UK"',
                'password = "%s"' % password_hash(pw),
                "",
            ]
        tmp = self.directory / "users.toml.new"
        tmp.write_text("\n".join(lines))
        tmp.replace(self.directory / "users.toml")

    def write_mappings(self) -> None:
        assert self.directory
        (self.directory / "mappings").mkdir()
        blocks = []
        seen = set()
        for c in CHANNELS:
            # One mapping per name as IRC folds it (#Foo is #foo).
            if c.lower() in seen:
                continue
            seen.add(c.lower())
            room = "%s-%s@conference.labelgate.test" % (self.run_id, c[1:].encode().hex())
            blocks.append(
                '[[channel]]\nirc = "%s"\nroom = "%s"\ndefault_label = "OFFICIAL"\n'
                'clearance = "SECRET, UK"\nhistory = 0\npresence_status = "room-label"\n'
                % (c, room)
            )
        (self.directory / "mappings" / "irctest.toml").write_text("\n".join(blocks))

    def write_gateway(self) -> None:
        assert self.directory
        pki = XMPP_DIR / "pki"
        (self.directory / "gateway.toml").write_text(
            f"""[irc]
server_name = "My.Little.Server"
network = "labelgate-irctest"
motd = ["labelgate under irctest"]

[[irc.listen]]
address = "127.0.0.1:{self.upstream}"
tls = false

[irc.limits]
flood_burst = 10000
flood_rate = 10000.0
flood_max_debt = 10000

[xmpp]
address = "127.0.0.1:{XMPP_PORT}"
domain = "labelgate.test"
tls = "starttls"
ca_file = "{pki / 'ca.crt'}"
identity = "trusted-gateway"
certificate = "{pki / 'gateway.crt'}"
key = "{pki / 'gateway.key'}"

[policy]
file = "{ROOT / 'contrib' / 'demo' / 'policy.xml'}"

[files]
users = "users.toml"
mappings = "mappings"

[audit]
file = "audit.log"
"""
        )

    def wait_for_log(self, needle: str, secs: float, after: int = 0) -> None:
        assert self.log
        deadline = time.time() + secs
        while time.time() < deadline:
            self.log.seek(0)
            if self.log.read().count(needle) > after:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("labelgate exited: see %s" % self.log.name)
            time.sleep(0.05)
        raise RuntimeError("no %r in labelgate's log within %s s" % (needle, secs))

    def registerUser(self, case, username: str, password: Optional[str] = None) -> None:
        assert self.log and self.proc
        self.log.seek(0)
        before = self.log.read().count("reloaded policy")
        self.accounts[username] = password or "irctest"
        self.write_users()
        self.proc.send_signal(1)  # SIGHUP: users are reloaded
        self.wait_for_log("reloaded policy", 20, before)

    def wait_for_port(self) -> None:
        self.port_open = True

    def wait_for_services(self) -> None:
        # Accounts are the gateway's own (its users file): nothing else to wait for.
        pass

    def kill_proc(self) -> None:
        if self.relay:
            self.relay.stop()
            self.relay = None
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def kill(self) -> None:
        self.kill_proc()
        if self.directory and not os.environ.get("LABELGATE_IRCTEST_KEEP"):
            shutil.rmtree(self.directory, ignore_errors=True)


def get_irctest_controller_class() -> Type[LabelgateController]:
    return LabelgateController
