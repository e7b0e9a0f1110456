package smtpreply

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ok     bool
		want   Reply
		status string
	}{
		{"550 5.1.1 No such user", true, Reply{550, "5.1.1", "No such user"}, "5.1.1"},
		{"250 2.0.0 Ok: queued as 1234", true, Reply{250, "2.0.0", "Ok: queued as 1234"}, "2.0.0"},
		{"421 4.7.0 Try again later", true, Reply{421, "4.7.0", "Try again later"}, "4.7.0"},
		{"552 5.2.2 Mailbox full", true, Reply{552, "5.2.2", "Mailbox full"}, "5.2.2"},
		{"550 5.1.10 Null MX", true, Reply{550, "5.1.10", "Null MX"}, "5.1.10"},
		{"550 5.123.456 wide sub-codes", true, Reply{550, "5.123.456", "wide sub-codes"}, "5.123.456"},
		// No enhanced code, or none the receiver meant as one.
		{"554 Transaction failed", true, Reply{554, "", "Transaction failed"}, ""},
		{"550", true, Reply{550, "", ""}, ""},
		{"550 ", true, Reply{550, "", ""}, ""},
		{"550 5.1.1", true, Reply{550, "5.1.1", ""}, "5.1.1"},
		{"550 5.1.1: no", true, Reply{550, "", "5.1.1: no"}, ""},
		{"550 5.1 short", true, Reply{550, "", "5.1 short"}, ""},
		{"550 5.1.1.1 long", true, Reply{550, "", "5.1.1.1 long"}, ""},
		{"550 5.1234.1 wide", true, Reply{550, "", "5.1234.1 wide"}, ""},
		{"550 5..1 empty", true, Reply{550, "", "5..1 empty"}, ""},
		{"550 3.1.1 class", true, Reply{550, "", "3.1.1 class"}, ""},
		{"550 5.+1.1 sign", true, Reply{550, "", "5.+1.1 sign"}, ""},
		{"550 55.1.1 class", true, Reply{550, "", "55.1.1 class"}, ""},
		// Only a space ends the enhanced code: the form is one line, and
		// callers collapse white space first when they want to.
		{"550 5.1.1\tNo", true, Reply{550, "", "5.1.1\tNo"}, ""},
		{"550 5.1.1\r\n550 more", true, Reply{550, "", "5.1.1\r\n550 more"}, ""},
		// The class of the enhanced code contradicts the reply code's:
		// kept as written, but no Status.
		{"550 2.1.5 Recipient ok?", true, Reply{550, "2.1.5", "Recipient ok?"}, ""},
		{"250 5.0.0 odd", true, Reply{250, "5.0.0", "odd"}, ""},
		// A continuation's hyphen, and any run of spaces and hyphens.
		{"550-5.7.1 Blocked", true, Reply{550, "5.7.1", "Blocked"}, "5.7.1"},
		{"550-Blocked", true, Reply{550, "", "Blocked"}, ""},
		{"550 - -5.7.1 Blocked", true, Reply{550, "5.7.1", "Blocked"}, "5.7.1"},
		{"550  5.7.1   Blocked  here", true, Reply{550, "5.7.1", "Blocked  here"}, "5.7.1"},
		{"550 5.7.1 -- x", true, Reply{550, "5.7.1", "-- x"}, "5.7.1"},
		// Codes outside 2yz to 5yz parse; the caller decides.
		{"100 hello", true, Reply{100, "", "hello"}, ""},
		{"354 go ahead", true, Reply{354, "", "go ahead"}, ""},
		{"699 6.0.0 no", true, Reply{699, "", "6.0.0 no"}, ""},
		{"000 5.0.0 zero", true, Reply{0, "5.0.0", "zero"}, ""},
		{"999", true, Reply{999, "", ""}, ""},
		// Not replies: errors, and codes not followed by end, space or hyphen.
		{"", false, Reply{}, ""},
		{"55", false, Reply{}, ""},
		{"5500 x", false, Reply{}, ""},
		{"550\t5.1.1 x", false, Reply{}, ""},
		{"550:x", false, Reply{}, ""},
		{" 550 5.1.1 x", false, Reply{}, ""},
		{"+55 x", false, Reply{}, ""},
		{"-55 x", false, Reply{}, ""},
		{"5a0 x", false, Reply{}, ""},
		{"dial tcp 127.0.0.3:25: connect: connection refused", false, Reply{}, ""},
		{"i/o timeout", false, Reply{}, ""},
		{"٥٥٠ 5.1.1 x", false, Reply{}, ""},
	} {
		got, ok := Parse(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if s := got.Status(); s != tc.status {
			t.Errorf("Parse(%q).Status() = %q, want %q", tc.in, s, tc.status)
		}
	}
}

func TestIsEnhanced(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"2.0.0", true}, {"4.4.7", true}, {"5.1.1", true}, {"5.1.10", true}, {"5.999.999", true}, {"4.00.000", true},
		{"", false}, {"5", false}, {"5.1", false}, {"5.1.", false}, {".1.1", false}, {"5..1", false},
		{"5.1.1.", false}, {"5.1.1.1", false}, {"1.1.1", false}, {"3.1.1", false}, {"6.1.1", false},
		{"0.1.1", false}, {"55.1.1", false}, {"5.1000.1", false}, {"5.1.1000", false},
		{"5.+1.1", false}, {"5.-1.1", false}, {"5.1.+1", false}, {"5.1.a", false}, {"5.1.1 ", false},
		{" 5.1.1", false}, {"5.1,1", false}, {"5.١.1", false},
	} {
		if got := IsEnhanced(tc.in); got != tc.want {
			t.Errorf("IsEnhanced(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
