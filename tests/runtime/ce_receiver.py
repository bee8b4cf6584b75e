#!/usr/bin/env python3
"""A CloudEvents 1.0 HTTP receiver for tests (Python standard library only).

Reads structured (application/cloudevents+json), batch
(application/cloudevents-batch+json) and binary (ce-* headers) requests,
validates each event as a conformant receiver must (required attributes,
specversion, attribute names, attribute value types, data or data_base64,
RFC 3339 time, the percent-encoding of header values) and, when SECRET is
set in the environment, the X-Event-Signature HMAC-SHA256 of the body.
Each event is written as one JSON line to RECORD:
  {"mode", "attributes": {name: value as the CloudEvents JSON format reads
   it: a string, an Integer (a JSON whole number, 32-bit) or a Boolean; in
   binary mode every value is the header's text},
   "data": JSON value (JSON data only),
   "data_bytes_b64": the data's bytes (non-JSON data), "peer": client port}
An invalid request is answered 400 and recorded as {"error": "..."}.
Keeps connections alive (HTTP/1.1).  Writes its port to PORT_FILE; stops on
SIGTERM or after 120 s.
  ce_receiver.py RECORD PORT_FILE
"""
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORD, PORT_FILE = sys.argv[1], sys.argv[2]
SECRET = os.environ.get("SECRET", "")
NAME = re.compile(r"^[a-z0-9]{1,64}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
lock = threading.Lock()


class Invalid(Exception):
    pass


def is_json_type(ct):
    if ct is None:
        return True
    base = ct.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def check_context(attrs):
    for key in ("id", "source", "specversion", "type"):
        if not isinstance(attrs.get(key), str) or not attrs[key]:
            raise Invalid("required attribute %s missing or empty" % key)
    if attrs["specversion"] != "1.0":
        raise Invalid("specversion %r" % attrs["specversion"])
    for key, value in attrs.items():
        if not NAME.match(key):
            raise Invalid("attribute name %r" % key)
        # the CloudEvents JSON format's types: String, Integer, Boolean
        # (a number written with a fraction or exponent is a float here)
        if isinstance(value, bool) or isinstance(value, str):
            continue
        if isinstance(value, int):
            if not -2**31 <= value < 2**31:
                raise Invalid("attribute %s: %d is not a CloudEvents Integer (32-bit)" % (key, value))
            continue
        raise Invalid("attribute %s has type %s, not a CloudEvents String, Integer or Boolean"
                      % (key, type(value).__name__))
    for key in ("id", "source", "specversion", "type", "time", "subject", "dataschema", "datacontenttype"):
        if key in attrs and not isinstance(attrs[key], str):
            raise Invalid("%s must be a string" % key)
    if "time" in attrs and not TIME.match(attrs["time"]):
        raise Invalid("time %r is not RFC 3339" % attrs["time"])
    for key in ("subject", "dataschema", "datacontenttype"):
        if key in attrs and (not isinstance(attrs[key], str) or not attrs[key]):
            raise Invalid("%s must be a non-empty string" % key)


def structured(obj):
    if not isinstance(obj, dict):
        raise Invalid("a CloudEvent must be a JSON object")
    attrs = {k: v for k, v in obj.items() if k not in ("data", "data_base64")}
    check_context(attrs)
    out = {"attributes": attrs}  # each value of the type it came with
    if "data" in obj and "data_base64" in obj:
        raise Invalid("data and data_base64 both present")
    if "data_base64" in obj:
        b64 = obj["data_base64"]
        if not isinstance(b64, str):
            raise Invalid("data_base64 is not a string")
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError as e:
            raise Invalid("data_base64: %s" % e)
        out["data_bytes_b64"] = base64.b64encode(raw).decode()
    elif "data" in obj:
        ct = attrs.get("datacontenttype")
        if is_json_type(ct):
            out["data"] = obj["data"]
        else:
            # non-JSON content in structured mode travels as a JSON string
            if not isinstance(obj["data"], str):
                raise Invalid("data of type %s is not a string" % ct)
            out["data_bytes_b64"] = base64.b64encode(obj["data"].encode()).decode()
    return out


def header_value(raw):
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        raise Invalid("bad percent-encoding in %r" % raw)
    try:
        return urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise Invalid("header value is not UTF-8 after decoding: %r" % raw)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        records = []
        try:
            if SECRET:
                sig = self.headers.get("X-Event-Signature", "")
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(sig, want):
                    raise Invalid("signature %r does not match the body" % sig)
            ct = self.headers.get("Content-Type")
            base = (ct or "").split(";")[0].strip().lower()
            if base == "application/cloudevents+json":
                rec = structured(json.loads(body))
                rec["mode"] = "structured"
                records.append(rec)
            elif base == "application/cloudevents-batch+json":
                batch = json.loads(body)
                if not isinstance(batch, list) or not batch:
                    raise Invalid("a batch must be a non-empty JSON array")
                for item in batch:
                    rec = structured(item)
                    rec["mode"] = "batch"
                    rec["batch_size"] = len(batch)
                    records.append(rec)
            else:
                attrs = {}
                for key, value in self.headers.items():
                    if key.lower().startswith("ce-"):
                        name = key[3:].lower()
                        if name in attrs:
                            raise Invalid("header ce-%s twice" % name)
                        attrs[name] = header_value(value)
                if ct is not None:
                    attrs["datacontenttype"] = ct
                check_context(attrs)
                rec = {"mode": "binary", "attributes": attrs}
                if body or ct is not None:
                    if is_json_type(ct):
                        rec["data"] = json.loads(body)
                    else:
                        rec["data_bytes_b64"] = base64.b64encode(body).decode()
                records.append(rec)
            status = 200
        except (Invalid, ValueError) as e:
            records = [{"error": str(e)}]
            status = 400
        with lock, open(RECORD, "a") as f:
            for rec in records:
                rec["peer"] = self.client_address[1]
                f.write(json.dumps(rec, sort_keys=True) + "\n")
        answer = b'{"received":true}' if status == 200 else json.dumps(records[0]).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(PORT_FILE + ".tmp", PORT_FILE)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
timer = threading.Timer(120, server.shutdown)
timer.daemon = True
timer.start()
server.serve_forever()
