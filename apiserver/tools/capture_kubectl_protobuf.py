#!/usr/bin/env python3
"""Captures the protobuf request bodies real kubectl sends, as fixtures for apiserver::protobuf.

Starts the embedded apiserver (HTTPS, static token) and a plain-HTTP recording proxy in front of
it, then runs kubectl commands against the proxy. JSON requests (discovery, GETs, setup objects)
are forwarded; protobuf request bodies are saved as `<name>.pb` and answered with a 400 Status
(the server does not accept them yet, and the fixture is the body). For commands that have a
client-side dry run, `kubectl ... --dry-run=client -o json` is saved as `<name>.json`: the JSON
the decoder must produce for the same command.

Usage: capture_kubectl_protobuf.py APISERVER_BINARY KUBECTL OUT_DIR
"""
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOKEN = "capture-token"

# (fixture name, setup commands, command, has a client-side dry run). Commands whose requests
# are JSON and so not here: `run`, `expose`, `drain` (eviction), `scale`, `apply`/`create -f`.
SCENARIOS = [
    ("namespace", [], ["create", "namespace", "demo"], True),
    ("deployment", [], ["create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80"], True),
    ("deployment-multi", [], ["create", "deployment", "multi", "--image=nginx", "--image=busybox", "--replicas=0"], True),
    ("secret-generic", [], ["create", "secret", "generic", "s", "--from-literal=a=b", "--from-literal=empty=",
                            "--type=Opaque"], True),
    ("secret-docker", [], ["create", "secret", "docker-registry", "reg", "--docker-server=r.example",
                           "--docker-username=u", "--docker-password=p", "--docker-email=e@x.io"], True),
    ("configmap", [], ["create", "configmap", "cm", "--from-literal=k=v", "--from-file=bin={bin}",
                       "--from-file=text={text}"], True),
    ("service-clusterip", [], ["create", "service", "clusterip", "svc", "--tcp=5678:8080", "--tcp=443:https"], True),
    ("service-nodeport", [], ["create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"], True),
    ("service-externalname", [], ["create", "service", "externalname", "ext", "--external-name=example.com"], True),
    ("job", [], ["create", "job", "pi", "--image=perl", "--", "perl", "-e", "print 1"], True),
    ("cronjob", [], ["create", "cronjob", "cj", "--image=busybox", "--schedule=*/1 * * * *", "--restart=OnFailure",
                     "--", "date"], True),
    ("quota", [], ["create", "quota", "q", "--hard=cpu=1500m,memory=1Gi,pods=2", "--scopes=NotTerminating"], True),
    ("priorityclass", [], ["create", "priorityclass", "high", "--value=1000", "--description=d",
                           "--preemption-policy=Never", "--global-default=false"], True),
    ("serviceaccount", [], ["create", "serviceaccount", "robot"], True),
    ("role", [], ["create", "role", "r", "--verb=get,list", "--resource=pods,deployments.apps",
                  "--resource-name=a"], True),
    ("clusterrole", [], ["create", "clusterrole", "cr", "--verb=get", "--non-resource-url=/logs/*"], True),
    ("rolebinding", [], ["create", "rolebinding", "rb", "--role=r", "--user=alice", "--group=devs",
                         "--serviceaccount=default:robot"], True),
    ("clusterrolebinding", [], ["create", "clusterrolebinding", "crb", "--clusterrole=view", "--user=bob"], True),
    ("ingress", [], ["create", "ingress", "ing", "--class=nginx", "--rule=foo.com/bar*=svc1:8080,tls=sec",
                     "--rule=/path=svc2:http", "--annotation=a=b"], True),
    ("pdb", [], ["create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=50%"], True),
    ("pdb-int", [], ["create", "poddisruptionbudget", "pdb2", "--selector=app=web", "--max-unavailable=1"], True),
    ("token", [["create", "serviceaccount", "tok"]],
     ["create", "token", "tok", "--duration=10m", "--audience=api", "--audience=vault"], False),
    ("can-i", [], ["auth", "can-i", "list", "pods", "--namespace=kube-system"], False),
    ("can-i-subresource", [], ["auth", "can-i", "get", "pods/web", "--subresource=log"], False),
    ("whoami", [], ["auth", "whoami"], False),
    ("autoscale", [["create", "deployment", "hpa", "--image=nginx"]],
     ["autoscale", "deployment", "hpa", "--min=1", "--max=3", "--cpu-percent=80"], True),
    ("job-from-cronjob", [["create", "cronjob", "src", "--image=busybox", "--schedule=0 * * * *"]],
     ["create", "job", "manual", "--from=cronjob/src"], True),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy(http.server.BaseHTTPRequestHandler):
    upstream = ""
    captured = []
    ctx = ssl._create_unverified_context()

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if "protobuf" in (self.headers.get("Content-Type") or ""):
            Proxy.captured.append((self.command, self.path, body))
            out = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": "captured", "reason": "BadRequest", "code": 400}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        req = urllib.request.Request(self.upstream + self.path, data=body or None, method=self.command)
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "accept-encoding", "connection"):
                req.add_header(k, v)
        # Ask for JSON only: the recorded bodies are the point, not protobuf responses.
        req.add_header("Accept", "application/json")
        req.add_header("Authorization", "Bearer " + TOKEN)
        try:
            resp = urllib.request.urlopen(req, context=self.ctx)
            status, headers, out = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, headers, out = e.code, e.headers, e.read()
        self.send_response(status)
        self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, *args):
        pass


def main(apiserver, kubectl, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp()
    tokens = os.path.join(tmp, "tokens.csv")
    with open(tokens, "w") as f:
        f.write('%s,admin,admin-uid,"system:masters"\n' % TOKEN)
    bin_path, text_path = os.path.join(tmp, "bin"), os.path.join(tmp, "text")
    open(bin_path, "wb").write(bytes([0, 1, 2, 0xFF, 0xFE]))
    open(text_path, "w").write("line1\nline2\n")
    api_port = free_port()
    server = subprocess.Popen([apiserver, "--listen", "127.0.0.1:%d" % api_port, "--token-auth-file", tokens],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        Proxy.upstream = "https://127.0.0.1:%d" % api_port
        for _ in range(100):
            try:
                urllib.request.urlopen(Proxy.upstream + "/readyz", context=Proxy.ctx)
                break
            except Exception:
                time.sleep(0.1)
        proxy_port = free_port()
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", proxy_port), Proxy)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = [kubectl, "--server=http://127.0.0.1:%d" % proxy_port, "--namespace=default"]
        for name, setup, cmd, dry in SCENARIOS:
            cmd = [c.format(bin=bin_path, text=text_path) for c in cmd]
            for s in setup:
                # Setup objects go in as JSON (`create -f`), so the proxy forwards them.
                if isinstance(s, dict):
                    made = subprocess.CompletedProcess([], 0, json.dumps(s).encode(), b"")
                else:
                    made = subprocess.run(base + s + ["--dry-run=client", "-o", "json"], capture_output=True)
                done = subprocess.run(base + ["create", "--validate=false", "-f", "-"], input=made.stdout, capture_output=True)
                if done.returncode != 0:
                    sys.exit("%s: setup %s failed: %s %s" % (name, s, made.stderr, done.stderr))
            Proxy.captured.clear()
            run = subprocess.run(base + cmd, capture_output=True, text=True)
            if not Proxy.captured:
                print("%-22s sends no protobuf body: %s" % (name, run.stderr.strip()[:200]))
                continue
            # autoscale retries autoscaling/v1 after its v2 create fails: the first is the fixture.
            for later in Proxy.captured[1:]:
                print("%-22s (then %s %s)" % (name, later[0], later[1]))
            method, path, body = Proxy.captured[0]
            open(os.path.join(out_dir, name + ".pb"), "wb").write(body)
            print("%-22s %s %s (%d bytes)" % (name, method, path, len(body)))
            if dry:
                # Flags go before a `--` that starts the container command.
                at = cmd.index("--") if "--" in cmd else len(cmd)
                dry_cmd = cmd[:at] + ["--dry-run=client", "-o", "json"] + cmd[at:]
                r = subprocess.run(base + dry_cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit("%s: dry run failed: %s" % (name, r.stderr))
                open(os.path.join(out_dir, name + ".json"), "w").write(r.stdout)
        httpd.shutdown()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
