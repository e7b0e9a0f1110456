package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// TestSlowDeliveryKeepsItsLease: a receiver that waits more than twice
// delivery.lease_for before answering the end of data gets the message
// once, not twice: the node renews the lease of the delivery it is working
// on, so it is never due to be taken again meanwhile (by this node or
// another).
func TestSlowDeliveryKeepsItsLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, `lease_for = "3s"
retry = ["1s"]`)
	sink := e.world.Sink("gmail.test")
	sink.SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Delay: 7 * time.Second})
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	e.send("slow", "slow@gmail.test")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, 30*time.Second, "the slow message delivered in the API", func() bool {
		list, err := e.api().Messages(ctx, queue.Filter{Status: queue.StatusDelivered})
		return err == nil && len(list) == 1
	})
	time.Sleep(4 * time.Second) // a second copy, had the lease lapsed, would show by now
	if n := len(sink.Conns()); n != 1 {
		t.Errorf("%d connections to the receiver, want 1", n)
	}
	if ids := messageIDs(sink); len(ids) != 1 || ids[0] != "slow" {
		t.Errorf("the receiver got %v, want the message once", ids)
	}
	list, err := e.api().Messages(ctx, queue.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("messages: %v, %v", list, err)
	}
	d, err := e.api().Message(ctx, list[0].ID)
	if err != nil || len(d.Recipients[0].Attempts) != 1 {
		t.Fatalf("attempts: %+v, %v; want one", d, err)
	}
	if out := p.out.String(); strings.Contains(out, "lease lost") || strings.Contains(out, "leases ended") {
		t.Errorf("the node lost its lease:\n%s", out)
	}
}
