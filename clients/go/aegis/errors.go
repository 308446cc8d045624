package aegis

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of Aegis errors.
const Domain = "aegis.dev"

// ReasonRevisionCompacted is the ErrorInfo reason of OUT_OF_RANGE from a watch whose start revision is gone.
const ReasonRevisionCompacted = "REVISION_COMPACTED"

// Error is a failed Aegis call: the gRPC code and message plus the google.rpc.ErrorInfo detail
// (carried in the grpc-status-details-bin trailer), when the server sent one.
type Error struct {
	Code     codes.Code
	Message  string
	Reason   string // e.g. SESSION_NOT_FOUND; "" when no ErrorInfo was sent
	Domain   string
	Metadata map[string]string
	cause    error
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("aegis: %s [%s]: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("aegis: %s: %s", e.Code, e.Message)
}

// Unwrap returns the original gRPC error.
func (e *Error) Unwrap() error { return e.cause }

// GRPCStatus lets status.FromError / status.Code see through an *Error.
func (e *Error) GRPCStatus() *status.Status {
	if s, ok := status.FromError(e.cause); ok {
		return s
	}
	return status.New(e.Code, e.Message)
}

// FromError converts a gRPC error to *Error (nil stays nil; a non-gRPC error gets code Unknown).
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Code: codes.Unknown, Message: err.Error(), cause: err}
	}
	out := &Error{Code: st.Code(), Message: st.Message(), cause: err}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			out.Reason, out.Domain, out.Metadata = info.GetReason(), info.GetDomain(), info.GetMetadata()
			break
		}
	}
	return out
}

// Reason returns the ErrorInfo reason of err ("" when none).
func Reason(err error) string {
	var ae *Error
	if errors.As(FromError(err), &ae) {
		return ae.Reason
	}
	return ""
}

// Code returns the gRPC code of err (OK for nil).
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var ae *Error
	if errors.As(FromError(err), &ae) {
		return ae.Code
	}
	return codes.Unknown
}
