package mongo

import (
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/account/accounttest"
)

// TestAccounts runs the account.Store conformance suite.
func TestAccounts(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) account.Store { return openTest(t, Options{}) })
}
