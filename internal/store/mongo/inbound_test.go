package mongo

import (
	"testing"

	"sendpool/internal/recipient"
	"sendpool/internal/recipient/recipienttest"
)

func TestRecipientStore(t *testing.T) {
	recipienttest.Run(t, func(t *testing.T) recipient.Store { return openTest(t, Options{}) })
}
