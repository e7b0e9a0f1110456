package dkim

import (
	"bytes"
	"net/mail"
	"strings"
)

// field is one header field: its name and its raw value (folding kept).
type field struct {
	name, value string
}

// splitHeader returns msg's header fields and where its body starts.
// A header with no blank line after it is all header.
func splitHeader(msg []byte) ([]field, int) {
	var fields []field
	pos := 0
	for pos < len(msg) {
		end := bytes.IndexByte(msg[pos:], '\n')
		line := msg[pos:]
		next := len(msg)
		if end >= 0 {
			line, next = msg[pos:pos+end+1], pos+end+1
		}
		trimmed := strings.TrimRight(string(line), "\r\n")
		if trimmed == "" {
			return fields, next
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].value += "\r\n" + trimmed // continuation (RFC 5322 §2.2.3)
		} else if name, value, ok := strings.Cut(trimmed, ":"); ok {
			fields = append(fields, field{name: strings.TrimSpace(name), value: value})
		}
		pos = next
	}
	return fields, len(msg)
}

// FromDomain returns the lower-cased domain of the first address of msg's
// From field (RFC 5322 §3.6.2), or "" if there is none that parses.
func FromDomain(msg []byte) string {
	fields, _ := splitHeader(msg)
	return fromDomain(fields)
}

func fromDomain(fields []field) string {
	for _, f := range fields {
		if !strings.EqualFold(f.name, "From") {
			continue
		}
		value := strings.NewReplacer("\r\n", "", "\n", "").Replace(f.value)
		addrs, err := mail.ParseAddressList(value)
		var addr string
		if err == nil && len(addrs) > 0 {
			addr = addrs[0].Address
		} else if i, j := strings.LastIndexByte(value, '<'), strings.LastIndexByte(value, '>'); i >= 0 && j > i {
			addr = value[i+1 : j] // a display name net/mail refuses; the address is plain
		} else {
			addr = strings.TrimSpace(value)
		}
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return ""
		}
		return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(addr[at+1:]), "."))
	}
	return ""
}
