package sqlite

import (
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/account/accounttest"
)

func testAccount(name string) *account.Account { return accounttest.Account(name) }

// TestAccounts runs the account.Store conformance suite.
func TestAccounts(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) account.Store { return openTest(t) })
}
