package mongo

import (
	"testing"

	"sendpool/internal/suppression"
	"sendpool/internal/suppression/suppressiontest"
)

// TestSuppressions runs the suppression.Store conformance suite.
func TestSuppressions(t *testing.T) {
	suppressiontest.Run(t, func(t *testing.T) suppression.Store { return openTest(t, Options{}) })
}
