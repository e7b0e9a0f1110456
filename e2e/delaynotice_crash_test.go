package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"sendpool/internal/sandbox"
	"sendpool/internal/store/mongo"
	"sendpool/internal/testenv"
)

// TestDelayNoticeCrash: the server is killed (SIGKILL) at the worst moment
// for a delay notice: due, being gathered in memory, not yet stored. The
// gathering lasts an hour in the first run, so the kill lands inside it
// for certain; the node's log line says when it has begun. After the
// restart the notice arrives, once: the delivery was not marked notified
// before its notice was stored. On both stores.
func TestDelayNoticeCrash(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { delayNoticeCrash(t, "") })
	t.Run("mongodb", func(t *testing.T) {
		uri := testenv.MongoDB(t)
		rnd := make([]byte, 6)
		rand.Read(rnd)
		db := "e2e_" + hex.EncodeToString(rnd)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if s, err := mongo.Open(ctx, uri, mongo.Options{Database: db}); err == nil {
				s.Drop(ctx)
				s.Close()
			}
		})
		delayNoticeCrash(t, fmt.Sprintf("[store]\nbackend = \"mongodb\"\nmongodb_uri = %q\n",
			strings.TrimSuffix(uri, "/")+"/"+db+"?maxPoolSize=4"))
	})
}

func delayNoticeCrash(t *testing.T, store string) {
	e := newEnv(t, bounceDomains, `retry = ["300ms"]
delay_notice = "1s"
delay_notice_gather = "1h"
lease_for = "3h"
`+store)
	const tempFail = "451 4.3.0 Temporary local problem, try again later"
	e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: tempFail})
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", sender, []string{"user@gmail.test"},
		message(sender, "user@gmail.test", "d1")); err != nil {
		t.Fatal(err)
	}
	id := e.idOf(sender, 1)
	waitFor(t, 30*time.Second, "the delay notice being gathered", func() bool {
		return strings.Contains(p.out.String(), "delay notice gathering")
	})
	p.kill()
	if n := len(e.world.Sink("shop1.test").Messages()); n != 0 {
		t.Fatalf("%d DSNs before the crash; the test wants none", n)
	}

	// The same node, gathering for a second now.
	writeFile(t, e.config, strings.Replace(readFile(t, e.config),
		`delay_notice_gather = "1h"`, `delay_notice_gather = "1s"`, 1))
	e.serve()
	d := parseDSN(t, e.waitDSNs(1)[0])
	r := d.perRcpt[0]
	checkField(t, r, "Final-Recipient", "rfc822; user@gmail.test")
	checkField(t, r, "Action", "delayed")
	checkField(t, r, "Diagnostic-Code", "smtp; "+tempFail)

	// A notice is stored before its deferral is recorded: once three more
	// attempts are recorded, a second one would be in the queue.
	var before int
	if m, err := e.api().Message(context.Background(), id); err == nil {
		before = len(m.Recipients[0].Attempts)
	}
	waitFor(t, 30*time.Second, "three more attempts", func() bool {
		m, err := e.api().Message(context.Background(), id)
		return err == nil && len(m.Recipients[0].Attempts) >= before+3
	})
	var dsns int
	for _, m := range e.allMessages() {
		if m.From == "" {
			dsns++
		}
	}
	if dsns != 1 {
		t.Errorf("%d DSNs queued, want one delay notice", dsns)
	}
}
