#!/usr/bin/env python3
"""HTTPS services for the end-to-end credential tests, each behind a bearer token:

- a Kubernetes API server, as much as `kubectl get pods` needs: discovery (/version, /api, /apis,
  /api/v1) and the pods of one namespace, as a server-side Table or a PodList;
- a git server over smart HTTP (`git http-backend` as a CGI), serving the repositories under a
  directory, as `git ls-remote` and `git fetch` need.

Every request without the token gets 401: `Authorization: Bearer TOKEN` (kubectl), or Basic with
TOKEN as the password (git's credential helpers). Each request is logged as one JSON
line (method, path, authorized) to LOG, so a test can see that the credential arrived.

  fake-services.py CERT KEY ADDRESS PORT TOKEN REPOSITORIES LOG READY
"""
import base64, json, os, ssl, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, address, port, token, repositories, log_path, ready = sys.argv[1:9]
port = int(port)
log_lock = threading.Lock()

POD_NAMES = ["web-1", "web-2"]


def pod(name):
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default", "uid": name,
            "creationTimestamp": "2026-12-01T00:00:00Z"}, "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            "status": {"phase": "Running"}}


DISCOVERY = {
    "/version": {"major": "1", "minor": "20", "gitVersion": "v1.20.2", "platform": "linux/amd64"},
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{address}:{port}"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"], "shortNames": ["po"]},
        {"name": "namespaces", "singularName": "", "namespaced": False, "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]},
    ]},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def record(self, authorized):
        with log_lock, open(log_path, "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path, "authorized": authorized}) + "\n")

    def reply(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        given = self.headers.get("Authorization") or ""
        ok = given == "Bearer " + token
        if given.startswith("Basic "):
            try:
                ok = base64.b64decode(given[6:]).decode().partition(":")[2] == token
            except ValueError:
                ok = False
        self.record(ok)
        if not ok:
            self.reply(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized", "code": 401},
                       headers=[("WWW-Authenticate", 'Basic realm="airlock-test"')])
        return ok

    def do_GET(self):
        if not self.authorized():
            return
        path = self.path.split("?", 1)[0]
        if path.endswith("/info/refs") or ".git/" in path:
            return self.git()
        if path in DISCOVERY:
            return self.reply(200, DISCOVERY[path])
        if path == "/api/v1/namespaces/default/pods":
            if "as=Table" in (self.headers.get("Accept") or ""):
                return self.reply(200, {
                    "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                    "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0},
                                          {"name": "Status", "type": "string", "format": "", "description": "", "priority": 0}],
                    "rows": [{"cells": [name, "Running"], "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                                       "metadata": {"name": name, "namespace": "default"}}}
                             for name in POD_NAMES]})
            return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [pod(n) for n in POD_NAMES]})
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def do_POST(self):
        if not self.authorized():
            return
        self.git()

    def git(self):
        """Runs `git http-backend` as a CGI for this request."""
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        environment = dict(os.environ, GIT_PROJECT_ROOT=repositories, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                           QUERY_STRING=query, REQUEST_METHOD=self.command, CONTENT_TYPE=self.headers.get("Content-Type") or "",
                           CONTENT_LENGTH=str(len(body)), REMOTE_USER="airlock", REMOTE_ADDR="127.0.0.1")
        if self.headers.get("Content-Encoding"):
            environment["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        done = subprocess.run(["git", "http-backend"], input=body, env=environment, capture_output=True)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        content_type = next((v for n, v in headers if n.lower() == "content-type"), "application/octet-stream")
        self.reply(status, payload, content_type, [(n, v) for n, v in headers if n.lower() not in ("content-type", "content-length")])


server = ThreadingHTTPServer((address, port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(ready, "w") as marker:
    marker.write("ready\n")
server.serve_forever()
