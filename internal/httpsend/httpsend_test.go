package httpsend

import (
	"net/http"
	"testing"

	"sendpool/internal/intake"
	"sendpool/internal/suppression"
)

// TestStatus: each intake refusal maps to the HTTP status its meaning
// calls for, temporary ones to 429 or 503 so clients retry.
func TestStatus(t *testing.T) {
	tests := []struct {
		err  *intake.Error
		want int
	}{
		{intake.AuthRequired(""), http.StatusUnauthorized},
		{intake.AuthFailed(""), http.StatusUnauthorized},
		{intake.AuthUnavailable(""), http.StatusServiceUnavailable},
		{intake.LimitReached("limit", "per-hour limit of 10 messages reached", ""), http.StatusTooManyRequests},
		{intake.RecipientLimitReached("limit", "per-hour limit of 5 recipients reached", ""), http.StatusTooManyRequests},
		{intake.TooManyRecipients("recipients", ""), http.StatusBadRequest},
		{intake.AccountHeld(""), http.StatusServiceUnavailable},
		{intake.ScanUnavailable("scan", ""), http.StatusServiceUnavailable},
		{intake.LocalError("queue", ""), http.StatusServiceUnavailable},
		{intake.Spam("scan", ""), http.StatusUnprocessableEntity},
		{intake.Virus("scan", ""), http.StatusUnprocessableEntity},
		{intake.TooBig(""), http.StatusRequestEntityTooLarge},
		{intake.SenderNotAllowed(""), http.StatusForbidden},
		{intake.AccountSuspended(""), http.StatusForbidden},
		{intake.BadSender(""), http.StatusBadRequest},
		{intake.BadRecipient(""), http.StatusBadRequest},
		{intake.NoRecipients(), http.StatusBadRequest},
		{&intake.Error{Code: intake.CodeRejected, Enhanced: "5.1.1", Check: suppression.CheckName}, http.StatusUnprocessableEntity},
	}
	for _, tc := range tests {
		if got := Status(tc.err); got != tc.want {
			t.Errorf("%v: status %d, want %d", tc.err, got, tc.want)
		}
	}
}
