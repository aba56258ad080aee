#!/usr/bin/env python3
"""Cross-check Boomerang's RADIUS codec against pyrad, an independent implementation.

Reads one JSON object on stdin:
    {"secret": "...",
     "requests": [{"name": ..., "hex": ...}],              # ours, to verify and decode
     "replies":  [{"name": ..., "hex": ..., "request_hex": ...}]}
and writes one JSON object on stdout:
    {"pyrad_version": ...,
     "built":   [{"name", "request_hex", "replies": [{"name", "hex"}]}],   # pyrad's packets
     "checked": [{"name", "code", "id", "authenticator_ok", "message_authenticator",
                  "message_authenticator_ok", "attributes": {name: [str, ...]}}]}

Packets are built and parsed by pyrad itself (CoAPacket, RequestPacket, ReplyPacket,
VerifyCoARequest, verify_message_authenticator, VerifyReply).
"""

import io
import json
import sys

import pyrad
from pyrad import packet
from pyrad.dictionary import Dictionary

DICTIONARY = """
ATTRIBUTE	User-Name		1	string
ATTRIBUTE	NAS-IP-Address		4	ipaddr
ATTRIBUTE	Framed-IP-Address	8	ipaddr
ATTRIBUTE	Reply-Message		18	string
ATTRIBUTE	Vendor-Specific		26	octets
ATTRIBUTE	Proxy-State		33	octets
ATTRIBUTE	Acct-Session-Id		44	string
ATTRIBUTE	Event-Timestamp		55	date
ATTRIBUTE	Message-Authenticator	80	octets
ATTRIBUTE	Error-Cause		101	integer

VENDOR		Cisco			9
BEGIN-VENDOR	Cisco
ATTRIBUTE	Cisco-AVPair		1	string
END-VENDOR	Cisco
"""


def dictionary():
    return Dictionary(io.StringIO(DICTIONARY))


def attributes_of(pkt):
    out = {}
    for key in pkt.keys():
        name = key if isinstance(key, str) else str(key)
        values = []
        for v in pkt[key]:
            values.append(v.hex() if isinstance(v, bytes) else str(v))
        out[name] = values
    return out


def build(secret, d):
    """pyrad builds a CoA-Request and a Disconnect-Request, and ACK and NAK
    replies to each, all with Message-Authenticator."""
    built = []
    for name, code, acks in [
        ("CoA-Request", packet.CoARequest, [("CoA-ACK", packet.CoAACK), ("CoA-NAK", packet.CoANAK)]),
        ("Disconnect-Request", packet.DisconnectRequest,
         [("Disconnect-ACK", packet.DisconnectACK), ("Disconnect-NAK", packet.DisconnectNAK)]),
    ]:
        req = packet.CoAPacket(code=code, id=17, secret=secret, dict=d)
        req.add_message_authenticator()
        req["User-Name"] = "pyrad-user"
        req["Acct-Session-Id"] = "sess-0042"
        req["NAS-IP-Address"] = "192.0.2.7"
        req["Framed-IP-Address"] = "198.51.100.9"
        req["Event-Timestamp"] = 1700000000
        req["Cisco-AVPair"] = "subscriber:command=reauthenticate"
        req["Proxy-State"] = b"ps-1"
        raw_req = req.RequestPacket()
        replies = []
        for reply_name, reply_code in acks:
            reply = req.CreateReply()
            reply.code = reply_code
            reply.add_message_authenticator()
            if reply_code in (packet.CoANAK, packet.DisconnectNAK):
                reply["Error-Cause"] = 503
            replies.append({"name": reply_name, "hex": reply.ReplyPacket().hex()})
        built.append({"name": name, "request_hex": raw_req.hex(), "replies": replies})
    return built


def check_request(item, secret, d):
    raw = bytes.fromhex(item["hex"])
    pkt = packet.CoAPacket(packet=raw, secret=secret, dict=d)
    has_ma = bool(pkt.message_authenticator)
    return {
        "name": item["name"],
        "code": pkt.code,
        "id": pkt.id,
        "authenticator_ok": pkt.VerifyCoARequest(),
        "message_authenticator": has_ma,
        "message_authenticator_ok": has_ma and pkt.verify_message_authenticator(),
        "attributes": attributes_of(pkt),
    }


def check_reply(item, secret, d):
    req = packet.CoAPacket(packet=bytes.fromhex(item["request_hex"]), secret=secret, dict=d)
    raw = bytes.fromhex(item["hex"])
    reply = req.CreateReply(packet=raw)
    has_ma = bool(reply.message_authenticator)
    return {
        "name": item["name"],
        "code": reply.code,
        "id": reply.id,
        # VerifyReply checks the identifier, the Response Authenticator and the
        # Message-Authenticator (with the request's authenticator).
        "authenticator_ok": req.VerifyReply(reply, raw),
        "message_authenticator": has_ma,
        "message_authenticator_ok": has_ma and reply.verify_message_authenticator(
            secret=secret, original_authenticator=req.authenticator, original_code=req.code),
        "attributes": attributes_of(reply),
    }


def main():
    job = json.load(sys.stdin)
    secret = job["secret"].encode()
    d = dictionary()
    checked = [check_request(i, secret, d) for i in job.get("requests", [])]
    checked += [check_reply(i, secret, d) for i in job.get("replies", [])]
    json.dump({
        "pyrad_version": getattr(pyrad, "__version__", "unknown"),
        "built": build(secret, d),
        "checked": checked,
    }, sys.stdout)


if __name__ == "__main__":
    main()
