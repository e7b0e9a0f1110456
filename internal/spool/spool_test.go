package spool

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRemovesLeftovers: a spool file a crash left is removed at start,
// and nothing else in the directory is.
func TestOpenRemovesLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "body-123"+suffix)
	other := filepath.Join(dir, "notes.txt")
	for _, f := range []string{left, other} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(dir, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("crash-left spool file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file was removed: %v", err)
	}
}

// TestWriterSmallStaysInMemory: under the threshold the body is the
// buffer, behind its room, byte for byte (intake normalises it).
func TestWriterSmallStaysInMemory(t *testing.T) {
	d, err := Open(t.TempDir(), 64)
	if err != nil {
		t.Fatal(err)
	}
	w := d.NewWriter(16)
	if _, err := w.ReadFrom(strings.NewReader("a\nb\r\n")); err != nil {
		t.Fatal(err)
	}
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	buf, room, ok := b.Memory()
	if !ok || room != 16 || string(buf[room:]) != "a\nb\r\n" || b.OnFile() {
		t.Fatalf("memory body: ok %v room %d %q", ok, room, buf[room:])
	}
}

// TestWriterSpoolsLargeNormalised: past the threshold the body is on file
// with CRLF line endings, fields go on top (in the room, and past it in
// memory), every reader reads the whole, and Close leaves no file.
func TestWriterSpoolsLargeNormalised(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	in := "Subject: x\n\n" + strings.Repeat("line\r\nbare lf\nbare cr\r", 50) + ".end\r"
	want := strings.NewReplacer("\r\n", "\r\n", "\n", "\r\n", "\r", "\r\n").Replace(in)
	for _, write := range []string{"ReadFrom", "Write"} {
		w := d.NewWriter(8)
		if write == "ReadFrom" {
			_, err = w.ReadFrom(iotestHalf(strings.NewReader(in)))
		} else {
			for i := 0; i < len(in) && err == nil; i += 7 {
				_, err = w.Write([]byte(in[i:min(i+7, len(in))]))
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if !b.OnFile() {
			t.Fatalf("%s: a body over the threshold stayed in memory", write)
		}
		small, big := []byte("Received: r\r\n"), []byte(strings.Repeat("S", 2*fileRoom)+"\r\n")
		if err := b.Prepend(small); err != nil {
			t.Fatal(err)
		}
		if err := b.Prepend(big); err != nil {
			t.Fatal(err)
		}
		full := string(big) + string(small) + want
		for range 2 {
			got, err := io.ReadAll(b.NewReader())
			if err != nil || string(got) != full {
				t.Fatalf("%s: read %d bytes (%v), want %d:\n%.200q", write, len(got), err, len(full), got)
			}
		}
		if b.Size() != int64(len(full)) {
			t.Errorf("%s: size %d, want %d", write, b.Size(), len(full))
		}
		h, err := b.Header(1 << 20)
		if err != nil || !bytes.HasSuffix(h, []byte("Subject: x\r\n\r\n")) {
			t.Errorf("%s: header %.80q (%v)", write, h, err)
		}
		b.Close()
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: spool files left after Close: %v", write, ents)
		}
	}
}

// iotestHalf reads at most half of what is asked each time, with the
// splits falling between CR and LF.
func iotestHalf(r io.Reader) io.Reader { return &half{r} }

type half struct{ r io.Reader }

func (h *half) Read(p []byte) (int, error) { return h.r.Read(p[:max(1, len(p)/2)]) }
