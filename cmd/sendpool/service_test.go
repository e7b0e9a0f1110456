package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unitFile = "../../etc/sendpool.service"

// TestSystemdUnitVerifies: `systemd-analyze verify` finds nothing to say
// about etc/sendpool.service. It runs offline in a temp root holding the
// system's own units (for the targets ours names) and an executable at
// the ExecStart path, so nothing is installed on the machine.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not installed (Debian package systemd; scripts/services/packages)")
		}
		t.Skip("systemd-analyze not installed: apt-get install systemd")
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var units string
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			units = d
			break
		}
	}
	if units == "" {
		t.Fatal("no /usr/lib/systemd/system to verify against")
	}
	if err := os.CopyFS(filepath.Join(root, "usr/lib/systemd/system"), os.DirFS(units)); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "usr/local/bin/sendpool")
	mkdir(t, filepath.Dir(bin), filepath.Join(root, "etc/systemd/system"))
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/sendpool.service"), unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--root="+root, "sendpool.service").CombinedOutput()
	// verify exits 0 after warnings such as an unknown key: clean means
	// it printed nothing.
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func mkdir(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSystemdUnitHardening: the settings docs/install.md relies on stay in
// the unit, and its ExecStart is a command line serve accepts.
func TestSystemdUnitHardening(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	var execStart string
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = v
		}
	}
	for _, want := range []string{
		"Type=notify", "User=sendpool", "Group=sendpool", "StateDirectory=sendpool",
		"ReadWritePaths=/var/lib/sendpool", "ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true",
		"NoNewPrivileges=true", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "SystemCallFilter=@system-service", "Restart=on-failure",
	} {
		if !lines[want] {
			t.Errorf("unit lacks %s", want)
		}
	}
	args := strings.Fields(execStart)
	if len(args) < 2 || args[0] != "/usr/local/bin/sendpool" || args[1] != "serve" {
		t.Fatalf("ExecStart=%s", execStart)
	}
	// The flags parse: serve with a config that does not exist fails on
	// the file (exit 1), not on its command line (exit 2).
	args[len(args)-1] = filepath.Join(t.TempDir(), "missing.toml")
	var out, errOut strings.Builder
	if code := run(args[1:], nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "missing.toml") {
		t.Errorf("serve %v: exit %d, %s", args[2:], code, errOut.String())
	}
}
