package dnspub

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/domain"
	"sendpool/internal/sandbox"
)

// TestRotationHandsOff: a rotation publishes the new keys, switches
// signing only once every authoritative server answers them, revokes the
// old keys retire_after later (empty p=) and deletes their records
// revoke_for after that, in that order, by the test clock; mail signed on
// either side of the switch verifies with dkimpy asking bind.
func TestRotationHandsOff(t *testing.T) {
	w, b := bindWorld(t)
	py := pyDKIM(t)
	// A second authoritative server that lags: signing must wait for it.
	lag, err := sandbox.NewDNSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lag.Close() })
	w.pub.cfg.Zones[0].Nameservers = []string{b.Addr, lag.Addr()}

	ctx := t.Context()
	name := w.name("rot")
	d := w.add(name)
	old := d.Signing()
	before := w.sign(name, "before")

	w.clock.Add(time.Hour)
	if _, err := w.keys.Rotate(ctx, name); err != nil {
		t.Fatal(err)
	}
	d = w.sync(name)
	pending := d.KeysIn(domain.Pending)
	if len(pending) != 2 {
		t.Fatalf("after the rotation's sync: %d pending keys, want 2 (signing switched before the lagging server had them)", len(pending))
	}
	for _, k := range pending {
		w.wantTXT(dkim.RecordName(k.Selector, name), dkim.RecordValue(k)) // published
		lag.SetTXT(dkim.RecordName(k.Selector, name), dkim.RecordValue(k))
	}
	d = w.sync(name)
	if len(d.KeysIn(domain.Pending)) != 0 || len(d.KeysIn(domain.Retired)) != 2 {
		t.Fatalf("every server answers: keys %+v, want the new active and the old retired", d.Keys)
	}
	after := w.sign(name, "after")
	for _, msg := range [][]byte{before, after} {
		if vs := pyVerify(t, py, b.Addr, msg); len(vs) != 2 || !vs[0].OK || !vs[1].OK {
			t.Fatalf("dkimpy on mail signed across the switch: %+v", vs)
		}
	}

	// Retired for retire_after: revoked, p= empty.
	w.clock.Add(retireAfter)
	w.sync(name)
	for _, k := range old {
		w.wantTXT(dkim.RecordName(k.Selector, name), "v=DKIM1; k="+string(k.Algorithm)+"; p=")
	}
	if vs := pyVerify(t, py, b.Addr, before); len(vs) != 2 || vs[0].OK || vs[1].OK {
		t.Fatalf("dkimpy on mail signed with revoked keys: %+v", vs)
	}
	// revoke_for later: deleted.
	w.clock.Add(revokeFor)
	d = w.sync(name)
	for _, k := range old {
		w.wantTXT(dkim.RecordName(k.Selector, name))
	}
	for _, k := range d.Signing() {
		w.wantTXT(dkim.RecordName(k.Selector, name), dkim.RecordValue(k))
	}
	if vs := pyVerify(t, py, b.Addr, after); len(vs) != 2 || !vs[0].OK || !vs[1].OK {
		t.Fatalf("dkimpy on mail signed with the new keys after the old ones went: %+v", vs)
	}
}

func (w *world) sign(name, id string) []byte {
	w.t.Helper()
	msg := []byte("From: Shop <news@" + name + ">\r\nTo: someone@example.test\r\nSubject: " + id +
		"\r\nMessage-ID: <" + id + "@" + name + ">\r\nDate: " + w.clock.Now().Format(time.RFC1123Z) + "\r\n\r\nHello " + id + "\r\n")
	signed, made, err := w.keys.Sign(w.t.Context(), "shop", msg)
	if err != nil || len(made) != 2 {
		w.t.Fatalf("Sign: %d signatures, %v", len(made), err)
	}
	return signed
}

// pyDKIM is Debian's python3 with dkimpy (scripts/services/pydkim).
func pyDKIM(t *testing.T) string {
	t.Helper()
	py := os.Getenv("SENDPOOL_TEST_PYDKIM")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import dkim, dns.resolver").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-dkim is not available to %s (%v): run scripts/services/pydkim", py, err)
		}
		t.Skipf("python3-dkim is not available to %s (%v)", py, err)
	}
	return py
}

type pyVerification struct {
	S, A, D string
	OK      bool
	Err     string
}

// pyVerify verifies msg's signatures with dkimpy (e2e/testdata/dkim_verify.py),
// which looks the keys up at server.
func pyVerify(t *testing.T, py, server string, msg []byte) []pyVerification {
	t.Helper()
	cmd := exec.Command(py, "../../e2e/testdata/dkim_verify.py", server)
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkim_verify.py: %v\n%s", err, stderr.String())
	}
	var vs []pyVerification
	if err := json.Unmarshal(out, &vs); err != nil {
		t.Fatalf("dkim_verify.py said %q: %v", out, err)
	}
	return vs
}
