// Package scantest gives tests the scanning services: the shared clamd and
// rspamd that scripts/test starts (SENDPOOL_TEST_CLAMD, SENDPOOL_TEST_RSPAMD),
// a private clamd a test may stop, and messages that carry the test
// strings. Without a service a test skips, except in CI (CI=true), where it
// fails: a missing service must never pass unnoticed.
package scantest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSignature is a made-up string the test clamd databases call
// "Sendpool-Test-Signature" (scripts/services/clamd writes the same).
const TestSignature = "SENDPOOL-CLAMD-TEST-SIGNATURE-7f3a9c"

// eicar is kept apart from the scan package's constant so that a test
// message is built from an independent copy of the string.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Service returns the value of env (a service's address), or skips the
// test (fails it under CI=true) when it is not set.
func Service(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: run the tests through ./scripts/test", env)
		}
		t.Skipf("%s is not set: run ./scripts/test to start the service", env)
	}
	return v
}

// Clamd is a private clamd process.
type Clamd struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// StartClamd starts a clamd of the test's own on a free loopback port, with
// the same database as scripts/services/clamd, and waits until it answers.
// It is stopped at the end of the test, or earlier with Stop.
func StartClamd(t testing.TB) *Clamd {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/clamd"); serr == nil {
			bin = "/usr/sbin/clamd"
		} else {
			if os.Getenv("CI") == "true" {
				t.Fatal("clamd not installed: scripts/services/clamd installs clamav-daemon")
			}
			t.Skip("clamd not installed: run ./scripts/test")
		}
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	must(t, os.Mkdir(db, 0o755))
	must(t, os.WriteFile(filepath.Join(db, "sendpool.hdb"),
		[]byte("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(db, "sendpool.ndb"), []byte(fmt.Sprintf(
		"Eicar-Test-Signature-Body:0:*:%x\nSendpool-Test-Signature:0:*:%x\n", eicar, TestSignature)), 0o644))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "clamd.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`Foreground yes
TCPSocket %d
TCPAddr 127.0.0.1
DatabaseDirectory %s
LogFile %s
ScanMail yes
StreamMaxLength 64M
SelfCheck 0
`, port, db, filepath.Join(dir, "clamd.log"))), 0o644))
	var out bytes.Buffer
	c := &Clamd{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir}
	c.cmd = exec.Command(bin, "--config-file="+conf)
	c.cmd.Stdout, c.cmd.Stderr = &out, &out
	must(t, c.cmd.Start())
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ping(c.Addr) {
			return c
		}
		if time.Now().After(deadline) {
			c.Stop()
			t.Fatalf("private clamd did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the clamd and waits for it to exit.
func (c *Clamd) Stop() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

func ping(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	conn.Write([]byte("zPING\x00"))
	b := make([]byte, 5)
	n, _ := conn.Read(b)
	return strings.HasPrefix(string(b[:n]), "PONG")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Message is a small, clean RFC 5322 message from from (its domain in
// From, Message-ID and Date all right), with body as its text.
func Message(from, to, subject, body string) []byte {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nMessage-ID: <" + fmt.Sprintf("%d", time.Now().UnixNano()) + "@" + domain + ">\r\n\r\n" + body + "\r\n")
}

// WithAttachment is a multipart/mixed message with a text part and one
// base64 attachment holding data: the raw message never shows data.
func WithAttachment(from, to, subject, filename string, data []byte) []byte {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	b64 := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(b64) > 76 {
		lines, b64 = append(lines, b64[:76]), b64[76:]
	}
	lines = append(lines, b64)
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nMessage-ID: <" + fmt.Sprintf("%d", time.Now().UnixNano()) + "@" + domain + ">" +
		"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n" +
		"--b1\r\nContent-Type: application/octet-stream; name=\"" + filename + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"" + filename + "\"\r\n\r\n" +
		strings.Join(lines, "\r\n") + "\r\n--b1--\r\n")
}

// EICAR returns the EICAR test file (built here, so that this source file
// itself is not what a scanner finds first).
func EICAR() []byte { return []byte(eicar) }

// GTUBE returns the GTUBE test string.
func GTUBE() string {
	return "XJS*C4JDBQADN1.NSBN3*2IDNEN*" + "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
}
