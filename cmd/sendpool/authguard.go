package main

import (
	"log/slog"

	"sendpool/internal/account"
	"sendpool/internal/authguard"
	"sendpool/internal/config"
	"sendpool/internal/metrics"
	"sendpool/internal/state"
)

// newAuthGuard is the password-guessing throttle of [auth], shared by SMTP
// AUTH, POST /api/v1/send, the API token and the panel's login, and by
// every node through the state.
func newAuthGuard(cfg *config.Config, shared state.State, accounts account.Store, m *metrics.Metrics, logger *slog.Logger) *authguard.Guard {
	return authguard.New(authguard.Config{
		State:              shared,
		Accounts:           accounts,
		MaxFailures:        cfg.Auth.MaxFailures,
		MaxAccountFailures: cfg.Auth.MaxAccountFailures,
		Window:             cfg.Auth.Window.D(),
		Exempt:             cfg.Auth.ExemptPrefixes(),
		Logger:             logger,
		OnLockout:          m.AuthLockout,
		TrustedFor:         cfg.Auth.TrustedFor.D(),
	})
}
