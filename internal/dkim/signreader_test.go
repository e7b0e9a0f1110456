package dkim

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// TestSignReaderMatchesSign: a message signed as a stream (a spooled one)
// gets the very fields Sign puts on it in memory, and an unsigned one none.
func TestSignReaderMatchesSign(t *testing.T) {
	e := newManagerEnv(t)
	if _, err := e.m.Add(t.Context(), "shop.test", "shop"); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("a line  with \t spaces   \r\n", 20000) + "\r\n\r\n"
	msg := []byte("From: a@shop.test\r\nTo: b@gmail.test\r\nSubject: " + strings.Repeat("long ", 2000) + "\r\n\r\n" + body)
	signed, made, err := e.m.Sign(t.Context(), "shop", msg)
	if err != nil || len(made) != 2 {
		t.Fatalf("Sign: %d signatures, %v", len(made), err)
	}
	fields, made2, err := e.m.SignReader(t.Context(), "shop", iotest.HalfReader(bytes.NewReader(msg)))
	if err != nil || len(made2) != 2 {
		t.Fatalf("SignReader: %d signatures, %v", len(made2), err)
	}
	if !bytes.Equal(append(fields, msg...), signed) {
		t.Errorf("SignReader's fields differ from Sign's:\n%.300q\n%.300q", fields, signed)
	}
	fields, made, err = e.m.SignReader(t.Context(), "other", bytes.NewReader(msg))
	if err != nil || len(fields) != 0 || len(made) != 0 {
		t.Errorf("another account's message: %d bytes of fields, %v", len(fields), err)
	}
}
