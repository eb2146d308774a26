#!/usr/bin/env bash
# usage: test/conformance.sh [MODE...]        MODE: embedded | upstream (default: both)
#
# Runs the upstream v1.28.0 conformance suite (../shared/upstream-k8s/run-conformance.sh) against
# the tenant of a `vcctl up` instance, one instance per MODE:
#   embedded  tenant control plane = the embedded API server
#   upstream  tenant control plane = upstream etcd + kube-apiserver + kube-controller-manager
#             (`vcctl up --control-plane-binaries`, the binaries install.sh unpacks)
# for each sig in $SIGS (default "api-machinery apps cli": the specs matching
# '\[sig-<sig>\].*\[Conformance\]'), then writes docs/conformance.md from every result present
# under $OUT: passed/ran per sig beside the reference (upstream control plane without nodes),
# and each failing spec with the first line of its failure, grouped by cause.
#
# Env: SIGS, OUT (default target/conformance), TIMEOUT and PROCS (passed to run-conformance.sh),
#      VC_TEST_UPSTREAM_K8S (default ../shared/upstream-k8s beside the repository),
#      VCCTL (a vcctl binary to use instead of building target/release/vcctl),
#      REPORT_ONLY=1 (only rewrite docs/conformance.md from existing results).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UP=${VC_TEST_UPSTREAM_K8S:-$ROOT/../shared/upstream-k8s}
SIGS=${SIGS:-"api-machinery apps cli"}
OUT=${OUT:-$ROOT/target/conformance}
MODES=("$@"); [ ${#MODES[@]} -gt 0 ] || MODES=(embedded upstream)
DOC=$ROOT/docs/conformance.md

if [ "${REPORT_ONLY:-0}" != 1 ]; then
  [ -x "$UP/run-conformance.sh" ] || { echo "no $UP/run-conformance.sh: set VC_TEST_UPSTREAM_K8S" >&2; exit 2; }
  BIN=$("$UP/install.sh")/bin
  if [ -z "${VCCTL:-}" ]; then
    (cd "$ROOT" && cargo build --release -p vcctl)
    VCCTL=$ROOT/target/release/vcctl
  fi
  for mode in "${MODES[@]}"; do
    case $mode in
      embedded) extra=() ;;
      upstream) extra=(--control-plane-binaries "$BIN") ;;
      *) echo "unknown mode $mode (embedded|upstream)" >&2; exit 2 ;;
    esac
    dir=$OUT/$mode; mkdir -p "$dir"; rm -rf "$dir/vc"
    echo "== $mode: vcctl up (logs in $dir/vc/vcctl.log)"
    "$VCCTL" up --dir "$dir/vc" --port 0 --tenants conformance --timeout 300 "${extra[@]}" \
      > "$dir/vcctl-up.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
      grep -q '"ready": true' "$dir/vc/state.json" 2>/dev/null && break
      kill -0 $pid 2>/dev/null || { echo "vcctl up exited:" >&2; cat "$dir/vcctl-up.out" >&2; exit 1; }
      sleep 1
    done
    grep -q '"ready": true' "$dir/vc/state.json" || { echo "vcctl up not ready" >&2; kill -INT $pid; exit 1; }
    "$VCCTL" status --dir "$dir/vc" > "$dir/status.txt" 2>&1 || true
    for sig in $SIGS; do
      echo "== $mode: sig-$sig"
      "$UP/run-conformance.sh" "$dir/vc/conformance.kubeconfig" "\\[sig-$sig\\].*\\[Conformance\\]" \
        "$dir/$sig.txt" || true
    done
    kill -INT $pid; wait $pid || true
  done
fi

# The page lists every sig, with the results present (a run of some sigs keeps the others').
python3 - "$OUT" "$DOC" "api-machinery apps cli" <<'PY'
import json, os, re, sys, collections
out, doc, sigs = sys.argv[1], sys.argv[2], sys.argv[3].split()
REFERENCE = {"api-machinery": (47, 70), "apps": (8, 40), "cli": (8, 17)}
MODES = [("embedded", "tenant: embedded API server"),
         ("upstream", "tenant: upstream v1.28 binaries")]

# A failure's cause, from its message (never from the spec's name).
CAUSES = [
    (r'unknown format.*protobuf|UnsupportedMediaType',
     "the API server refuses a protobuf request body (415)"),
    (r"webhook|sample-webhook|e2e-test-webhook",
     "an admission webhook pod must really serve (the simulated runtime does not run agnhost's webhook server)"),
    (r"aggregat|sample-apiserver|wardle|APIService",
     "an aggregated API server pod must really serve (simulated runtime)"),
    (r"crd-conversion|conversion webhook",
     "a CRD conversion webhook pod must really serve (simulated runtime)"),
    (r"Failed to find|expected.*(output|log|stdout)|to (contain|equal) substring|failed to match regexp|file content",
     "container output must come from the real program (agnhost/busybox), which the simulated runtime does not execute"),
    (r"serving content|curl|wget|connection refused|dial tcp|no route to host|i/o timeout|unable to reach|denied destination",
     "network traffic to pods or services (simulated nodes have no pod network)"),
    (r"Verified \d+ of \d+ pods|pods to reach|running and ready|to be running|pod.* not (running|ready)",
     "pods never reached the state the spec waits for"),
    (r"timed out|timeout|Timed out|context deadline exceeded|waiting for",
     "waited for a state that never came"),
]

def cause(msg):
    for pat, text in CAUSES:
        if re.search(pat, msg, re.I):
            return text
    return "other (see the reason)"

def load(mode, sig):
    path = os.path.join(out, mode, sig + ".txt")
    if not os.path.exists(path):
        return None
    res = {}
    for line in open(path):
        st, _, name = line.rstrip("\n").partition("\t")
        res[name] = st
    reasons = {}
    rep = os.path.join(out, mode, sig + ".txt.d", "report.json")
    try:
        for s in json.load(open(rep)):
            for r in s.get("SpecReports") or []:
                if r.get("LeafNodeType") != "It":
                    continue
                name = " ".join(t for t in (r.get("ContainerHierarchyTexts") or []) + [r.get("LeafNodeText", "")] if t)
                f = r.get("Failure") or {}
                msg = (f.get("Message") or "").strip()
                reasons[name] = re.sub(r"\s+", " ", msg)
    except Exception:
        pass
    return res, reasons

rows, failures = [], collections.OrderedDict()
for sig in sigs:
    cells = []
    for mode, _ in MODES:
        got = load(mode, sig)
        if got is None:
            cells.append("not run")
            continue
        res, reasons = got
        passed = sum(1 for v in res.values() if v == "PASS")
        cells.append("%d/%d" % (passed, len(res)))
        for name, st in sorted(res.items()):
            if st != "PASS":
                why = reasons.get(name) or "no failure message in the report"
                failures.setdefault((mode, cause(why)), []).append((sig, name, why[:300]))
    ref = REFERENCE.get(sig)
    rows.append("| sig-%s | %s | %s |" % (sig, "%d/%d" % ref if ref else "-", " | ".join(cells)))

lines = [
    "# Conformance of a tenant",
    "",
    "Measured with `test/conformance.sh`: the upstream v1.28.0 conformance suite",
    "(`../shared/upstream-k8s/run-conformance.sh`: `e2e.test` under ginkgo, `[Serial]`/`[Disruptive]`",
    "skipped, 2 parallel processes, `--provider=skeleton`) against the tenant of a `vcctl up`",
    "instance (embedded super cluster, simulated nodes, syncer, vn-agent). The reference is the",
    "same suite against an upstream v1.28.0 control plane without any nodes.",
    "",
    "| focus | reference: upstream, no nodes | " + " | ".join(t for _, t in MODES) + " |",
    "| --- | --- | " + " | ".join("---" for _ in MODES) + " |",
] + rows + [
    "",
    "Counts are passed/ran. Regenerate with `test/conformance.sh` (all), `test/conformance.sh embedded`,",
    "`SIGS=cli test/conformance.sh upstream`, or `REPORT_ONLY=1 test/conformance.sh` (this page only).",
    "",
    "## Failing specs by cause",
    "",
    "The cause is read from each failure's message; the reason is its first 300 characters.",
]
order = [m for m, _ in MODES]
causes = [t for _, t in CAUSES] + ["other (see the reason)"]
for (mode, why), specs in sorted(failures.items(), key=lambda kv: (order.index(kv[0][0]), causes.index(kv[0][1]))):
    lines += ["", "### %s — %s (%d)" % (dict(MODES)[mode], why, len(specs)), ""]
    for sig, name, msg in specs:
        lines.append("- %s  \n  %s" % (name.replace("|", "\\|"), msg.replace("|", "\\|")))
open(doc, "w").write("\n".join(lines) + "\n")
print("wrote", doc)
PY
