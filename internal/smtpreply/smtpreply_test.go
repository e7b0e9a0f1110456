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

func TestFinal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want Reply
	}{
		{"550 5.1.1 No such user", true, Reply{550, "5.1.1", "No such user"}},
		{"", false, Reply{}},
		{" \r\n ", false, Reply{}},
		{"connection refused", false, Reply{}},
		{"550", true, Reply{550, "", ""}},
		// Lines as a transcript shows them.
		{"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last", true, Reply{550, "5.7.1", "first second last"}},
		{"550-5.7.1 first\n550 last", true, Reply{550, "5.7.1", "first last"}},
		{"220-mx.example.org ESMTP\r\n421 4.7.0 Too many connections", true, Reply{421, "4.7.0", "mx.example.org ESMTP Too many connections"}},
		{"220-mx.example.org ESMTP\r\n421 Too many connections", true, Reply{421, "", "mx.example.org ESMTP Too many connections"}},
		{"554 oops\nno code here", true, Reply{554, "", "oops no code here"}},
		{"550\t5.1.1\tNo", true, Reply{550, "5.1.1", "No"}},
		// The same reply joined into one line, codes kept.
		{"550-5.7.25 [192.0.2.10] The IP address sending this message does not have a 550-5.7.25 PTR record setup. 550 5.7.25 https://support.google.com/mail/answer/81126",
			true, Reply{550, "5.7.25", "[192.0.2.10] The IP address sending this message does not have a PTR record setup. https://support.google.com/mail/answer/81126"}},
		{"554-gmx.net (mxgmx104) Nemesis ESMTP Service not available 554-No SMTP service 554-Bad DNS PTR resource record. 554 For explanation visit http://postmaster.gmx.com/",
			true, Reply{554, "", "gmx.net (mxgmx104) Nemesis ESMTP Service not available No SMTP service Bad DNS PTR resource record. For explanation visit http://postmaster.gmx.com/"}},
		{"220-laposte 421 4.2.1 Service refuse. LPN006_107", true, Reply{421, "4.2.1", "laposte Service refuse. LPN006_107"}},
		{"220-mx.example.org ESMTP 421 Too many connections", true, Reply{421, "", "mx.example.org ESMTP Too many connections"}},
		// Numbers in the text are not codes.
		{"550-5.7.1 no more than 300-400 messages, 500 per hour 550 5.7.1 end", true, Reply{550, "5.7.1", "no more than 300-400 messages, 500 per hour end"}},
		{"250-mx.example.org Hello 250-SIZE 52428800 250 HELP", true, Reply{250, "", "mx.example.org Hello SIZE 52428800 HELP"}},
		{"421-4.7.0 [192.0.2.10 15] Our system 421 4.7.0 has detected", true, Reply{421, "4.7.0", "[192.0.2.10 15] Our system has detected"}},
		// A first line ending in a space has no more lines: 421 is text.
		{"220 mx.example.org ESMTP 421 4.7.0 odd", true, Reply{220, "", "mx.example.org ESMTP 421 4.7.0 odd"}},
		// A code of another class than its enhanced code is text.
		{"220-hi 421 5.7.1 x", true, Reply{421, "", "hi 5.7.1 x"}},
	} {
		got, ok := Final(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Final(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
