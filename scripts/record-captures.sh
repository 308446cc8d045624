#!/usr/bin/env bash
# Records real Claude Code screens for the detector's fixtures (tests/fixtures/screens/).
#
#   scripts/record-captures.sh VERSION RENDERER SIZE WALK [NAME] OUTDIR
#     VERSION   a version of cc-versions (installed by scripts/install-claude-code.sh)
#     RENDERER  fullscreen | classic (classic is forced with CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN=1)
#     SIZE      80x24 | 120x40
#     WALK      main    idle, working, Bash/Write permission, questions, answer frames, retry, /compact, exit
#               plan    plan mode idle + plan approval
#               trust   trust dialog (untrusted folder)
#               apikey  custom API key dialog (key not yet approved)
#               named   idle, Bash permission, question, review, plan approval on a session named NAME
#               hookask a question answered by a PermissionRequest hook after 3 s (frames around it), NAME optional
#     OUTDIR    where [$CAPTURE_PREFIX]<scenario>-<SIZE>.txt files are written (plain `capture-pane -p`)
#
# Hermetic: temp HOME and CLAUDE_CONFIG_DIR seeded like tests/common/mod.rs `seed_config`, a private tmux
# socket, the fake Messages API (`aegis fake-api`, built by `cargo build`) on a loopback ephemeral port,
# `--permission-mode default`. No hooks are configured: the screens are what a hook-less session shows.
# Paths are rewritten to /srv/example/work/<walk>-<SIZE> so captures do not depend on the temp dir.
# One CC process per run; run at most two at a time on a shared machine.
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,14p "$0"; exit 2; }
version=$1 renderer=$2 size=$3 walk=$4
if [ "$walk" = named ] || { [ "$walk" = hookask ] && [ $# -ge 6 ]; }; then name=$5 out=$6; else name="" out=$5; fi
here="$(cd "$(dirname "$0")/.." && pwd)"
claude="${AEGIS_CC_CACHE:-$HOME/.cache/aegis/claude-code}/$version/node_modules/.bin/claude"
[ -x "$claude" ] || { echo "no CC $version at $claude (scripts/install-claude-code.sh $version)" >&2; exit 1; }
cols=${size%x*} rows=${size#*x}
key="sk-ant-test-key-000000000000"
NB=$'\u00a0'
# File names get this prefix (e.g. CAPTURE_PREFIX=named-impl- for a named walk).
prefix=${CAPTURE_PREFIX:-}

tmp=$(mktemp -d)
sock="aegis-rec-$$"
fake_pid="" hook_pid=""
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
  [ -n "$hook_pid" ] && kill "$hook_pid" 2>/dev/null || true
  sleep 1  # CC may still write its config while it exits
  rm -rf "$tmp" 2>/dev/null || true
  rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
}
trap cleanup EXIT
mkdir -p "$tmp/home" "$tmp/cfg" "$tmp/work" "$out"
work=$(cd "$tmp/work" && pwd -P)
pretty="/srv/example/work/$walk-$size"

# Config seeded like tests/common/mod.rs: onboarding done, key approved, work dir trusted.
approved="[\"${key: -20}\"]"; trusted=true
[ "$walk" = apikey ] && approved="[]"
[ "$walk" = trust ] && trusted=false
printf '{"hasCompletedOnboarding":true,"customApiKeyResponses":{"approved":%s,"rejected":[]},"projects":{"%s":{"hasTrustDialogAccepted":%s,"allowedTools":[]}}}' \
  "$approved" "$work" "$trusted" >"$tmp/cfg/.claude.json"

"$here/target/debug/aegis" fake-api >"$tmp/fake.out" 2>"$tmp/fake.err" &
fake_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$tmp/fake.out" 2>/dev/null && break; sleep 0.1; done
addr=$(awk '/^listening /{print $2}' "$tmp/fake.out")
[ -n "$addr" ] || { echo "fake-api did not start" >&2; exit 1; }

if [ "$walk" = hookask ]; then
  # A loopback HTTP hook: PermissionRequest for AskUserQuestion is held 3 s, then allowed with the first
  # option of every question as the answer (what Aegis does when a client answers through the hook).
  cat >"$tmp/hook.py" <<'PY'
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        out = {}
        if body.get("hook_event_name") == "PermissionRequest" and body.get("tool_name") == "AskUserQuestion":
            time.sleep(3)
            inp = dict(body.get("tool_input") or {})
            inp["answers"] = {q["question"]: q["options"][0]["label"] for q in inp.get("questions", [])}
            out = {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                          "decision": {"behavior": "allow", "updatedInput": inp}}}
            print("answered", flush=True)
        data = json.dumps(out).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data))); self.end_headers(); self.wfile.write(data)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening", s.server_address[1], flush=True)
s.serve_forever()
PY
  python3 "$tmp/hook.py" >"$tmp/hook.out" 2>&1 &
  hook_pid=$!
  for _ in $(seq 50); do grep -q '^listening ' "$tmp/hook.out" 2>/dev/null && break; sleep 0.1; done
  hook_url="http://127.0.0.1:$(awk '/^listening /{print $2}' "$tmp/hook.out")/hook"
fi

args=(--permission-mode default)
[ -n "$hook_pid" ] && args+=(--settings "{\"hooks\":{\"PermissionRequest\":[{\"hooks\":[{\"type\":\"http\",\"url\":\"$hook_url\",\"timeout\":60}]}]}}")
[ "$walk" = plan ] && args=(--permission-mode plan)
[ -n "$name" ] && args+=("--name=$name")
envs=(HOME="$tmp/home" PATH="$PATH" LANG=C.UTF-8 TERM=xterm-256color CLAUDE_CONFIG_DIR="$tmp/cfg"
  ANTHROPIC_BASE_URL="http://$addr" ANTHROPIC_API_KEY="$key" DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=2)
[ "$renderer" = classic ] && envs+=(CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN=1)
env -i "${envs[@]}" tmux -L "$sock" -f /dev/null new-session -d -s rec -x "$cols" -y "$rows" -c "$work" \
  -- "$claude" "${args[@]}"
tmux -L "$sock" set-option -t rec remain-on-exit on >/dev/null

screen() { tmux -L "$sock" capture-pane -p -t rec; }
# cap SCENARIO: writes OUTDIR/SCENARIO-SIZE.txt with the temp paths rewritten.
cap() { screen | sed -e "s#$work#$pretty#g" -e "s#$tmp#/srv/example#g" >"$out/$prefix$1-$size.txt"; echo "  $prefix$1-$size" >&2; }
# wait_for TEXT [SECONDS]: polls until the screen contains TEXT (fixed string).
wait_for() {
  local t=$((${2:-60} * 4))
  for _ in $(seq "$t"); do screen | grep -qF -- "$1" && return 0; sleep 0.25; done
  echo "timeout waiting for '$1' ($version $renderer $size $walk)" >&2; screen >&2; return 1
}
# wait_idle: a live input line and no activity / dialog.
wait_idle() {
  for _ in $(seq 240); do
    s=$(screen)
    if grep -q "^❯$NB" <<<"$s" && ! grep -qE 'esc to interrupt|Do you want|Enter to select|^[·✢✶✻✽*] .*…' <<<"$s"; then
      sleep 0.5; return 0
    fi
    sleep 0.25
  done
  echo "timeout waiting for idle ($version $renderer $size $walk)" >&2; screen >&2; return 1
}
type_line() { tmux -L "$sock" send-keys -t rec -l -- "$1"; sleep 0.3; tmux -L "$sock" send-keys -t rec Enter; }
keys() { tmux -L "$sock" send-keys -t rec "$@"; }
# frames SCENARIO N: N captures as fast as tmux answers (~20-40 ms apart), the distinct ones kept in
# OUTDIR/frames/ (transitional frames, e.g. right after a question is answered; pick fixtures by hand).
frames() {
  local prev="" i
  mkdir -p "$out/frames"
  for i in $(seq "$2"); do
    s=$(screen)
    if [ "$s" != "$prev" ]; then
      printf '%s\n' "$s" | sed -e "s#$work#$pretty#g" -e "s#$tmp#/srv/example#g" >"$out/frames/$prefix$1-f$(printf %03d "$i")-$size.txt"
      prev=$s
    fi
  done
}
to_plan_mode() {
  for _ in 1 2 3 4 5; do screen | grep -qF "plan mode on" && return 0; keys BTab; sleep 1; done
  screen | grep -qF "plan mode on"
}

case "$walk" in
main)
  wait_for "$NB" 90; wait_idle; cap idle-fresh
  type_line "STREAM_SLOW"; wait_for "esc to interrupt" 60; sleep 1; cap working-streaming; wait_idle
  type_line "please BASH(echo hello-from-bash > out.txt)"; wait_for "Do you want to proceed?" 60; sleep 0.5
  cap perm-bash; keys Enter; wait_idle
  type_line "please WRITE(written.txt:line one)"; wait_for "Do you want to create" 60; sleep 0.5
  cap perm-write; keys Enter; wait_idle  # Esc would merge the next prompt into the rejection
  type_line "please ASK_ONE"; wait_for "Enter to select" 60; sleep 0.5; cap ask-single
  keys Enter; frames ask-single-answered 60; wait_idle
  type_line "please ASK_MULTI"; wait_for "Enter to select" 60; sleep 0.5; cap ask-multi
  # Esc declines; CC sends the next prompt with the refusal, so spend one throwaway turn on it.
  keys Escape; sleep 1; type_line "SAY(ok)"; wait_idle
  type_line "please ASK_TWO"; wait_for "Enter to select" 60; sleep 0.5; cap ask-two
  keys Enter; sleep 1.5; keys Down Down; sleep 0.5; keys Enter; wait_for "Submit answers" 30; sleep 0.5
  cap ask-two-review; keys Enter; frames ask-two-submitted 60; wait_idle
  # /compact before the error: after a final error CC retries the compaction with the failed prompt.
  type_line "/compact"; wait_for "ompact" 30; sleep 0.3; cap slash-compact-running; wait_idle
  type_line "ERROR(500)"; wait_for "etrying in" 60; cap error-500-retrying
  wait_for "API Error" 90; wait_idle; cap error-500-final-final
  keys C-c; sleep 0.7; cap idle-ctrlc-once; keys C-c; sleep 3; cap exit-after-ctrlc-twice
  ;;
plan)
  wait_for "$NB" 90; wait_idle; cap plan-mode-idle
  type_line "please PLAN"; wait_for "Claude has written up a plan" 90; sleep 0.5; cap plan-approval
  ;;
trust)
  wait_for "trust" 90; sleep 1; cap startup-trust
  ;;
apikey)
  wait_for "API key" 90; sleep 1; cap startup-apikey; keys Up; sleep 0.7; cap startup-apikey-yes-highlighted
  ;;
named)
  wait_for "$NB" 90; wait_idle; cap idle-fresh
  type_line "please BASH(echo hello-from-bash > out.txt)"; wait_for "Do you want to proceed?" 60; sleep 0.5
  cap perm-bash; keys Enter; wait_idle
  type_line "please ASK_ONE"; wait_for "Enter to select" 60; sleep 0.5; cap ask-single
  keys Enter; frames ask-single-answered 60; wait_idle
  type_line "please ASK_TWO"; wait_for "Enter to select" 60; sleep 0.5
  keys Enter; sleep 1.5; keys Enter; wait_for "Submit answers" 30; sleep 0.5; cap ask-two-review
  keys Enter; wait_idle
  to_plan_mode; sleep 0.5; cap plan-mode-idle
  type_line "please PLAN"; wait_for "Claude has written up a plan" 90; sleep 0.5; cap plan-approval
  ;;
hookask)
  wait_for "$NB" 90; wait_idle
  type_line "please ASK_ONE"; wait_for "Enter to select" 60; cap hookask-dialog-shown
  sleep 2; frames hookask-hook-resolved 400; wait_idle; cap hookask-after
  ;;
*) echo "unknown walk $walk" >&2; exit 2 ;;
esac
