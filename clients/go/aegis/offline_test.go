package aegis

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	v1 "github.com/aegis-dev/aegis/clients/go/aegisv1"
)

type watchStep struct {
	items []*v1.WatchSessionResponse
	end   error
}

type fakeServer struct {
	v1.UnimplementedSessionServiceServer
	mu       sync.Mutex
	script   []watchStep
	requests []*v1.WatchSessionRequest
	auth     []string
}

func infoErr(code codes.Code, msg, reason string) error {
	st, _ := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: map[string]string{"id": "x"}})
	return st.Err()
}

func (f *fakeServer) GetSession(ctx context.Context, r *v1.GetSessionRequest) (*v1.GetSessionResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
	if r.GetSessionId() != "s1" {
		return nil, infoErr(codes.NotFound, "no session "+r.GetSessionId(), "SESSION_NOT_FOUND")
	}
	return &v1.GetSessionResponse{Session: &v1.Session{Id: "s1", State: v1.SessionState_SESSION_STATE_IDLE, Stable: true}}, nil
}

func (f *fakeServer) WatchSession(r *v1.WatchSessionRequest, s grpc.ServerStreamingServer[v1.WatchSessionResponse]) error {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	var step watchStep
	if len(f.script) > 0 {
		step, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	for _, it := range step.items {
		if err := s.Send(it); err != nil {
			return err
		}
	}
	return step.end
}

func startFake(t *testing.T, f *fakeServer) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	v1.RegisterSessionServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := Connect(lis.Addr().String(), "t0k")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ev(rev int64, st v1.SessionState) *v1.WatchSessionResponse {
	return &v1.WatchSessionResponse{Item: &v1.WatchSessionResponse_Event{Event: &v1.SessionEvent{SessionId: "s1", Revision: rev, State: st}}}
}

func snap(rev int64, st v1.SessionState) *v1.WatchSessionResponse {
	return &v1.WatchSessionResponse{Item: &v1.WatchSessionResponse_Snapshot{Snapshot: &v1.Session{Id: "s1", Revision: rev, State: st}}}
}

func TestErrorInfoReasonAndBearer(t *testing.T) {
	f := &fakeServer{}
	c := startFake(t, f)
	if _, err := c.GetSession(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetSession(context.Background(), "nope")
	if Code(err) != codes.NotFound || Reason(err) != "SESSION_NOT_FOUND" {
		t.Fatalf("got %v (code %v reason %q)", err, Code(err), Reason(err))
	}
	ae := err.(*Error)
	if ae.Domain != Domain || ae.Metadata["id"] != "x" || status.Code(err) != codes.NotFound {
		t.Fatalf("bad error %+v", ae)
	}
	if len(f.auth) == 0 || f.auth[0] != "Bearer t0k" {
		t.Fatalf("authorization metadata: %v", f.auth)
	}
}

func TestWatchResumesAndResnapshots(t *testing.T) {
	W, I := v1.SessionState_SESSION_STATE_WORKING, v1.SessionState_SESSION_STATE_IDLE
	f := &fakeServer{script: []watchStep{
		{[]*v1.WatchSessionResponse{snap(3, I), ev(4, W), ev(5, W)}, status.Error(codes.Unavailable, "drop")},
		{[]*v1.WatchSessionResponse{ev(5, W), ev(6, W)}, status.Error(codes.Internal, "drop")},
		{nil, infoErr(codes.OutOfRange, "compacted", ReasonRevisionCompacted)},
		{[]*v1.WatchSessionResponse{snap(9, W), ev(10, I)}, nil},
	}}
	c := startFake(t, f)
	var got []int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Watch(ctx, &v1.WatchSessionRequest{SessionId: "s1", IncludeSnapshot: true, UntilStates: []v1.SessionState{I}},
		WatchOptions{MinBackoff: time.Millisecond}, func(r *v1.WatchSessionResponse) error {
			if r.GetSnapshot() != nil {
				got = append(got, -r.GetSnapshot().GetRevision())
			} else {
				got = append(got, r.GetEvent().GetRevision())
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{-3, 4, 5, 6, -9, 10}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	type rq struct {
		start int64
		snap  bool
	}
	var reqs []rq
	for _, r := range f.requests {
		reqs = append(reqs, rq{r.GetStartRevision(), r.GetIncludeSnapshot()})
	}
	wantReqs := []rq{{0, true}, {6, false}, {7, false}, {0, true}}
	for i := range wantReqs {
		if i >= len(reqs) || reqs[i] != wantReqs[i] {
			t.Fatalf("requests %v want %v", reqs, wantReqs)
		}
	}
}

type failing struct{ err error }

func (f failing) Recv() (*v1.WatchSessionResponse, error) { return nil, f.err }

func TestWatchNonRetryableAndGiveUp(t *testing.T) {
	ctx := context.Background()
	open := func(err error) OpenFunc {
		return func(context.Context, *v1.WatchSessionRequest) (Receiver, error) { return failing{err}, nil }
	}
	err := WatchWith(ctx, open(status.Error(codes.PermissionDenied, "no")), &v1.WatchSessionRequest{SessionId: "s1"}, WatchOptions{}, func(*v1.WatchSessionResponse) error { return nil })
	if Code(err) != codes.PermissionDenied {
		t.Fatalf("got %v", err)
	}
	start := time.Now()
	err = WatchWith(ctx, open(status.Error(codes.Unavailable, "down")), &v1.WatchSessionRequest{SessionId: "s1"},
		WatchOptions{ReconnectTimeout: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		func(*v1.WatchSessionResponse) error { return nil })
	if Code(err) != codes.Unavailable || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

type oneThenEOF struct{ items []*v1.WatchSessionResponse }

func (o *oneThenEOF) Recv() (*v1.WatchSessionResponse, error) {
	if len(o.items) == 0 {
		return nil, ioEOF
	}
	it := o.items[0]
	o.items = o.items[1:]
	return it, nil
}

func TestWatchStopsOnExitedAndOnErrStopWatch(t *testing.T) {
	open := func(context.Context, *v1.WatchSessionRequest) (Receiver, error) {
		return &oneThenEOF{[]*v1.WatchSessionResponse{ev(1, v1.SessionState_SESSION_STATE_EXITED)}}, nil
	}
	n := 0
	if err := WatchWith(context.Background(), open, &v1.WatchSessionRequest{}, WatchOptions{}, func(*v1.WatchSessionResponse) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("err %v n %d", err, n)
	}
	open2 := func(context.Context, *v1.WatchSessionRequest) (Receiver, error) {
		return &oneThenEOF{[]*v1.WatchSessionResponse{ev(1, v1.SessionState_SESSION_STATE_WORKING), ev(2, v1.SessionState_SESSION_STATE_WORKING)}}, nil
	}
	if err := WatchWith(context.Background(), open2, &v1.WatchSessionRequest{}, WatchOptions{}, func(*v1.WatchSessionResponse) error { return ErrStopWatch }); err != nil {
		t.Fatal(err)
	}
}

// closedAddr is a loopback address where nothing listens (bound once for a free port, then closed).
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestConnectToClosedPortFailsFast(t *testing.T) {
	addr := closedAddr(t)
	t0 := time.Now()
	c, err := Connect(addr, "t")
	elapsed := time.Since(t0)
	if err == nil {
		c.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != codes.Unavailable {
		t.Fatalf("want *Error Unavailable, got %T %v", err, err)
	}
	if !strings.Contains(ae.Message, "cannot reach the Aegis server at "+addr) {
		t.Fatalf("unclear message: %q", ae.Message)
	}
	if elapsed >= 5*time.Second {
		t.Fatalf("took %v", elapsed)
	}
}

func TestConnectContextDeadlineAndDefaultAddress(t *testing.T) {
	if DefaultAddress != "127.0.0.1:50051" {
		t.Fatalf("DefaultAddress %q is not the server's default", DefaultAddress)
	}
	// An already-expired context: the error names the connect deadline, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err := ConnectContext(ctx, closedAddr(t), "")
	if Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "cannot reach the Aegis server") {
		t.Fatalf("got %v", err)
	}
}
