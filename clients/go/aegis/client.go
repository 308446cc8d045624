// Package aegis is a small hand-written layer over the generated aegis.v1 stubs (package aegisv1):
// Connect with a bearer token, create/send-and-wait, answer/approve/reject by interaction id, a Watch that
// resumes by itself after dropped streams and server restarts, and errors carrying their ErrorInfo reason.
// Every call gets a deadline.
package aegis

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/durationpb"

	v1 "github.com/aegis-dev/aegis/clients/go/aegisv1"
)

// Version is this client's version: 1 = the aegis.v1 API (see clients/README.md "Versions"); the module is
// tagged clients/go/vX.Y.Z to match.
const Version = "1.0.0"

const (
	// DefaultAddress is the address `aegis serve` listens on by default; Connect("") uses it.
	DefaultAddress = "127.0.0.1:50051"
	// DefaultConnectTimeout bounds Connect's wait for the connection (a refused connection fails at once).
	DefaultConnectTimeout = 3 * time.Second
	// DefaultTimeout is the deadline of a plain unary call.
	DefaultTimeout = 30 * time.Second
	// WaitMargin is added to the deadline of a call that waits server-side.
	WaitMargin = 30 * time.Second
	// ServerWaitCap is the longest single server-side wait; longer waits take several calls.
	ServerWaitCap = 10 * time.Minute
)

// Client is a connection to one Aegis server.
type Client struct {
	Conn           *grpc.ClientConn
	Stub           v1.SessionServiceClient
	DefaultTimeout time.Duration
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// Connect dials address ("host:port", plaintext; "https://host:port" for TLS; "" = DefaultAddress) and
// waits up to DefaultConnectTimeout for the connection; see ConnectContext.
func Connect(address, token string, opts ...grpc.DialOption) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultConnectTimeout)
	defer cancel()
	return ConnectContext(ctx, address, token, opts...)
}

// ConnectContext dials address and waits, until ctx is done, for the connection: when nothing answers there
// (refused at the first attempt, or not connected before ctx ends) it returns an *Error with code
// Unavailable instead of a client whose calls would wait for a server that is not there (grpc.NewClient is
// lazy). A non-empty token is sent as `authorization: Bearer <token>` on every call. Once connected, calls
// wait (within their deadline) for the connection to come back while the server restarts.
func ConnectContext(ctx context.Context, address, token string, opts ...grpc.DialOption) (*Client, error) {
	if address == "" {
		address = DefaultAddress
	}
	shown := address
	creds := insecure.NewCredentials()
	if strings.HasPrefix(address, "https://") {
		address = strings.TrimPrefix(address, "https://")
		creds = credentials.NewTLS(nil)
	}
	address = strings.TrimPrefix(address, "http://")
	all := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Reconnect quickly after a server restart.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Calls wait (within their deadline) for the connection instead of failing at once with Unavailable
		// while the server restarts. Nothing is sent before the connection is up.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.WaitForReady(true)),
	}
	if token != "" {
		all = append(all, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(address, append(all, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := awaitReady(ctx, conn, shown); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &Client{Conn: conn, Stub: v1.NewSessionServiceClient(conn), DefaultTimeout: DefaultTimeout}, nil
}

// awaitReady connects conn and returns nil once it is Ready, or an *Error(Unavailable) at the first failed
// attempt (TransientFailure) or when ctx ends.
func awaitReady(ctx context.Context, conn *grpc.ClientConn, address string) error {
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			return unreachable(address, "connection failed")
		}
		if !conn.WaitForStateChange(ctx, s) {
			return unreachable(address, "no connection before the connect deadline ("+ctx.Err().Error()+")")
		}
	}
}

func unreachable(address, why string) error {
	return &Error{Code: codes.Unavailable, Message: "cannot reach the Aegis server at " + address + ": " + why + " (is `aegis serve` listening there?)"}
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

func (c *Client) ctx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = c.DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}

// WaitOptions returns wait options for timeout (capped at the server's 10 minutes); no states = any stable.
func WaitOptions(timeout time.Duration, states ...v1.SessionState) *v1.WaitOptions {
	return &v1.WaitOptions{States: states, Timeout: durationpb.New(min(timeout, ServerWaitCap))}
}

// GetSession returns one session by id or name.
func (c *Client) GetSession(ctx context.Context, id string) (*v1.Session, error) {
	ctx, cancel := c.ctx(ctx, 0)
	defer cancel()
	r, err := c.Stub.GetSession(ctx, &v1.GetSessionRequest{SessionId: id})
	return r.GetSession(), FromError(err)
}

// DeleteSession stops CC and removes its window; the record stays readable.
func (c *Client) DeleteSession(ctx context.Context, id string) (*v1.Session, error) {
	ctx, cancel := c.ctx(ctx, 0)
	defer cancel()
	r, err := c.Stub.DeleteSession(ctx, &v1.DeleteSessionRequest{SessionId: id})
	return r.GetSession(), FromError(err)
}

// Wait blocks until the session enters a wanted state (any stable state when none given) after
// afterRevision (0 = its revision now), in server waits of at most 10 minutes. A timeout is an *Error with
// code DeadlineExceeded.
func (c *Client) Wait(ctx context.Context, id string, afterRevision int64, timeout time.Duration, states ...v1.SessionState) (*v1.Session, error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, &Error{Code: codes.DeadlineExceeded, Message: "session " + id + " not settled in " + timeout.String()}
		}
		cctx, cancel := c.ctx(ctx, min(left, ServerWaitCap)+WaitMargin)
		r, err := c.Stub.WaitSession(cctx, &v1.WaitSessionRequest{SessionId: id, AfterRevision: afterRevision, Wait: WaitOptions(left, states...)})
		cancel()
		if err != nil {
			return nil, FromError(err)
		}
		if r.GetWaitResult().GetSatisfied() {
			return r.GetSession(), nil
		}
		afterRevision = r.GetSession().GetRevision()
	}
}

func (c *Client) settle(ctx context.Context, s *v1.Session, res *v1.WaitResult, deadline time.Time, states []v1.SessionState) (*v1.Session, error) {
	if res.GetSatisfied() {
		return s, nil
	}
	return c.Wait(ctx, s.GetId(), s.GetRevision(), max(time.Until(deadline), time.Millisecond), states...)
}

// CreateAndWait creates a session (req.Wait is set from timeout/states) and waits until it is settled.
func (c *Client) CreateAndWait(ctx context.Context, req *v1.CreateSessionRequest, timeout time.Duration, states ...v1.SessionState) (*v1.Session, error) {
	deadline := time.Now().Add(timeout)
	req.Wait = WaitOptions(timeout, states...)
	cctx, cancel := c.ctx(ctx, min(timeout, ServerWaitCap)+WaitMargin)
	defer cancel()
	r, err := c.Stub.CreateSession(cctx, req)
	if err != nil {
		return nil, FromError(err)
	}
	return c.settle(ctx, r.GetSession(), r.GetWaitResult(), deadline, states)
}

// SendAndWait sends a prompt and waits for a settled state reached by this turn.
func (c *Client) SendAndWait(ctx context.Context, id, text string, timeout time.Duration, states ...v1.SessionState) (*v1.Session, error) {
	deadline := time.Now().Add(timeout)
	cctx, cancel := c.ctx(ctx, min(timeout, ServerWaitCap)+WaitMargin)
	defer cancel()
	r, err := c.Stub.SendMessage(cctx, &v1.SendMessageRequest{SessionId: id, Text: text, Kind: v1.MessageKind_MESSAGE_KIND_PROMPT, Wait: WaitOptions(timeout, states...)})
	if err != nil {
		return nil, FromError(err)
	}
	return c.settle(ctx, r.GetSession(), r.GetWaitResult(), deadline, states)
}

// Answer answers a pending AskUserQuestion by interaction id: question text (or header) -> chosen labels.
// With waitTimeout > 0 the server also waits for a stable state.
func (c *Client) Answer(ctx context.Context, id, interactionID string, answers map[string][]string, waitTimeout time.Duration) (*v1.AnswerQuestionResponse, error) {
	req := &v1.AnswerQuestionRequest{SessionId: id, InteractionId: interactionID}
	for q, labels := range answers {
		req.Answers = append(req.Answers, &v1.QuestionAnswer{Question: q, SelectedLabels: labels})
	}
	if waitTimeout > 0 {
		req.Wait = WaitOptions(waitTimeout)
	}
	cctx, cancel := c.ctx(ctx, waitTimeout+WaitMargin)
	defer cancel()
	r, err := c.Stub.AnswerQuestion(cctx, req)
	return r, FromError(err)
}

// Approve approves a pending permission / bash / plan / trust interaction by id (scope once).
func (c *Client) Approve(ctx context.Context, id, interactionID string, waitTimeout time.Duration) (*v1.ApprovePermissionResponse, error) {
	req := &v1.ApprovePermissionRequest{SessionId: id, InteractionId: interactionID, Scope: v1.ApprovalScope_APPROVAL_SCOPE_ONCE}
	if waitTimeout > 0 {
		req.Wait = WaitOptions(waitTimeout)
	}
	cctx, cancel := c.ctx(ctx, waitTimeout+WaitMargin)
	defer cancel()
	r, err := c.Stub.ApprovePermission(cctx, req)
	return r, FromError(err)
}

// Reject rejects a pending permission / bash / plan / trust interaction by id, with optional feedback.
func (c *Client) Reject(ctx context.Context, id, interactionID, feedback string, waitTimeout time.Duration) (*v1.RejectPermissionResponse, error) {
	req := &v1.RejectPermissionRequest{SessionId: id, InteractionId: interactionID, Feedback: feedback}
	if waitTimeout > 0 {
		req.Wait = WaitOptions(waitTimeout)
	}
	cctx, cancel := c.ctx(ctx, waitTimeout+WaitMargin)
	defer cancel()
	r, err := c.Stub.RejectPermission(cctx, req)
	return r, FromError(err)
}

// Transcript returns all transcript entries (every page), optionally only some kinds.
func (c *Client) Transcript(ctx context.Context, id string, kinds ...v1.EntryKind) ([]*v1.TranscriptEntry, error) {
	var out []*v1.TranscriptEntry
	var cursor int64
	for {
		cctx, cancel := c.ctx(ctx, 0)
		r, err := c.Stub.GetTranscript(cctx, &v1.GetTranscriptRequest{SessionId: id, Cursor: cursor, Limit: 1000, Kinds: kinds})
		cancel()
		if err != nil {
			return out, FromError(err)
		}
		out = append(out, r.GetEntries()...)
		if len(r.GetEntries()) == 0 || r.GetNextCursor() <= cursor {
			return out, nil
		}
		cursor = r.GetNextCursor()
	}
}

// LastAssistantText is the text of the last assistant entry of the transcript ("" when none).
func (c *Client) LastAssistantText(ctx context.Context, id string) (string, error) {
	es, err := c.Transcript(ctx, id, v1.EntryKind_ENTRY_KIND_ASSISTANT_TEXT)
	if err != nil || len(es) == 0 {
		return "", err
	}
	return es[len(es)-1].GetText(), nil
}

// ErrStopWatch may be returned by a Watch callback to end the watch without error.
var ErrStopWatch = errors.New("aegis: stop watch")
