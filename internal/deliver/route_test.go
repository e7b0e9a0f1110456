package deliver

import (
	"context"
	"net/netip"
	"testing"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// TestFixedRoute: a hosted domain's mail goes to its fixed route (an
// account's inbound_host, on its own port and outside the allowed
// networks), with no MX lookup; other domains still go to their MX.
func TestFixedRoute(t *testing.T) {
	w := newWorld(t)
	mx := w.sink("mx.gmail.test", "127.0.0.111", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	hosting, err := sandbox.NewSink(sandbox.SinkConfig{Addr: "127.0.0.120:0", Hostname: "mail.shop.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hosting.Close() })
	c := w.courier(func(cfg *Config) {
		cfg.Routes = func(_ context.Context, domain string) (string, bool, error) {
			return hosting.Addr(), domain == "shop.test", nil
		}
		// The route is the admin's: the allowed networks do not apply.
		cfg.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.111/32")}
	})
	res := deliver(t, c, w.message("m1", "Subject: in\r\n\r\nhi\r\n", "alice@shop.test"))
	wantVerdict(t, res, queue.VerdictDelivered)
	if res[0].Attempt.MX != hosting.Addr() || len(hosting.Messages()) != 1 {
		t.Fatalf("attempt to %q; hosting server got %d", res[0].Attempt.MX, len(hosting.Messages()))
	}
	wantVerdict(t, deliver(t, c, w.message("m2", "Subject: out\r\n\r\nhi\r\n", "bob@gmail.test")), queue.VerdictDelivered)
	if len(mx.Messages()) != 1 {
		t.Fatal("a domain without a route did not go to its MX")
	}
}
