package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// This file loads a config: strict TOML over the defaults, the errors with
// their key paths, and the types durations and sizes are written as.

// Load reads a TOML file over the defaults. Unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(string(data))
}

// Parse reads TOML text over the defaults and validates the result.
func Parse(text string) (*Config, error) {
	c := Default()
	md, err := toml.Decode(text, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{Key: "", Msg: pe.ErrorWithPosition()}}
		}
		return nil, Errors{{Key: "", Msg: err.Error()}}
	}
	var errs Errors
	for _, k := range md.Undecoded() {
		errs = append(errs, KeyError{Key: k.String(), Msg: "unknown key"})
	}
	errs = append(errs, c.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// KeyError is one problem with one key.
type KeyError struct {
	Key string
	Msg string
}

func (e KeyError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Errors are every problem found in a config.
type Errors []KeyError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"90s\" or \"4h\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as "25MB", "512KB" or a plain number.
type Size int64

// UnmarshalText parses a size.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize parses "25MB", "10KB", "1GB" or "1024" (binary multiples).
func ParseSize(text string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(text))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like \"25MB\"", text)
	}
	return n * mult, nil
}
