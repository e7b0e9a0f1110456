package memory

import (
	"testing"

	"sendpool/internal/state"
	"sendpool/internal/state/statetest"
)

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.State { return New(nil) })
}
