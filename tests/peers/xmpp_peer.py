#!/usr/bin/python3
"""A real XMPP client for the end-to-end tests: slixmpp (Debian's python3-slixmpp), logged in
with a client certificate and SASL EXTERNAL (or, with --password, a password), driven by JSON
lines on standard input and reporting what it receives as JSON lines on standard output.

Commands (one JSON object per line):
  {"op": "join", "room": ROOM, "nick": NICK}
  {"op": "send", "room": ROOM, "body": TEXT, "id": ORIGIN_ID,
   "label": null | {"ess": BASE64, "display": TEXT, "fg": COLOUR, "bg": COLOUR}}
  {"op": "private", "room": ROOM, "nick": NICK, ...same as send...}
  {"op": "subject", "room": ROOM, "subject": TEXT}
  {"op": "raw", "xml": TEXT}   any stanza, as written (a hostile occupant's forgeries)
  {"op": "raw", "xml": TEXT, "answer": ID}   the same, then reports the IQ answer with that id
                              as {"ev": "iq", "id", "type", "condition", "text"}
  {"op": "leave", "room": ROOM, "nick": NICK, "status": TEXT | null}
  {"op": "quit"}
Events:
  {"ev": "ready"} once the session has started
  {"ev": "joined", "room": ROOM}
  {"ev": "message", "type": "groupchat"|"chat"|"error", "room": ROOM, "nick": NICK,
   "body": TEXT, "subject": TEXT, "id": ORIGIN_ID, "delay": BOOL, "label": null | {"ess", "display", "fg", "bg",
   "other": BOOL}, "invite_from": JID | null (a mediated room invitation),
   "chatstate": NAME | null (XEP-0085), "receipt": ID | null (a XEP-0184 <received/>),
   "condition": NAME | null (a message error's defined condition),
   "stanza": the stanza's id attribute | null}
  {"ev": "presence", "room": ROOM, "nick": NICK, "type": "available"|"unavailable",
   "status": TEXT | null, "show": SHOW | null, "jid": REAL_JID | null, "role": ROLE | null,
   "codes": [CODE...],
   "reason": TEXT | null}
  {"ev": "error", "text": TEXT} for anything that went wrong (the test fails on it)
"""

import argparse
import asyncio
import json
import sys
import threading
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath, MatcherId

SL = "urn:xmpp:sec-label:0"
ESS = "urn:xmpp:sec-label:ess:0"
SID = "urn:xmpp:sid:0"
MUC_USER = "http://jabber.org/protocol/muc#user"
DELAY = "urn:xmpp:delay"
CHATSTATES = "http://jabber.org/protocol/chatstates"
RECEIPTS = "urn:xmpp:receipts"


def error_condition(xml):
    """The defined condition of a message error, if it is one."""
    err = xml.find("{jabber:client}error")
    if err is None:
        return None
    for c in err:
        if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not c.tag.endswith("}text"):
            return c.tag.split("}")[-1]
    return None


def error_text(xml):
    """The text of a message error, if it has one."""
    t = xml.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text")
    return t.text if t is not None else None


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def label_element(label):
    """A XEP-0258 <securitylabel/> with a display marking and an ESS label."""
    sl = ET.Element("{%s}securitylabel" % SL)
    if label.get("display") is not None:
        dm = ET.SubElement(sl, "{%s}displaymarking" % SL)
        dm.text = label["display"]
        if label.get("fg"):
            dm.set("fgcolor", label["fg"])
        if label.get("bg"):
            dm.set("bgcolor", label["bg"])
    lab = ET.SubElement(sl, "{%s}label" % SL)
    ess = ET.SubElement(lab, "{%s}esssecuritylabel" % ESS)
    ess.text = label["ess"]
    return sl


def read_label(xml):
    sl = xml.find("{%s}securitylabel" % SL)
    if sl is None:
        return None
    out = {"ess": None, "display": None, "fg": None, "bg": None, "other": False}
    dm = sl.find("{%s}displaymarking" % SL)
    if dm is not None:
        out["display"] = dm.text
        out["fg"] = dm.get("fgcolor")
        out["bg"] = dm.get("bgcolor")
    lab = sl.find("{%s}label" % SL)
    if lab is not None:
        ess = lab.find("{%s}esssecuritylabel" % ESS)
        if ess is not None:
            out["ess"] = (ess.text or "").strip()
        else:
            out["other"] = True
            inner = list(lab)
            if inner:
                out["xml"] = ET.tostring(inner[0], encoding="unicode")
    return out


class Peer(slixmpp.ClientXMPP):
    def __init__(self, jid, password=None):
        super().__init__(jid, password)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.add_event_handler("session_start", self.started)
        self.add_event_handler("no_auth", lambda _: emit({"ev": "error", "text": "authentication failed"}))
        self.register_handler(
            Callback("all messages", MatchXPath("{jabber:client}message"), self.on_message)
        )
        self.register_handler(
            Callback("all presence", MatchXPath("{jabber:client}presence"), self.on_presence)
        )

    def on_presence(self, pres):
        xml = pres.xml
        status = xml.find("{jabber:client}status")
        show = xml.find("{jabber:client}show")
        x = xml.find("{%s}x" % MUC_USER)
        item = x.find("{%s}item" % MUC_USER) if x is not None else None
        reason = item.find("{%s}reason" % MUC_USER) if item is not None else None
        codes = [int(c.get("code")) for c in x.findall("{%s}status" % MUC_USER)] if x is not None else []
        emit(
            {
                "ev": "presence",
                "room": pres["from"].bare,
                "nick": pres["from"].resource,
                "type": xml.get("type", "available"),
                "status": status.text if status is not None else None,
                "show": show.text if show is not None else None,
                "jid": item.get("jid") if item is not None else None,
                "role": item.get("role") if item is not None else None,
                "codes": codes,
                "reason": reason.text if reason is not None else None,
            }
        )

    async def started(self, _event):
        await self.get_roster()
        self.send_presence()
        emit({"ev": "ready"})

    def on_message(self, msg):
        xml = msg.xml
        body = xml.find("{jabber:client}body")
        subject = xml.find("{jabber:client}subject")
        oid = xml.find("{%s}origin-id" % SID)
        x = xml.find("{%s}x" % MUC_USER)
        invite = x.find("{%s}invite" % MUC_USER) if x is not None else None
        states = [c.tag.split("}")[-1] for c in xml if c.tag.startswith("{%s}" % CHATSTATES)]
        received = xml.find("{%s}received" % RECEIPTS)
        emit(
            {
                "ev": "message",
                "type": msg["type"],
                "room": msg["from"].bare,
                "nick": msg["from"].resource,
                "body": body.text if body is not None else None,
                "subject": subject.text if subject is not None else None,
                "id": oid.get("id") if oid is not None else None,
                "delay": xml.find("{%s}delay" % DELAY) is not None,
                "label": read_label(xml),
                "invite_from": invite.get("from") if invite is not None else None,
                "chatstate": states[0] if states else None,
                "receipt": received.get("id") if received is not None else None,
                "condition": error_condition(xml),
                "stanza": msg["id"] or None,
                "error_text": error_text(xml),
            }
        )

    def on_answer(self, iq):
        xml = iq.xml
        error = xml.find("{jabber:client}error")
        condition, text = None, None
        if error is not None:
            for child in error:
                name = child.tag.split("}")[-1]
                if name == "text":
                    text = child.text
                elif condition is None:
                    condition = name
        emit({"ev": "iq", "id": xml.get("id"), "type": xml.get("type"), "condition": condition, "text": text})

    def outgoing(self, to, mtype, cmd):
        msg = self.make_message(mto=to, mbody=cmd["body"], mtype=mtype)
        if cmd.get("label"):
            msg.append(label_element(cmd["label"]))
        if cmd.get("id"):
            oid = ET.Element("{%s}origin-id" % SID)
            oid.set("id", cmd["id"])
            msg.append(oid)
        msg.send()

    async def command(self, cmd):
        op = cmd.get("op")
        try:
            if op == "join":
                await self.plugin["xep_0045"].join_muc_wait(
                    slixmpp.JID(cmd["room"]), cmd["nick"], maxstanzas=0, timeout=20
                )
                emit({"ev": "joined", "room": cmd["room"]})
            elif op == "send":
                self.outgoing(cmd["room"], "groupchat", cmd)
            elif op == "private":
                self.outgoing("%s/%s" % (cmd["room"], cmd["nick"]), "chat", cmd)
            elif op == "subject":
                msg = self.make_message(mto=cmd["room"], mtype="groupchat")
                msg["subject"] = cmd["subject"]
                msg.send()
            elif op == "raw":
                if cmd.get("answer"):
                    self.register_handler(
                        Callback("answer " + cmd["answer"], MatcherId(cmd["answer"]), self.on_answer, once=True)
                    )
                self.send_raw(cmd["xml"])
            elif op == "leave":
                pres = self.make_presence(pto="%s/%s" % (cmd["room"], cmd["nick"]), ptype="unavailable")
                if cmd.get("status") is not None:
                    pres["status"] = cmd["status"]
                pres.send()
            elif op == "quit":
                self.disconnect()
            else:
                emit({"ev": "error", "text": "unknown op %r" % op})
        except Exception as e:  # reported to the test, which fails on it
            emit({"ev": "error", "text": "%s: %r" % (op, e)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jid", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--password")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    peer = Peer(args.jid, args.password)
    if args.cert:
        peer.certfile = args.cert
        peer.keyfile = args.key
    peer.ca_certs = args.ca
    loop = asyncio.get_event_loop()

    def stdin_reader():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
            except ValueError as e:
                emit({"ev": "error", "text": "bad command: %s" % e})
                continue
            asyncio.run_coroutine_threadsafe(peer.command(cmd), loop)
        # The test went away: leave.
        loop.call_soon_threadsafe(peer.disconnect)

    threading.Thread(target=stdin_reader, daemon=True).start()
    peer.connect(address=("127.0.0.1", args.port))
    peer.add_event_handler("disconnected", lambda _: loop.stop())
    loop.run_forever()


if __name__ == "__main__":
    main()
