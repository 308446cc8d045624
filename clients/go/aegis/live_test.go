package aegis

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	v1 "github.com/aegis-dev/aegis/clients/go/aegisv1"
)

const apiKey = "sk-ant-test-key-000000000000"

// stack is a real `aegis fake-api` + `aegis serve` (with real Claude Code) on private dirs and tmux socket.
type stack struct {
	t                                 *testing.T
	aegisBin, claudeBin               string
	dir, stateDir, home, config, work string
	socket, fakeAddr, addr, token     string
	fake, server                      *exec.Cmd
	serverArgs                        []string
	starts                            int
}

func readListening(cmd *exec.Cmd, what string) (string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	ch := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "listening ") {
				ch <- strings.TrimSpace(strings.TrimPrefix(l, "listening "))
			}
		}
		close(ch)
	}()
	select {
	case a, ok := <-ch:
		if !ok {
			return "", fmt.Errorf("%s exited before listening", what)
		}
		return a, nil
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("%s: no listening line in 60s", what)
	}
}

func newStack(t *testing.T, serverArgs ...string) *stack {
	aegisBin, claudeBin := os.Getenv("AEGIS_BIN"), os.Getenv("CLAUDE_BIN")
	if aegisBin == "" || claudeBin == "" {
		t.Skip("live test: set AEGIS_BIN and CLAUDE_BIN")
	}
	// Not t.TempDir(): CC may still write into its config dir while it exits after the tmux kill.
	d, err := os.MkdirTemp("", "aegis-go-")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, aegisBin: aegisBin, claudeBin: claudeBin, dir: d,
		stateDir: filepath.Join(d, "state"), home: filepath.Join(d, "home"), config: filepath.Join(d, "claude-config"),
		work: filepath.Join(d, "work"), socket: fmt.Sprintf("aegis-go-%d", time.Now().UnixNano()),
		token: fmt.Sprintf("tok-%d", time.Now().UnixNano()), serverArgs: serverArgs}
	for _, p := range []string{s.stateDir, s.home, s.config, s.work} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(s.work, "README.md"), []byte("A scratch repo for Aegis client tests.\n"), 0o644)
	cfg, _ := json.Marshal(map[string]any{
		"hasCompletedOnboarding": true,
		"customApiKeyResponses":  map[string]any{"approved": []string{apiKey[len(apiKey)-20:]}, "rejected": []string{}},
		"projects":               map[string]any{s.work: map[string]any{"hasTrustDialogAccepted": true}},
	})
	os.WriteFile(filepath.Join(s.config, ".claude.json"), cfg, 0o644)
	t.Cleanup(s.close)
	fake := exec.Command(aegisBin, "fake-api", "--listen", "127.0.0.1:0")
	fake.Stderr = s.logFile("fake-api.log")
	addr, err := readListening(fake, "aegis fake-api")
	s.fake = fake
	if err != nil {
		t.Fatal(err)
	}
	s.fakeAddr = addr
	s.startServer("127.0.0.1:0")
	return s
}

func (s *stack) logFile(name string) *os.File {
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	return f
}

func (s *stack) startServer(listen string) {
	s.starts++
	var lastErr error
	for i := 0; i < 20; i++ {
		args := []string{"serve", "--listen", listen, "--state-dir", s.stateDir, "--tmux-socket", s.socket,
			"--claude-bin", s.claudeBin, "--claude-config-dir", s.config, "--token", s.token}
		cmd := exec.Command(s.aegisBin, append(args, s.serverArgs...)...)
		cmd.Env = append(os.Environ(), "HOME="+s.home, "CLAUDE_CONFIG_DIR="+s.config, "ANTHROPIC_BASE_URL=http://"+s.fakeAddr,
			"ANTHROPIC_API_KEY="+apiKey, "DISABLE_TELEMETRY=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "CLAUDE_CODE_MAX_RETRIES=1", "TMUX=", "AEGIS_TOKEN=")
		cmd.Stderr = s.logFile(fmt.Sprintf("serve-%d.log", s.starts))
		addr, err := readListening(cmd, "aegis serve")
		s.server = cmd
		if err == nil {
			s.addr = addr
			return
		}
		lastErr = err
		cmd.Wait()
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("aegis serve did not start: %v", lastErr)
}

// restartServer SIGKILLs the server and starts a new one on the same address, state dir and tmux socket.
func (s *stack) restartServer() {
	s.server.Process.Signal(syscall.SIGKILL)
	s.server.Wait()
	s.startServer(s.addr)
}

func (s *stack) close() {
	for _, c := range []*exec.Cmd{s.server, s.fake} {
		if c != nil && c.Process != nil && c.ProcessState == nil {
			c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				c.Process.Kill()
			}
		}
	}
	exec.Command("tmux", "-L", s.socket, "kill-server").Run()
	// tmux leaves the socket file of a server that was killed; remove ours.
	tmpdir := os.Getenv("TMUX_TMPDIR")
	if tmpdir == "" {
		tmpdir = "/tmp"
	}
	os.Remove(filepath.Join(tmpdir, fmt.Sprintf("tmux-%d", os.Getuid()), s.socket))
	if s.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			s.t.Logf("--- %s\n%s", filepath.Base(l), b)
		}
	}
	for i := 0; i < 20; i++ {
		if os.RemoveAll(s.dir) == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLiveCreateWaitAndTranscript(t *testing.T) {
	s := newStack(t)
	c, err := Connect(s.addr, s.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	sess, err := c.CreateAndWait(ctx, &v1.CreateSessionRequest{WorkDir: s.work, Prompt: "hello from go"}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSession(ctx, sess.GetId())
	if sess.GetState() != v1.SessionState_SESSION_STATE_IDLE || !sess.GetStable() {
		t.Fatalf("state %v stable %v", sess.GetState(), sess.GetStable())
	}
	anon, err := Connect(s.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.GetSession(ctx, sess.GetId()); Code(err) != codes.Unauthenticated {
		t.Fatalf("without the token: want UNAUTHENTICATED, got %v", err)
	}
	text, err := c.LastAssistantText(ctx, sess.GetId())
	if err != nil || !strings.Contains(text, "Fake reply") {
		t.Fatalf("last assistant text %q, %v", text, err)
	}
	_, err = c.GetSession(ctx, "00000000-0000-0000-0000-000000000000")
	if Code(err) != codes.NotFound || Reason(err) != "SESSION_NOT_FOUND" {
		t.Fatalf("want NOT_FOUND/SESSION_NOT_FOUND, got %v", err)
	}
}

func TestLiveWatchSurvivesServerRestart(t *testing.T) {
	s := newStack(t)
	c, err := Connect(s.addr, s.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	sess, err := c.CreateAndWait(ctx, &v1.CreateSessionRequest{WorkDir: s.work, Prompt: "first turn"}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var items []*v1.WatchSessionResponse
	type resume struct {
		code  codes.Code
		start int64
	}
	var resumes []resume
	wctx, stop := context.WithCancel(ctx)
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- c.Watch(wctx, &v1.WatchSessionRequest{SessionId: sess.GetId(), IncludeSnapshot: true},
			WatchOptions{HeartbeatInterval: time.Second, OnResume: func(err *Error, start int64) {
				mu.Lock()
				resumes = append(resumes, resume{err.Code, start})
				mu.Unlock()
			}}, func(r *v1.WatchSessionResponse) error {
				mu.Lock()
				items = append(items, r)
				mu.Unlock()
				return nil
			})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(items) }
	for i := 0; i < 200 && count() == 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	if len(items) == 0 || items[0].GetSnapshot() == nil {
		mu.Unlock()
		t.Fatal("no snapshot from WatchSession")
	}
	before := items[0].GetSnapshot().GetRevision()
	mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	lastSeen := before
	for _, it := range items {
		if e := it.GetEvent(); e != nil {
			lastSeen = e.GetRevision()
		}
	}
	mu.Unlock()

	s.restartServer()
	after, err := c.GetSession(ctx, sess.GetId())
	if err != nil && Code(err) != codes.NotFound {
		t.Fatal(err)
	}
	if err != nil {
		t.Skipf("server does not re-adopt sessions after a restart yet (issue 4): %v", err)
	}
	if after.GetState() == v1.SessionState_SESSION_STATE_EXITED {
		t.Skipf("server does not re-adopt sessions after a restart yet (issue 4): session EXITED (%s)", after.GetExit().GetReason())
	}
	s2, err := c.SendAndWait(ctx, sess.GetId(), "second turn after restart", 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s2.GetState() != v1.SessionState_SESSION_STATE_IDLE {
		t.Fatalf("state %v", s2.GetState())
	}
	var revs []int64
	sawMessage := false
	for i := 0; i < 200; i++ {
		mu.Lock()
		revs, sawMessage = nil, false
		for _, it := range items {
			if e := it.GetEvent(); e != nil {
				revs = append(revs, e.GetRevision())
				if e.GetRevision() > before && e.GetKind() == v1.EventKind_EVENT_KIND_MESSAGE_SENT {
					sawMessage = true
				}
			}
		}
		mu.Unlock()
		if len(revs) > 0 && revs[len(revs)-1] >= s2.GetRevision() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-watchErr; err != nil && err != context.Canceled {
		t.Fatalf("watch ended with %v", err)
	}
	mu.Lock()
	if len(resumes) == 0 || resumes[0].code != codes.Unavailable || resumes[0].start != lastSeen+1 {
		t.Fatalf("resumes %v, want the first one UNAVAILABLE from revision %d", resumes, lastSeen+1)
	}
	mu.Unlock()
	for i := 1; i < len(revs); i++ {
		if revs[i] <= revs[i-1] {
			t.Fatalf("duplicates or disorder: %v", revs)
		}
	}
	if len(revs) == 0 || revs[len(revs)-1] < s2.GetRevision() || !sawMessage {
		t.Fatalf("watch saw %v (session at %d, message after restart: %v)", revs, s2.GetRevision(), sawMessage)
	}
	c.DeleteSession(ctx, sess.GetId())
}

func TestLiveAnswerQuestionByID(t *testing.T) {
	s := newStack(t)
	c, err := Connect(s.addr, s.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	sess, err := c.CreateAndWait(ctx, &v1.CreateSessionRequest{WorkDir: s.work, Prompt: "ASK_ONE"}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSession(ctx, sess.GetId())
	if sess.GetState() != v1.SessionState_SESSION_STATE_ASK_QUESTION || len(sess.GetPendingInteractions()) == 0 {
		t.Fatalf("question not surfaced: state %v, %d pending", sess.GetState(), len(sess.GetPendingInteractions()))
	}
	it := sess.GetPendingInteractions()[0]
	q := it.GetQuestion().GetQuestions()[0]
	label := q.GetOptions()[0].GetLabel()
	r, err := c.Answer(ctx, sess.GetId(), it.GetId(), map[string][]string{q.GetQuestion(): {label}}, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st := r.GetSession()
	if !st.GetStable() {
		if st, err = c.Wait(ctx, sess.GetId(), 0, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if st.GetState() != v1.SessionState_SESSION_STATE_IDLE {
		t.Fatalf("state after answer %v", st.GetState())
	}
}

func TestLiveWatchResnapshotsWhenRevisionCompacted(t *testing.T) {
	s := newStack(t, "--retain-events", "2")
	c, err := Connect(s.addr, s.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	sess, err := c.CreateAndWait(ctx, &v1.CreateSessionRequest{WorkDir: s.work, Prompt: "compaction"}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sess.GetRevision() <= 3 {
		t.Fatalf("revision %d", sess.GetRevision())
	}
	s.restartServer() // the server compacts its event log at start: 2 events kept, revision 1 gone
	var resumes []*Error
	var starts []int64
	var first *v1.WatchSessionResponse
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = c.Watch(wctx, &v1.WatchSessionRequest{SessionId: sess.GetId(), StartRevision: 1},
		WatchOptions{OnResume: func(e *Error, start int64) { resumes = append(resumes, e); starts = append(starts, start) }},
		func(r *v1.WatchSessionResponse) error { first = r; return ErrStopWatch })
	if err != nil {
		t.Fatal(err)
	}
	if first.GetSnapshot() == nil || first.GetSnapshot().GetRevision() < sess.GetRevision() {
		t.Fatalf("first item %v, want a snapshot at >= %d", first, sess.GetRevision())
	}
	if len(resumes) != 1 || resumes[0].Code != codes.OutOfRange || resumes[0].Reason != ReasonRevisionCompacted || starts[0] != 0 {
		t.Fatalf("resumes %v starts %v", resumes, starts)
	}
	c.DeleteSession(ctx, sess.GetId())
}

func TestLiveApproveBashPermissionByID(t *testing.T) {
	s := newStack(t)
	c, err := Connect(s.addr, s.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	req := &v1.CreateSessionRequest{WorkDir: s.work, Prompt: "BASH(touch approved-go.txt)", PermissionMode: "default"}
	sess, err := c.CreateAndWait(ctx, req, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSession(ctx, sess.GetId())
	if sess.GetState() != v1.SessionState_SESSION_STATE_BASH_APPROVAL || len(sess.GetPendingInteractions()) == 0 {
		t.Fatalf("bash approval not surfaced: state %v", sess.GetState())
	}
	it := sess.GetPendingInteractions()[0]
	if got := it.GetPermission().GetCommand(); got != "touch approved-go.txt" {
		t.Fatalf("command %q", got)
	}
	r, err := c.Approve(ctx, sess.GetId(), it.GetId(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st := r.GetSession()
	if !st.GetStable() {
		if st, err = c.Wait(ctx, sess.GetId(), 0, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if st.GetState() != v1.SessionState_SESSION_STATE_IDLE {
		t.Fatalf("state after approval %v", st.GetState())
	}
	if _, err := os.Stat(filepath.Join(s.work, "approved-go.txt")); err != nil {
		t.Fatalf("command did not run: %v", err)
	}
	if _, err := c.Approve(ctx, sess.GetId(), it.GetId(), 0); Reason(err) != "INTERACTION_NOT_PENDING" {
		t.Fatalf("second approve: %v", err)
	}
}
