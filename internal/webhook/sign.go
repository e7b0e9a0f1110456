package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Signing per the Standard Webhooks specification (standardwebhooks.com,
// "Signature scheme"): the secret is "whsec_" + base64 of the key; each
// request carries
//
//	webhook-id:        the event's id
//	webhook-timestamp: the time of sending, Unix seconds
//	webhook-signature: v1,BASE64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// with one space-separated v1 entry per key in force: during a rotation's
// grace both the new and the old secret sign, so a receiver verifies with
// either while it is being updated.

// secretPrefix starts every secret, as the specification's examples do, so
// that one is recognisable in a config file or a leak scanner.
const secretPrefix = "whsec_"

// keySize is the key's length: 32 bytes, SHA-256's block of output, and
// inside the 24–64 bytes the specification asks for.
const keySize = 32

// NewSecret returns a new secret from crypto/rand.
func NewSecret() (string, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Key returns the HMAC key of a secret: the bytes its base64 stands for.
func Key(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("webhook: secret does not start with " + secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook: secret is not base64")
	}
	return key, nil
}

// Header names of a signed request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the webhook-signature value for a request of event id sent
// at ts with body: one "v1,…" entry per secret in force at now (the
// current one, and one a rotation replaced until it expires), in the order
// given. A secret that cannot be decoded is skipped.
func Sign(secrets []Secret, now time.Time, id string, ts int64, body []byte) string {
	var sigs []string
	for _, s := range secrets {
		if !s.Expires.IsZero() && !now.Before(s.Expires) {
			continue
		}
		key, err := Key(s.Value)
		if err != nil {
			continue
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(ts, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// Rotate returns an endpoint's secrets after a rotation at now: a new
// current secret, and the one it replaces signing beside it until
// now+grace. Secrets already expired, and an older replaced one, go: two
// at most sign at once.
func Rotate(secrets []Secret, now time.Time, grace time.Duration) ([]Secret, string, error) {
	fresh, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	out := []Secret{{Value: fresh}}
	for _, s := range secrets {
		if s.Expires.IsZero() && grace > 0 {
			out = append(out, Secret{Value: s.Value, Expires: now.Add(grace)})
			break
		}
	}
	return out, fresh, nil
}
