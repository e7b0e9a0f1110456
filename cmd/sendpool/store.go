package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"sendpool/internal/config"
	"sendpool/internal/store/mongo"
	"sendpool/internal/store/sqlite"
)

// openStore opens the durable queue and account store that store.backend
// names: SQLite under data_dir for one node, MongoDB for many. An
// unreachable MongoDB is an error within its connect timeout (5s), not a
// hang; once open, the driver reconnects by itself, and while the server
// is away Put fails, so intake answers 451 4.3.0 and nothing is lost.
// onFull frees disk space for the embedded store when a write failed for
// lack of it (internal/diskspace's reserve).
func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger, onFull func() bool) (store, error) {
	switch cfg.Store.Backend {
	case "mongodb":
		st, err := mongo.Open(ctx, cfg.Store.MongoDBURI, mongo.Options{Logger: logger,
			BodyCache: int64(cfg.Store.BodyCache)})
		if err != nil {
			return nil, fmt.Errorf("store.mongodb_uri: %w", err)
		}
		return st, nil
	case "sqlite", "":
		if err := os.MkdirAll(cfg.Server.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("server.data_dir: %w", err)
		}
		path := filepath.Join(cfg.Server.DataDir, "queue.db")
		st, err := sqlite.Open(path, sqlite.Options{Logger: logger, OnFull: onFull,
			BodyCache: int64(cfg.Store.BodyCache)})
		if errors.Is(err, sqlite.ErrCorrupt) {
			return nil, corruptStore(path, err) // bounds.go
		}
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("store.backend %q is not available in this build", cfg.Store.Backend)
}
