package dkim

import (
	"crypto"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// msgauthSign is how messages were signed before our signer: go-msgauth,
// one pass over the message per key. The benchmarks compare against it.
func msgauthSign(msg []byte, d string, keys []SigningKey) ([]byte, error) {
	fields, _ := splitHeader(msg)
	names, _ := signedHeader(fields)
	var sigs strings.Builder
	for _, k := range keys {
		s, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain: d, Selector: k.Selector, Signer: k.Signer, Hash: crypto.SHA256,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             names,
		})
		if err != nil {
			return nil, err
		}
		s.Write(msg)
		if err := s.Close(); err != nil {
			return nil, err
		}
		sigs.WriteString(s.Signature())
	}
	return append([]byte(sigs.String()), msg...), nil
}

// benchMessage is testMessage with its body grown to about size bytes of
// 76-character lines, as a text part is.
func benchMessage(size int) []byte {
	var b strings.Builder
	b.WriteString(testMessage)
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod te\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// BenchmarkSign: our signer against go-msgauth, per key set and message
// size. RSA-2048 dominates; the body pass shows in ed25519 at 10KB.
func BenchmarkSign(b *testing.B) {
	r := &txtMap{}
	both := testKeys(b, "shop.test", r)
	sets := []struct {
		name string
		keys []SigningKey
	}{{"rsa+ed25519", both}, {"rsa", both[:1]}, {"ed25519", both[1:]}}
	impls := []struct {
		name string
		sign func([]byte, string, []SigningKey) ([]byte, error)
	}{{"ours", Sign}, {"msgauth", msgauthSign}}
	for _, size := range []int{1 << 10, 10 << 10, 100 << 10} {
		msg := benchMessage(size)
		for _, set := range sets {
			for _, impl := range impls {
				b.Run(impl.name+"/"+set.name+"/"+sizeName(size), func(b *testing.B) {
					b.SetBytes(int64(len(msg)))
					for b.Loop() {
						if _, err := impl.sign(msg, "shop.test", set.keys); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkBodyHash is the body pass alone.
func BenchmarkBodyHash(b *testing.B) {
	msg := benchMessage(100 << 10)
	_, body := splitHeader(msg)
	b.SetBytes(int64(len(msg) - body))
	for b.Loop() {
		h := newBodyHash()
		h.Write(msg[body:])
		h.Sum()
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strings.TrimSuffix(time.Duration(n>>10).String(), "ns") + "KB"
	}
	return time.Duration(n).String()
}

// BenchmarkManagerSignParallel signs from many goroutines through the
// Manager, as SMTP sessions do: nothing in it may serialise the RSA work,
// so ns/op should fall with GOMAXPROCS (compare -cpu 1,2).
func BenchmarkManagerSignParallel(b *testing.B) {
	e := newManagerEnv(b)
	if _, err := e.m.Add(b.Context(), "shop.test", "shop"); err != nil {
		b.Fatal(err)
	}
	msg := benchMessage(10 << 10)
	b.SetBytes(int64(len(msg)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := e.m.Sign(b.Context(), "shop", msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
