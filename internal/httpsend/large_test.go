package httpsend_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/httpsend"
	"sendpool/internal/intake"
	"sendpool/internal/spool"
	"sendpool/internal/store/sqlite"
)

// TestSendLargeSpooled posts a 3 MB message through the real handler with
// a spool (issue 13): its JSON string, escapes and all, is decoded into the
// spool file, and the store ends up with exactly the message, under the
// Received field intake puts on top; the spool directory is empty after.
func TestSendLargeSpooled(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := account.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CreateAccount(ctx, &account.Account{Name: "acme", PasswordHash: hash,
		Domains: []string{"acme.test"}, Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	spoolDir := filepath.Join(dir, "spool")
	sp, err := spool.Open(spoolDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := intake.New(intake.Config{Accounts: st, Queue: st})
	srv := httptest.NewServer(api.New(api.Config{Queue: st, Accounts: st, Token: "admintoken",
		Send: httpsend.New(httpsend.Config{Intake: in, Spool: sp, MaxMessageSize: 8 << 20, MaxRecipients: 10})}))
	t.Cleanup(srv.Close)

	msg := largeMessage(3 << 20)
	body, err := json.Marshal(api.SendRequest{From: "a@acme.test", To: []string{"b@gmail.test"}, Raw: msg})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/send", bytes.NewReader(body))
	req.SetBasicAuth("acme", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var reply api.SendReply
	if resp.StatusCode != http.StatusOK || json.Unmarshal(answer, &reply) != nil || reply.ID == "" {
		t.Fatalf("status %d: %s", resp.StatusCode, answer)
	}
	stored, err := st.Body(ctx, reply.ID)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := bytes.Cut(stored, []byte("\r\n"+msg[:40]))
	if !ok || !bytes.HasPrefix(head, []byte("Received: ")) || "\r\n"+msg[:40]+string(rest) != "\r\n"+msg {
		t.Fatalf("stored %d bytes, want the %d of the message under a Received field; starts %.300q",
			len(stored), len(msg), stored)
	}
	if ents, err := os.ReadDir(spoolDir); err != nil || len(ents) != 0 {
		t.Errorf("spool directory after the request: %v (%v)", ents, err)
	}
}

// largeMessage is a CRLF message of about size bytes whose body holds
// every character JSON escapes, and runes outside the BMP, so that its
// JSON string is full of \" \\ \n \r \t and \uXXXX.
func largeMessage(size int) string {
	var b strings.Builder
	b.WriteString("From: a@acme.test\r\nTo: b@gmail.test\r\nSubject: large\r\n" +
		"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <large@acme.test>\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%06d \"quoted\" back\\slash\ttab <tag> & é ü 😀 \x01\x1f\r\n", i)
	}
	return b.String()
}
