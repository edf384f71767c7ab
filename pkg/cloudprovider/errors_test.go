package cloudprovider

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCode(t *testing.T) {
	tests := map[string]struct {
		err  error
		want codes.Code
	}{
		"nil":         {nil, codes.OK},
		"not found":   {Errorf(ErrNotFound, "x"), codes.NotFound},
		"invalid":     {Errorf(ErrInvalid, "x"), codes.InvalidArgument},
		"refused":     {Errorf(ErrRefused, "x"), codes.FailedPrecondition},
		"quota":       {Errorf(ErrQuotaExceeded, "x"), codes.ResourceExhausted},
		"transient":   {Errorf(ErrTransient, "x"), codes.Unavailable},
		"unsupported": {Errorf(ErrUnsupported, "x"), codes.Unimplemented},
		"wrapped":     {wrap(Errorf(ErrRefused, "x")), codes.FailedPrecondition},
		"plain":       {errPlain, codes.Internal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Code(tc.err); got != tc.want {
				t.Errorf("Code(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if got, want := Errorf(ErrNotFound, "node group %q does not exist", "x").Error(), `node group "x" does not exist`; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestErrorfKeepsWrappedError(t *testing.T) {
	inner := &apiErr{"boom"}
	err := Errorf(ErrTransient, "creating node: %w", inner)
	var got *apiErr
	if !errors.As(err, &got) || got != inner || Code(err) != codes.Unavailable {
		t.Errorf("Errorf lost the wrapped error or its kind: %v", err)
	}
	var none *apiErr
	if errors.As(Errorf(ErrInvalid, "plain"), &none) {
		t.Error("errors.As found a wrapped error where there is none")
	}
}

type apiErr struct{ s string }

func (e *apiErr) Error() string { return e.s }

// outcome is what a test compares: the gRPC code and message of an error.
type outcome struct {
	Code codes.Code
	Msg  string
}

func outcomeOf(err error) outcome {
	if err == nil {
		return outcome{Code: codes.OK}
	}
	return outcome{Code: Code(err), Msg: err.Error()}
}
