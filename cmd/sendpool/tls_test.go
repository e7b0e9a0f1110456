package main

import (
	"testing"

	"sendpool/internal/queue"
)

func TestTLSText(t *testing.T) {
	for _, tc := range []struct {
		tls  queue.TLS
		want string
	}{
		{queue.TLS{}, "-"},
		{queue.TLS{Version: "TLS 1.3", Verified: true, Policy: "mta-sts"}, "TLS 1.3 verified (mta-sts)"},
		{queue.TLS{Policy: "may"}, "plaintext (may)"},
		{queue.TLS{Policy: "dane", Failure: "tlsa-invalid"}, "plaintext (dane) tlsa-invalid"},
	} {
		if got := tlsText(tc.tls); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.tls, got, tc.want)
		}
	}
}
