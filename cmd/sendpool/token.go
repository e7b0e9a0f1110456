package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"sendpool/internal/config"
)

// tokenFile is where a node keeps the admin token it generated, under
// server.data_dir.
const tokenFile = "admin_token"

// adminToken returns the admin token: http.admin_token, or the one in
// data_dir/admin_token, made (32 random bytes, mode 0600) at the first
// start. The API and the panel never run without one. The log says where
// the file is, never the token.
func adminToken(cfg *config.Config, logger *slog.Logger) (string, error) {
	if cfg.HTTP.AdminToken != "" {
		return cfg.HTTP.AdminToken, nil
	}
	path := filepath.Join(cfg.Server.DataDir, tokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				logger.Warn("admin token file is readable by others: chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
			}
			return tok, nil
		}
		return "", fmt.Errorf("http.admin_token: %s is empty: delete it to have a new token made, or set http.admin_token", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	tok := base64.RawURLEncoding.EncodeToString(b)
	// Written whole or not at all: a half-written token would lock the
	// admin out at the next start.
	tmp, err := os.CreateTemp(cfg.Server.DataDir, ".admin_token-*")
	if err != nil {
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	// Link, not rename: two nodes starting at once on one data_dir keep
	// the first one's token rather than each its own.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return adminToken(cfg, logger)
		}
		return "", fmt.Errorf("http.admin_token: %w", err)
	}
	logger.Info("admin token generated: the API and the panel need it", "file", path)
	return tok, nil
}
