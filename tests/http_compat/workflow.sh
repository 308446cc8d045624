#!/usr/bin/env bash
# The original tool's documented curl + jq workflow, run as its users run it (tests/http_compat.rs
# starts `aegis serve --http` against the real CC and the scripted model). Inputs: AEGIS_HTTP (host:port),
# WORK (a trusted work dir), NAME (a session name), OUT (a scratch dir). Exits non-zero naming the step.
set -euo pipefail
# (No `| head` or `| grep -q` after a producer: with pipefail its SIGPIPE would fail the step.)
B="http://$AEGIS_HTTP"
J=(-H "Content-Type: application/json")
fail() { echo "FAIL: $*" >&2; exit 1; }
# poll SID STATUS: until /read says STATUS (60 s at most).
poll() {
  local s=""
  for _ in $(seq 1 300); do
    s=$(curl -s "$B/v1/sessions/$1/read" | jq -r '.status')
    [ "$s" = "$2" ] && return 0
    sleep 0.2
  done
  fail "session $1 is $s, not $2: $(curl -s "$B/v1/sessions/$1" | jq -c '{status, state, statusText}')"
}
check() { # check WHAT JQ-FILTER < json
  jq -e "$2" >/dev/null || fail "$1"
}

# --- health, and errors as JSON with the gRPC reasons
curl -s "$B/v1/health" | check health '.status == "ok" and (.sessions.active | type) == "number"'
code=$(curl -s -o "$OUT/err.json" -w '%{http_code}' -X POST "$B/v1/sessions" "${J[@]}" -d '{"name":"no dir"}')
[ "$code" = 400 ] || fail "missing workDir gave HTTP $code"
check "missing workDir" '.reason == "WORK_DIR_REQUIRED" and .code == "INVALID_ARGUMENT" and (has("id") | not)' < "$OUT/err.json"
code=$(curl -s -o "$OUT/err.json" -w '%{http_code}' -X POST "$B/v1/sessions" "${J[@]}" -d '{"workDir": ')
[ "$code" = 400 ] || fail "malformed JSON gave HTTP $code"
check "malformed JSON" '.reason == "INVALID_JSON"' < "$OUT/err.json"
code=$(curl -s -o "$OUT/err.json" -w '%{http_code}' "$B/v1/sessions/no-such-session/read")
[ "$code" = 404 ] || fail "unknown session gave HTTP $code"
check "unknown session" '.reason == "SESSION_NOT_FOUND" and .metadata.session_id == "no-such-session"' < "$OUT/err.json"

# --- create → send → poll → read (the documented workflow)
BODY=$(jq -n --arg w "$WORK" --arg n "$NAME" '{workDir: $w, name: $n, permissionMode: "default"}')
SID=$(curl -s -X POST "$B/v1/sessions" "${J[@]}" -d "$BODY" | jq -r '.id')
[ -n "$SID" ] && [ "$SID" != null ] || fail "create returned no id"
curl -s "$B/v1/sessions/$SID" | jq -e --arg n "$NAME" '.name == $n and .promptDelivery == null' >/dev/null || fail "get"
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"SAY(hello from curl)"}' \
  | check "send delivered" '.ok and .delivered and .attempts == 1'
poll "$SID" idle
curl -s "$B/v1/sessions/$SID/read" | check "read messages" '
  .status == "idle" and (.statusText | length) > 0 and .pendingQuestion == null and .pendingPermission == null
  and any(.messages[]; .role == "user" and .contentType == "text" and (.text | contains("SAY(hello from curl)")))
  and any(.messages[]; .role == "assistant" and .contentType == "text" and .text == "hello from curl"
          and (.timestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")))'

# --- caller text is data: shell syntax and tmux key names reach the model as typed
TEXT='SAY(data $(touch pwned.txt) `touch pwned2.txt` ; C-c Enter "q" \n)'
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d "$(jq -n --arg t "$TEXT" '{text: $t}')" >/dev/null
poll "$SID" idle
curl -s "$B/v1/sessions/$SID/read" | jq -e --arg t "${TEXT:4:${#TEXT}-5}" \
  'any(.messages[]; .role == "assistant" and .text == $t)' >/dev/null || fail "the text was not passed as data"
[ ! -e "$WORK/pwned.txt" ] && [ ! -e "$WORK/pwned2.txt" ] || fail "caller text ran as a command"

# --- a Bash permission, rejected with /reject, then one approved with /approve
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"BASH(touch rejected.txt)"}' >/dev/null
poll "$SID" bash_approval
curl -s -X POST "$B/v1/sessions/$SID/reject" "${J[@]}" -d '{"feedback":"not that one"}' | check reject '.ok'
poll "$SID" idle
[ ! -e "$WORK/rejected.txt" ] || fail "the rejected command ran"
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"BASH(touch tool-x.txt && echo tool-x)"}' >/dev/null
poll "$SID" bash_approval
curl -s "$B/v1/sessions/$SID/read" | check "pendingPermission" '
  .pendingPermission.tool == "Bash" and .pendingPermission.command == "touch tool-x.txt && echo tool-x"
  and (.pendingPermission.interactionId | length) > 0 and .state == "BASH_APPROVAL"'
[ ! -e "$WORK/tool-x.txt" ] || fail "the command ran before it was approved"
curl -s -X POST "$B/v1/sessions/$SID/approve" | check approve '.ok and (.answered | length) > 0'
poll "$SID" idle
[ -f "$WORK/tool-x.txt" ] || fail "the approved command did not run"
curl -s "$B/v1/sessions/$SID/read" | check "tool messages" '
  any(.messages[]; .contentType == "tool_use" and .toolName == "Bash")
  and any(.messages[]; .contentType == "tool_result" and (.text | contains("tool-x")))'
# --- a file permission names the file
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"WRITE(notes.txt:alpha)"}' >/dev/null
poll "$SID" permission_prompt
curl -s "$B/v1/sessions/$SID/read" | jq -e --arg f "$WORK/notes.txt" \
  '.pendingPermission.tool == "Write" and .pendingPermission.filePath == $f and .state == "PERMISSION_PROMPT"' \
  >/dev/null || fail "pendingPermission of a Write: $(curl -s "$B/v1/sessions/$SID" | jq -c .pendingPermission)"
curl -s -X POST "$B/v1/sessions/$SID/approve" | check "approve Write" '.ok'
poll "$SID" idle
[ "$(cat "$WORK/notes.txt")" = alpha ] || fail "the approved Write did not write"
code=$(curl -s -o "$OUT/err.json" -w '%{http_code}' -X POST "$B/v1/sessions/$SID/approve")
[ "$code" = 400 ] || fail "approve with nothing pending gave HTTP $code"
check "nothing pending" '.reason == "INTERACTION_NOT_PENDING"' < "$OUT/err.json"

# --- a question, answered with /send
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"ASK_ONE"}' >/dev/null
poll "$SID" ask_question
curl -s "$B/v1/sessions/$SID/read" > "$OUT/q.json"
check "pendingQuestion" '.pendingQuestion.content == "Which recovery strategy?"
  and .pendingQuestion.options == ["Clean up", "Auto-restart"]
  and (.pendingQuestion.toolUseId | startswith("toolu_")) and (.pendingQuestion.since | type) == "number"' < "$OUT/q.json"
TOOL_USE=$(jq -r '.pendingQuestion.toolUseId' < "$OUT/q.json")
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"Auto-restart"}' \
  | jq -e --arg t "$TOOL_USE" '.answered == $t' >/dev/null || fail "send did not answer the question"
poll "$SID" idle
curl -s "$B/v1/sessions/$SID/read" | check "answer in the transcript" \
  'any(.messages[]; .contentType == "tool_result" and (.text | contains("Auto-restart")))'

# --- list, filtered by status and workDir
curl -s -G "$B/v1/sessions" --data-urlencode status=idle --data-urlencode "workDir=$WORK" \
  | jq -e --arg s "$SID" '(.sessions | map(.id) | index($s)) != null and all(.sessions[]; .status == "idle")' >/dev/null \
  || fail "list by status and workDir"
curl -s -G "$B/v1/sessions" --data-urlencode status=ask_question | check "list other status" '.sessions == []'

# --- SSE: live (a snapshot, then the events), then resumed with Last-Event-ID
curl -s -N --max-time 20 "$B/v1/sessions/$SID/events" > "$OUT/live.sse" &
SSE=$!
sleep 1
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"SAY(streamed)"}' >/dev/null
poll "$SID" idle
sleep 1
kill "$SSE" 2>/dev/null || true
wait "$SSE" 2>/dev/null || true
[ "$(grep -m1 '^event:' "$OUT/live.sse")" = "event: snapshot" ] || fail "no snapshot first: $(head -5 "$OUT/live.sse")"
grep -qx 'event: message_sent' "$OUT/live.sse" || fail "no message_sent event live"
mapfile -t IDS < <(sed -n 's/^id: //p' "$OUT/live.sse")
for i in $(seq 1 $((${#IDS[@]} - 1))); do
  [ "${IDS[$i]}" = $((IDS[i - 1] + 1)) ] || fail "live ids not contiguous: ${IDS[*]}"
done
LAST=${IDS[-1]}
curl -s -N --max-time 2 -H "Last-Event-ID: $((LAST - 3))" "$B/v1/sessions/$SID/events" > "$OUT/resume.sse" || true
mapfile -t RIDS < <(sed -n 's/^id: //p' "$OUT/resume.sse")
[ "${RIDS[*]}" = "$((LAST - 2)) $((LAST - 1)) $LAST" ] || fail "resume after $((LAST - 3)) gave ids ${RIDS[*]}"
grep -q 'event: snapshot' "$OUT/resume.sse" && fail "a resumed stream has no snapshot"
curl -s -N --max-time 2 -H "Last-Event-ID: 0" "$B/v1/events" > "$OUT/all.sse" || true
mapfile -t GIDS < <(sed -n 's/^id: //p' "$OUT/all.sse")
[ "${GIDS[0]}" = 1 ] || fail "global stream from Last-Event-ID 0 starts at ${GIDS[0]:-nothing}"
curl -s -N --max-time 2 -H "Last-Event-ID: ${GIDS[-1]}" "$B/v1/events" > "$OUT/all2.sse" || true
grep -q '^id: ' "$OUT/all2.sse" && fail "global resume at the head replayed events"
grep -m1 '^data: ' "$OUT/all.sse" | sed 's/^data: //' | check "global event data" '.sessionId and .sequence == 1 and .kind == "created"'

# --- interrupt a working turn, escape, pane
curl -s -X POST "$B/v1/sessions/$SID/send" "${J[@]}" -d '{"text":"STREAM_SLOW"}' >/dev/null
poll "$SID" working
curl -s -X POST "$B/v1/sessions/$SID/interrupt" | check interrupt '.ok'
poll "$SID" idle
curl -s -X POST "$B/v1/sessions/$SID/escape" | check escape '.ok and .status != "exited"'
curl -s "$B/v1/sessions/$SID/pane" | check pane '(.pane | contains("STREAM_SLOW")) and .cols > 0 and .rows > 0'

# --- waitForStable returns a question inline; /answer answers it
BODY=$(jq -n --arg w "$WORK" --arg n "$NAME (asks)" \
  '{workDir: $w, name: $n, permissionMode: "default", prompt: "ASK_ONE", waitForStable: true, timeoutMs: 60000}')
curl -s -X POST "$B/v1/sessions" "${J[@]}" -d "$BODY" > "$OUT/ws.json"
check "waitForStable inline question" '.status == "ask_question" and .waitResult.satisfied
  and .pendingQuestion.content == "Which recovery strategy?" and .promptDelivery == {delivered: true, attempts: 1}' < "$OUT/ws.json"
SID2=$(jq -r .id < "$OUT/ws.json")
curl -s -X POST "$B/v1/sessions/$SID2/answer" "${J[@]}" -d '{"answer":"Clean up"}' | check "/answer" '.ok'
poll "$SID2" idle

# --- idempotencyKey: the same create twice is one session; the key with other parameters is refused
BODY=$(jq -n --arg w "$WORK" --arg n "$NAME (once)" '{workDir: $w, name: $n, permissionMode: "default", idempotencyKey: "job-456-a"}')
A=$(curl -s -X POST "$B/v1/sessions" "${J[@]}" -d "$BODY" | jq -r .id)
B2=$(curl -s -X POST "$B/v1/sessions" "${J[@]}" -d "$BODY" | jq -r .id)
[ "$A" != null ] && [ "$A" = "$B2" ] || fail "idempotent create gave $A then $B2"
curl -s "$B/v1/sessions" | jq -e --arg n "$NAME (once)" '[.sessions[] | select(.name == $n)] | length == 1' >/dev/null \
  || fail "a duplicate session exists"
OTHER=$(jq -c '.name = "other name"' <<<"$BODY")
code=$(curl -s -o "$OUT/err.json" -w '%{http_code}' -X POST "$B/v1/sessions" "${J[@]}" -d "$OTHER")
[ "$code" = 400 ] || fail "a reused key gave HTTP $code"
check "key reused" '.reason == "IDEMPOTENCY_KEY_REUSED"' < "$OUT/err.json"

# --- cleanup
for s in "$SID" "$SID2" "$A"; do
  curl -s -X DELETE "$B/v1/sessions/$s" | check "delete $s" '.ok and .status == "exited"'
done
curl -s "$B/v1/sessions/$SID" | check "deleted" '.status == "exited" and .exit.reason != null'
echo "workflow ok"
