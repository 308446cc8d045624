package aegis

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	v1 "github.com/aegis-dev/aegis/clients/go/aegisv1"
)

// WatchOptions tunes Watch. The zero value is usable.
type WatchOptions struct {
	// Heartbeats passes heartbeat items to the callback too.
	Heartbeats bool
	// HeartbeatInterval asked of the server (default 5 s).
	HeartbeatInterval time.Duration
	// StreamTimeout is the deadline of one stream; the watch then resumes transparently (default 10 min).
	StreamTimeout time.Duration
	// ReconnectTimeout is how long to keep reconnecting without progress before giving up (default 2 min).
	ReconnectTimeout time.Duration
	// MinBackoff, MaxBackoff bound the delay between reconnects (default 100 ms, 2 s).
	MinBackoff, MaxBackoff time.Duration
	// OnResume, when set, is called before each reopen with the error and the start revision of the new
	// stream (0 = re-snapshot).
	OnResume func(err *Error, startRevision int64)
}

// RetryableCodes are the codes after which Watch reopens the stream.
var RetryableCodes = map[codes.Code]bool{
	codes.Unavailable: true, codes.DeadlineExceeded: true, codes.Internal: true,
	codes.Unknown: true, codes.Aborted: true, codes.Canceled: true,
}

// Receiver is one open watch stream (a grpc.ServerStreamingClient[v1.WatchSessionResponse] or a fake).
type Receiver interface {
	Recv() (*v1.WatchSessionResponse, error)
}

// OpenFunc opens a watch stream; Watch calls it again on every resume.
type OpenFunc func(ctx context.Context, req *v1.WatchSessionRequest) (Receiver, error)

// Watch streams a session's events to fn, resuming by itself after a dropped stream or a server restart:
// the stream is reopened from the last revision seen + 1 (each event is delivered once, in order). On
// OUT_OF_RANGE with reason REVISION_COMPACTED it re-snapshots (include_snapshot, start_revision 0), so fn
// then gets a fresh snapshot. It returns nil when the server ends the stream after one of req.UntilStates
// (or the session EXITED), or when fn returns ErrStopWatch; ctx's error when ctx ends; otherwise the
// first non-retryable error, or the last one after ReconnectTimeout without progress.
func (c *Client) Watch(ctx context.Context, req *v1.WatchSessionRequest, opts WatchOptions, fn func(*v1.WatchSessionResponse) error) error {
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	if opts.StreamTimeout == 0 {
		opts.StreamTimeout = 10 * time.Minute
	}
	req = proto.Clone(req).(*v1.WatchSessionRequest)
	if req.HeartbeatInterval == nil {
		req.HeartbeatInterval = durationpb.New(opts.HeartbeatInterval)
	}
	open := func(ctx context.Context, r *v1.WatchSessionRequest) (Receiver, error) {
		// Fail fast while the server is away: the resume loop retries with its own backoff and limit.
		return c.Stub.WatchSession(ctx, r, grpc.WaitForReady(false))
	}
	return WatchWith(ctx, open, req, opts, fn)
}

// WatchWith is the resume loop behind Watch, with the stream opener given (tests pass a fake).
func WatchWith(ctx context.Context, open OpenFunc, req *v1.WatchSessionRequest, opts WatchOptions, fn func(*v1.WatchSessionResponse) error) error {
	if opts.StreamTimeout == 0 {
		opts.StreamTimeout = 10 * time.Minute
	}
	if opts.ReconnectTimeout == 0 {
		opts.ReconnectTimeout = 2 * time.Minute
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	until := map[v1.SessionState]bool{}
	for _, s := range req.GetUntilStates() {
		until[s] = true
	}
	last := int64(-1) // nothing seen yet
	if req.GetStartRevision() > 0 {
		last = req.GetStartRevision() - 1
	}
	var lastState v1.SessionState
	cur := req
	backoff := opts.MinBackoff
	var failingSince time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, opts.StreamTimeout)
		err := func() error {
			stream, err := open(sctx, cur)
			if err != nil {
				return err
			}
			for {
				item, err := stream.Recv()
				if err != nil {
					return err
				}
				switch x := item.GetItem().(type) {
				case *v1.WatchSessionResponse_Snapshot:
					last, lastState = x.Snapshot.GetRevision(), x.Snapshot.GetState()
				case *v1.WatchSessionResponse_Event:
					if last >= 0 && x.Event.GetRevision() <= last {
						continue // replayed after a resume
					}
					last, lastState = x.Event.GetRevision(), x.Event.GetState()
				default:
					if !opts.Heartbeats {
						failingSince, backoff = time.Time{}, opts.MinBackoff
						continue
					}
				}
				failingSince, backoff = time.Time{}, opts.MinBackoff
				if err := fn(item); err != nil {
					return callbackError{err}
				}
			}
		}()
		cancel()
		var cbe callbackError
		if errors.As(err, &cbe) {
			if errors.Is(cbe.err, ErrStopWatch) {
				return nil
			}
			return cbe.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			if until[lastState] || lastState == v1.SessionState_SESSION_STATE_EXITED {
				return nil
			}
			err = &Error{Code: codes.Unavailable, Message: "watch stream ended early"}
		}
		ae := FromError(err).(*Error)
		if ae.Code == codes.OutOfRange && ae.Reason == ReasonRevisionCompacted {
			slog.Info("aegis watch: revision compacted; re-snapshotting", "session", req.GetSessionId(), "revision", last+1)
			cur = proto.Clone(req).(*v1.WatchSessionRequest)
			cur.IncludeSnapshot, cur.StartRevision = true, 0
			last = -1
			if opts.OnResume != nil {
				opts.OnResume(ae, 0)
			}
			continue
		}
		if !RetryableCodes[ae.Code] {
			return ae
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > opts.ReconnectTimeout {
			return ae
		}
		slog.Info("aegis watch: resuming", "session", req.GetSessionId(), "from", last+1, "after", ae.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, opts.MaxBackoff)
		if last >= 0 {
			cur = proto.Clone(req).(*v1.WatchSessionRequest)
			cur.IncludeSnapshot, cur.StartRevision = false, last+1
		}
		if opts.OnResume != nil {
			opts.OnResume(ae, cur.GetStartRevision())
		}
	}
}

type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
