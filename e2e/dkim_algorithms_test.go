package e2e

import (
	"context"
	"testing"
	"time"

	"sendpool/internal/domain"
)

// TestDKIMAlgorithmsChooseSignatures: with dkim.algorithms set to one
// algorithm, `domain add` still makes and publishes a key of each type,
// but the message arrives with that one signature only, and dkimpy
// verifies it.
func TestDKIMAlgorithmsChooseSignatures(t *testing.T) {
	py := pyDKIM(t)
	for _, tc := range []struct{ alg, want string }{
		{"ed25519-sha256", "ed25519-sha256"},
		{"rsa-sha256", "rsa-sha256"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, dkimConfig+`algorithms = ["`+tc.alg+`"]`+"\n")
			e.serve()
			e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			info, err := e.api().AddDomain(ctx, "shop1.test", "shop1")
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Keys) != 2 || info.Keys[0].Algorithm != domain.RSA || info.Keys[1].Algorithm != domain.Ed25519 {
				t.Fatalf("keys: %+v, want an RSA and an Ed25519 key whatever signs", info.Keys)
			}
			e.publish(info.Records)
			sel := info.Keys[0].Selector
			if tc.alg == "ed25519-sha256" {
				sel = info.Keys[1].Selector
			}
			received := e.sendAndReceive(t, "a1")
			vs := e.pyVerify(t, py, received)
			if got, want := selectorsOf(vs), sel+"/"+tc.want+"/shop1.test"; got != want || !allOK(vs) {
				t.Fatalf("signatures %+v, want %s alone, verified\n%s", vs, want, received)
			}
		})
	}
}
